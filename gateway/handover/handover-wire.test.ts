import { it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeHandoverLine, encodeHandoverLine, handoverOf } from './handover-wire.ts';
import type { StoredMessage } from '../spool/spool-types.ts';

const msg: StoredMessage = {
  id: 'Q1', commitSegment: 1, chunks: [],
  envelope: {
    id: 'Q1', receivedAt: '2026-12-01T10:00:00.000Z', sessionId: 's', client: { address: '10.0.0.1', port: 1, helo: 'h', tls: false },
    mailFrom: 'a@x.test', mailParams: { ret: 'HDRS', envid: 'e1' }, size: 10, crc: 1,
    rcptTo: [
      { address: 'done@corp.test', domain: 'corp.test', route: 'local' },
      { address: 'later@corp.test', domain: 'corp.test', route: 'local', dsn: { notify: ['FAILURE'] } },
      { address: 'gone@corp.test', domain: 'corp.test', route: 'local' },
    ],
  },
  state: {
    attempts: 3, nextAttemptAt: 0, held: true,
    rcpts: [{ status: 'delivered' }, { status: 'deferred', statusCode: '4.4.1', diagnostic: 'down' }, { status: 'failed', statusCode: '5.1.1' }],
  },
};

it('carries only the recipients still to deliver, with their state, the arrival time and the held flag', () => {
  const h = handoverOf(msg)!;
  assert.deepEqual(h.envelope.rcptTo.map((r) => r.address), ['later@corp.test']);
  assert.deepEqual(h.state.rcpts, [{ status: 'deferred', statusCode: '4.4.1', diagnostic: 'down' }]);
  assert.equal(h.state.held, true);
  assert.equal(h.state.attempts, 3);
  assert.equal(h.envelope.receivedAt, msg.envelope.receivedAt);
  assert.equal('size' in h.envelope || 'crc' in h.envelope, false, 'size and CRC are the receiver\'s to compute');
  const line = encodeHandoverLine(h).toString('latin1');
  assert.match(line, /^X-Mailgw-Handover: [A-Za-z0-9_-]+\r\n$/);
  assert.deepEqual(decodeHandoverLine(line.trimEnd()), h);
});

it('has nothing to hand over when every recipient is done', () => {
  assert.equal(handoverOf({ ...msg, state: { ...msg.state!, rcpts: [{ status: 'delivered' }, { status: 'failed' }, { status: 'delivered' }] } }), undefined);
});

it('refuses a line that is not a handover of a queued message, saying why', () => {
  assert.throws(() => decodeHandoverLine('Subject: hello'), /does not start with X-Mailgw-Handover/);
  assert.throws(() => decodeHandoverLine('X-Mailgw-Handover: %%%'), /not base64url JSON|does not describe/);
  const bad = (o: unknown) => `X-Mailgw-Handover: ${Buffer.from(JSON.stringify(o)).toString('base64url')}`;
  const h = handoverOf(msg)!;
  assert.throws(() => decodeHandoverLine(bad({ ...h, v: 2 })), /version 1/);
  assert.throws(() => decodeHandoverLine(bad({ ...h, state: { ...h.state, rcpts: [] } })), /does not describe/);
  assert.throws(() => decodeHandoverLine(bad({ ...h, envelope: { ...h.envelope, receivedAt: 'yesterday' } })), /does not describe/);
});
