/**
 * Next-hop outage: the internal server (LocalDomain routing) and the edge
 * gateway (relayHost) are both down — nothing listens on their ports — while
 * mail arrives in both directions; then they come back on the same ports.
 * Nothing is lost, everything is delivered once they are back, and no bounce
 * is sent while the queue lifetime has not run out. A second gateway with a
 * short lifetime shows the bounce comes only after the lifetime.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { buildConfig, startGateway } from '../helpers/config.ts';
import { closedPort } from '../helpers/ports.ts';
import { startSink } from '../helpers/sink.ts';
import { submit } from '../helpers/submit.ts';
import { eventually } from '../helpers/wait.ts';
import { pick, record } from './mode.ts';

const OUTAGE_MS = pick(4_000, 60_000);
const INBOUND = pick(20, 200);
const OUTBOUND = pick(20, 200);

/** Runs task(0..n-1) with at most `width` at a time; results in order. */
async function pooled<T>(n: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(n);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await task(i);
    }
  }));
  return out;
}

function spec(internalPort: number, edgePort: number, lifetime: string) {
  return buildConfig({
    spec: {
      integration: 'BehindEdgeGateway', relayHost: { host: '127.0.0.1', port: edgePort }, tls: { outbound: { mode: 'None' } },
      queue: { lifetime, minBackoff: '1s', maxBackoff: '2s' },
    },
    domains: [{ domain: 'example.com', routing: { host: '127.0.0.1', port: internalPort } }], networks: ['127.0.0.1/32'],
  });
}

it(`holds mail through a ${OUTAGE_MS / 1000} s outage of both next hops and delivers it after, without bouncing`, { timeout: 600_000 }, async () => {
  const internalPort = await closedPort();
  const edgePort = await closedPort();
  const gw = await startGateway(spec(internalPort, edgePort, '1h'), undefined, '127.0.0.1', { deliver: true });
  try {
    // A few sessions at a time per source: the per-client connection limit would refuse more.
    const inbound = await pooled(INBOUND, 5, (i) => submit(gw.port, { from: `partner${i}@origin.test`, to: `user${i}@example.com`, subject: `in ${i}`, source: '127.0.0.2' }));
    const outbound = await pooled(OUTBOUND, 5, (i) => submit(gw.port, { from: `user${i}@example.com`, to: `partner${i}@elsewhere.test`, subject: `out ${i}`, source: '127.0.0.1' }));
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    const deferrals = gw.log.lines.filter((l) => l.event === 'delivery' && l.status === 'deferred').length;
    assert.ok(deferrals >= INBOUND + OUTBOUND, `every message was tried and deferred during the outage (${deferrals})`);
    assert.equal(gw.gateway.runtime.spool.size, INBOUND + OUTBOUND, 'everything is still queued');

    const internal = await startSink({ port: internalPort });
    const edge = await startSink({ port: edgePort });
    try {
      await internal.waitFor(INBOUND, 60_000);
      await edge.waitFor(OUTBOUND, 60_000);
      await eventually('the queue drains', () => gw.gateway.runtime.spool.size === 0, 30_000);
      const bounces = gw.log.lines.filter((l) => l.event === 'bounce').length;
      const inIds = new Set(internal.messages.map((m) => m.to[0]));
      const outIds = new Set(edge.messages.map((m) => m.to[0]));
      record('next-hop-outage', { outageMs: OUTAGE_MS, inbound: INBOUND, outbound: OUTBOUND, deferrals, deliveredInbound: inIds.size, deliveredOutbound: outIds.size, lost: INBOUND + OUTBOUND - inIds.size - outIds.size, bounces });
      assert.equal(inIds.size, INBOUND, 'every inbound message reached the internal server');
      assert.equal(outIds.size, OUTBOUND, 'every outbound message reached the edge gateway');
      assert.equal(bounces, 0, 'no bounce within the lifetime');
      assert.equal(inbound.length + outbound.length, INBOUND + OUTBOUND);
    } finally {
      await internal.close();
      await edge.close();
    }
  } finally {
    await gw.close();
  }
});

it('bounces only after the queue lifetime runs out', { timeout: 120_000 }, async () => {
  const internalPort = await closedPort();
  const edge = await startSink();
  const gw = await startGateway(spec(internalPort, edge.port, '4s'), undefined, '127.0.0.1', { deliver: true });
  try {
    const qid = await submit(gw.port, { from: 'partner@origin.test', to: 'user@example.com', subject: 'will bounce', source: '127.0.0.2' });
    const received = Date.parse(gw.gateway.runtime.spool.get(qid)!.envelope.receivedAt);
    await edge.waitFor(1, 30_000);
    const bouncedAt = Date.now();
    const dsn = await simpleParser(edge.messages[0]!.raw);
    record('next-hop-outage-lifetime', { lifetimeMs: 4000, bounceAfterMs: bouncedAt - received });
    assert.ok(bouncedAt - received >= 4000, `the bounce came ${bouncedAt - received} ms after arrival, not before the 4 s lifetime`);
    assert.deepEqual(edge.messages[0]!.to, ['partner@origin.test']);
    assert.equal(edge.messages[0]!.from, '');
    assert.match(dsn.text ?? '', /user@example\.com/);
  } finally {
    await gw.close();
    await edge.close();
  }
});
