import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildDsn, FULL_RETURN_LIMIT } from './dsn-build.ts';
import type { Envelope } from '../spool/spool-types.ts';

function message(bodyBytes: number): Buffer {
  return Buffer.concat([
    Buffer.from('Received: from x\r\nSubject: big one\r\nFrom: forged@victim.test\r\n\r\n'),
    Buffer.alloc(bodyBytes, 'a'),
    Buffer.from('\r\n'),
  ]);
}

function dsn(original: Buffer, ret?: string): string {
  const envelope: Envelope = {
    id: 'Q1', receivedAt: new Date(0).toISOString(), sessionId: 's', client: { address: '192.0.2.1', port: 1, helo: 'h', tls: false },
    mailFrom: 'forged@victim.test', mailParams: ret ? { ret } : {}, rcptTo: [{ address: 'x@corp.test', domain: 'corp.test', route: 'local' }],
    size: original.length, crc: 0,
  };
  return buildDsn({
    hostname: 'mx.gateway.test', qid: 'Q1', envelope, original, now: new Date(0), expired: false,
    failed: [{ address: 'x@corp.test', state: { status: 'failed', statusCode: '5.1.1', diagnostic: 'unknown user' } }],
  }).toString('latin1');
}

describe('buildDsn', () => {
  it('returns only the headers of a message over the limit, even with RET=FULL (no reflected payloads)', () => {
    const out = dsn(message(2_000_000), 'FULL');
    assert.ok(out.length < 5000, `DSN of a 2 MB message is ${out.length} bytes`);
    assert.match(out, /Content-Type: text\/rfc822-headers/);
    assert.match(out, /Subject: big one/);
    assert.doesNotMatch(out, /aaaaaaaaaa/);
  });

  it('returns a small message whole with RET=FULL or no RET, and only headers with RET=HDRS', () => {
    const small = message(FULL_RETURN_LIMIT / 2);
    for (const ret of ['FULL', undefined]) {
      const out = dsn(small, ret);
      assert.match(out, /Content-Type: message\/rfc822/);
      assert.ok(out.includes('a'.repeat(FULL_RETURN_LIMIT / 2)));
    }
    const hdrs = dsn(small, 'HDRS');
    assert.match(hdrs, /text\/rfc822-headers/);
    assert.doesNotMatch(hdrs, /aaaaaaaaaa/);
  });
});
