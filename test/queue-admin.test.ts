/**
 * `mailgw queue` against a running gateway, the way an admin uses it:
 * list → hold → (flush does not touch it) → release → delivered; delete
 * removes without a DSN.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig, startGateway } from './helpers/config.ts';
import { startSink, refuse } from './helpers/sink.ts';
import { submit } from './helpers/submit.ts';
import { queueCli } from './helpers/mailgw-process.ts';

const queue = queueCli;

it('list, hold, flush, release and delete round trip', async () => {
  let down = true;
  const internal = await startSink({ rcpt: () => (down ? refuse(421, '4.3.2 Service not available') : null) });
  const edge = await startSink();
  const gw = await startGateway(buildConfig({
    spec: {
      integration: 'BehindEdgeGateway', relayHost: { host: '127.0.0.1', port: edge.port },
      queue: { minBackoff: '1h', maxBackoff: '2h' }, tls: { outbound: { mode: 'None' } },
    },
    domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: internal.port } }],
  }), undefined, '127.0.0.1', { deliver: true });
  try {
    const keep = await submit(gw.port, { from: 'a@external.test', to: 'alice@corp.test', source: '127.0.0.2' });
    const drop = await submit(gw.port, { from: 'b@external.test', to: 'bob@corp.test', source: '127.0.0.2' });
    for (let i = 0; i < 200 && !(gw.gateway.runtime.spool.get(keep)?.state && gw.gateway.runtime.spool.get(drop)?.state); i++) await new Promise((r) => setTimeout(r, 25));

    const list = await queue(gw.stateDir, 'list');
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^${keep} +\\d+ \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  a@external\\.test$`, 'm'));
    assert.match(list.stdout, /421 4\.3\.2 Service not available/);
    assert.match(list.stdout, /^ +alice@corp\.test$/m);
    assert.match(list.stdout, /-- \d+ Kbytes in 2 Requests\./);
    const json = JSON.parse((await queue(gw.stateDir, 'list', '--output', 'json')).stdout) as { id: string; attempts: number; recipients: { status: string }[] }[];
    assert.deepEqual(json.map((e) => e.id).sort(), [keep, drop].sort());
    assert.ok(json.every((e) => e.attempts === 1 && e.recipients[0]!.status === 'deferred'));

    assert.equal((await queue(gw.stateDir, 'hold', keep)).status, 0);
    assert.match((await queue(gw.stateDir, 'list')).stdout, new RegExp(`^${keep}!`, 'm'), 'held messages are marked with !');
    down = false;
    assert.equal((await queue(gw.stateDir, 'flush')).status, 0);
    await internal.waitFor(1);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(internal.messages.map((m) => m.to[0]), ['bob@corp.test'], 'flush delivered the other one; the held one stayed');
    assert.ok(gw.gateway.runtime.spool.get(keep));

    assert.equal((await queue(gw.stateDir, 'release', keep)).status, 0);
    await internal.waitFor(2);
    assert.equal(internal.messages[1]!.to[0], 'alice@corp.test');

    down = true;
    const third = await submit(gw.port, { from: 'c@external.test', to: 'carol@corp.test', source: '127.0.0.2' });
    for (let i = 0; i < 200 && !gw.gateway.runtime.spool.get(third)?.state; i++) await new Promise((r) => setTimeout(r, 25));
    const del = await queue(gw.stateDir, 'delete', third);
    assert.equal(del.status, 0, del.stderr);
    assert.equal(del.stdout.trim(), `${third}: deleted`);
    assert.equal(gw.gateway.runtime.spool.get(third), undefined);
    assert.equal((await queue(gw.stateDir, 'list')).stdout, 'Mail queue is empty\n');
    assert.equal(edge.messages.length, 0, 'delete sends no DSN');
    const missingId = await queue(gw.stateDir, 'hold', third);
    assert.equal(missingId.status, 1);
    assert.match(missingId.stderr, /no message/);
  } finally {
    await gw.close();
    await internal.close();
    await edge.close();
  }
});

it('explains a missing admin socket', async () => {
  const r = await queue('/nonexistent-state-dir', 'list');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /cannot reach the gateway's admin socket \/nonexistent-state-dir\/admin\.sock/);
});
