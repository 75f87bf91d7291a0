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

describe('buildDsn golden', () => {
  it('a failed recipient with ENVID and ORCPT, as written byte for byte (test/golden/dsn-failed.eml; UPDATE_GOLDEN=1 rewrites it) and valid multipart/report', async () => {
    const original = Buffer.from('From: alice@origin.test\r\nTo: bob@corp.test\r\nSubject: hello\r\nMessage-ID: <m1@origin.test>\r\n\r\nHello Bob.\r\n');
    const envelope: Envelope = {
      id: 'Q2', receivedAt: new Date(Date.UTC(2026, 11, 1, 9, 0, 0)).toISOString(), sessionId: 's', client: { address: '192.0.2.1', port: 1, helo: 'mx.origin.test', tls: false },
      mailFrom: 'alice@origin.test', mailParams: { ret: 'FULL', envid: 'env-42' },
      rcptTo: [{ address: 'bob@corp.test', domain: 'corp.test', route: 'local', dsn: { notify: ['FAILURE'], orcpt: 'rfc822;bob@corp.test' } }],
      size: original.length, crc: 0,
    };
    const bytes = buildDsn({
      hostname: 'mx.gateway.test', qid: 'Q2', envelope, original, now: new Date(Date.UTC(2026, 11, 2, 9, 0, 0)), expired: false, nonce: '0123456789ab',
      failed: [{ address: 'bob@corp.test', orcpt: 'rfc822;bob@corp.test', state: { status: 'failed', statusCode: '5.1.1', diagnostic: '550 5.1.1 <bob@corp.test>: unknown user' } }],
    });
    const { readFileSync, writeFileSync } = await import('node:fs');
    const golden = new URL('../../test/golden/dsn-failed.eml', import.meta.url);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, bytes);
    assert.equal(bytes.toString('latin1'), readFileSync(golden, 'latin1'));
    const { simpleParser } = await import('mailparser');
    const parsed = await simpleParser(bytes);
    assert.match(String(parsed.headers.get('content-type') && (parsed.headers.get('content-type') as { value: string }).value), /multipart\/report/);
    assert.equal(parsed.to && 'text' in parsed.to ? parsed.to.text : '', 'alice@origin.test');
    assert.match(bytes.toString('latin1'), /Original-Envelope-Id: env-42\r\n/);
    assert.match(bytes.toString('latin1'), /Original-Recipient: rfc822; bob@corp\.test\r\n/);
  });
});
