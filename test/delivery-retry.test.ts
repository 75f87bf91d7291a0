/**
 * Retries and their limits: a next hop that answers 4xx then recovers gets
 * the message exactly once; queue lifetime expiry bounces with the last 4xx
 * text; outbound TLS Require never sends in clear to a peer without STARTTLS.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { buildConfig, startGateway } from './helpers/config.ts';
import { startSink, refuse } from './helpers/sink.ts';
import { submit } from './helpers/submit.ts';
import { eventually } from './helpers/wait.ts';
import { makePki } from './helpers/certs.ts';

const until = eventually;

const spec = (internalPort: number, edgePort: number, queue: Record<string, string>, tls = 'None') => ({
  spec: {
    integration: 'BehindEdgeGatewayNoRecipientVerification',
    relayHost: { host: '127.0.0.1', port: edgePort },
    queue: { minBackoff: '200ms', maxBackoff: '400ms', ...queue },
    tls: { outbound: { mode: tls } },
  },
  domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: internalPort } }],
  networks: ['127.0.0.1/32'],
});

describe('retries', () => {
  it('defers on 4xx with backoff and delivers exactly once when the next hop recovers', async () => {
    const internal = await startSink({ rcpt: (_a, attempt) => (attempt <= 2 ? refuse(451, '4.3.0 Temporary local problem, try again') : null) });
    const edge = await startSink();
    const gw = await startGateway(buildConfig(spec(internal.port, edge.port, { lifetime: '1h' })), undefined, '127.0.0.1', { deliver: true });
    try {
      const qid = await submit(gw.port, { from: 'a@external.test', to: 'alice@corp.test', source: '127.0.0.2' });
      await until('deferred state', () => gw.gateway.runtime.spool.get(qid)?.state?.rcpts[0]?.status === 'deferred');
      const deferred = gw.gateway.runtime.spool.get(qid)!.state!;
      assert.match(deferred.rcpts[0]!.diagnostic!, /451 4\.3\.0 Temporary local problem/);
      assert.ok(deferred.nextAttemptAt > Date.now() - 50, 'next attempt is in the future');
      await internal.waitFor(1);
      await until('removed', () => !gw.gateway.runtime.spool.get(qid));
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(internal.messages.length, 1, 'delivered exactly once');
      assert.equal(internal.rcptAttempts.get('alice@corp.test'), 3);
      assert.equal(edge.messages.length, 0, 'no DSN');
      const attempts = gw.log.lines.filter((l) => l.event === 'delivery' && l.qid === qid).map((l) => l.status);
      assert.deepEqual(attempts, ['deferred', 'deferred', 'delivered']);
    } finally {
      await gw.close();
      await internal.close();
      await edge.close();
    }
  });

  it('bounces after the queue lifetime with the last 4xx text', async () => {
    const internal = await startSink({ rcpt: () => refuse(452, '4.2.2 Mailbox full, come back later') });
    const edge = await startSink();
    const gw = await startGateway(buildConfig(spec(internal.port, edge.port, { lifetime: '1s' })), undefined, '127.0.0.1', { deliver: true });
    try {
      const qid = await submit(gw.port, { from: 'sender@external.test', to: 'full@corp.test', source: '127.0.0.2' });
      const [dsn] = await edge.waitFor(1, 10_000);
      assert.equal(dsn!.from, '');
      assert.deepEqual(dsn!.to, ['sender@external.test']);
      const parsed = await simpleParser(dsn!.raw, { keepDeliveryStatus: true });
      const report = parsed.attachments.find((a) => a.contentType === 'message/delivery-status')!.content.toString();
      assert.match(report, /^Final-Recipient: rfc822; full@corp\.test$/m);
      assert.match(report, /^Action: failed$/m);
      assert.match(report, /^Status: 4\.2\.2$/m);
      assert.match(report, /^Diagnostic-Code: smtp; delivery time expired; last error: .*452 4\.2\.2 Mailbox full, come back later/m);
      assert.match(parsed.text ?? '', /queue lifetime ran out/);
      await until('removed', () => !gw.gateway.runtime.spool.get(qid));
      assert.ok((internal.rcptAttempts.get('full@corp.test') ?? 0) >= 2, 'it was retried before expiring');
    } finally {
      await gw.close();
      await internal.close();
      await edge.close();
    }
  });

  it('drops a bounce (null sender) that cannot be delivered after the bounce lifetime, sending no DSN', async () => {
    const internal = await startSink({ rcpt: () => refuse(452, '4.2.2 Mailbox full') });
    const edge = await startSink();
    const gw = await startGateway(buildConfig(spec(internal.port, edge.port, { lifetime: '1h', bounceLifetime: '1s' })), undefined, '127.0.0.1', { deliver: true });
    try {
      const qid = await submit(gw.port, { from: '', to: 'full@corp.test', source: '127.0.0.2' });
      await until('dropped', () => !gw.gateway.runtime.spool.get(qid), 10_000);
      assert.ok(gw.log.find((l) => l.event === 'delivery' && l.qid === qid && l.status === 'failed' && /delivery time expired/.test(String(l.reply))));
      assert.equal(edge.messages.length, 0, 'never a bounce to <>');
    } finally {
      await gw.close();
      await internal.close();
      await edge.close();
    }
  });

  it('TLS Require: a next hop without STARTTLS gets nothing and the message stays deferred', async () => {
    const internal = await startSink();
    const edge = await startSink();
    const gw = await startGateway(buildConfig(spec(internal.port, edge.port, { lifetime: '1h' }, 'Require')), undefined, '127.0.0.1', { deliver: true });
    try {
      const qid = await submit(gw.port, { from: 'a@external.test', to: 'alice@corp.test', source: '127.0.0.2' });
      const state = await until('deferred', () => gw.gateway.runtime.spool.get(qid)?.state);
      assert.equal(state.rcpts[0]!.status, 'deferred');
      assert.equal(state.rcpts[0]!.statusCode, '4.7.5');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(internal.messages.length, 0, 'nothing sent in clear');
      assert.equal(internal.rcptAttempts.size, 0, 'not even an envelope');
      assert.ok(gw.gateway.runtime.spool.get(qid), 'still queued');
    } finally {
      await gw.close();
      await internal.close();
      await edge.close();
    }
  });

  for (const mode of ['Attempt', 'Require'] as const) {
    it(`TLS ${mode}: a next hop with STARTTLS gets the message over TLS`, async () => {
      const pki = makePki();
      const internal = await startSink({ tls: { key: pki.serverKey, cert: pki.serverCert } });
      const edge = await startSink();
      const gw = await startGateway(buildConfig(spec(internal.port, edge.port, { lifetime: '1h' }, mode)), undefined, '127.0.0.1', { deliver: true });
      try {
        await submit(gw.port, { from: 'a@external.test', to: 'alice@corp.test', source: '127.0.0.2' });
        const [m] = await internal.waitFor(1);
        assert.equal(m!.secure, true);
      } finally {
        await gw.close();
        await internal.close();
        await edge.close();
      }
    });
  }
});
