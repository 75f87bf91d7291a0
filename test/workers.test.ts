/**
 * A gateway pod with several worker processes (`mailgw gateway --workers N`,
 * gateway/workers/): one SMTP port shared by the workers (SO_REUSEPORT), each
 * worker with its own spool; the supervisor speaks for the pod and restarts
 * a worker that dies; a spool no worker owns any more is drained into the
 * running ones, nothing delivered twice.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildConfig, tempDir } from './helpers/config.ts';
import { queueCli, queueEntries, startMailgw, type MailgwProcess } from './helpers/mailgw-process.ts';
import { refuse, startSink } from './helpers/sink.ts';
import { submit } from './helpers/submit.ts';
import { eventually } from './helpers/wait.ts';
import { workerStateDir } from '../gateway/workers/worker-layout.ts';

interface QueueEntry { id: string; attempts: number }

const queueOf = (stateDir: string) => queueEntries<QueueEntry>(stateDir);

/** Which worker took each accepted message (its `message` line). */
const takenBy = (gw: MailgwProcess) => new Map(gw.lines.filter((l) => l.event === 'message' && l.code === 250).map((l) => [l.qid as string, l.worker as number]));

async function stop(gw: MailgwProcess): Promise<number | null> {
  gw.proc.kill('SIGTERM');
  return gw.exited;
}

const subjectsOf = (raws: { raw: Buffer }[]) => raws.map((m) => /^Subject: (.*)\r$/m.exec(m.raw.toString('latin1'))?.[1] ?? '?');

describe('a pod with several worker processes', () => {
  it('the workers share the SMTP port; the pod answers as one: queue, metrics, readiness; a dead worker is restarted on its spool', { timeout: 90_000 }, async () => {
    const internal = await startSink({ rcpt: (address) => (address.startsWith('held') ? refuse(451, '4.3.0 try later') : null) });
    const dir = tempDir('mailgw-workers-');
    const configFile = join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify(buildConfig({
      spec: { integration: 'BehindEdgeGateway', queue: { minBackoff: '1h', maxBackoff: '1h' } },
      domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: internal.port } }], networks: ['127.0.0.1/32'],
    })));
    const state = join(dir, 'state');
    const gw = await startMailgw(['gateway', '--config', configFile, '--listen', '127.0.0.1:0', '--state-dir', state, '--workers', '2', '--metrics-address', '127.0.0.1:0']);
    try {
      const metricsPort = (await gw.waitFor('metrics-listening')).port as number;
      const scrape = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      // Each submission is a connection of its own: the kernel spreads them over both workers.
      for (let i = 0; i < 20; i++) await submit(gw.port, { from: 'a@partner.test', to: 'user@corp.test', subject: `spread ${i}` });
      const held: string[] = [];
      for (let i = 0; i < 12; i++) held.push(await submit(gw.port, { from: 'a@partner.test', to: 'held@corp.test', subject: `held ${i}` }));
      const by = takenBy(gw);
      assert.deepEqual(new Set(by.values()), new Set([0, 1]), 'both workers took mail');
      await internal.waitFor(20, 20_000);
      assert.deepEqual(subjectsOf(internal.messages).sort(), Array.from({ length: 20 }, (_, i) => `spread ${i}`).sort(), 'each delivered once');

      // The admin socket of the pod: both workers' queues in one list; an action finds the worker that holds the message.
      await eventually('the deferred messages, from both workers, in one queue', async () => (await queueOf(state)).filter((m) => m.attempts >= 1).length === 12, 20_000, 200);
      assert.deepEqual(new Set((await queueOf(state)).map((m) => m.id)), new Set(held));
      const onWorker1 = held.find((q) => by.get(q) === 1)!;
      assert.equal((await queueCli(state, 'delete', onWorker1)).status, 0);
      assert.equal((await queueOf(state)).length, 11);
      const deleted = gw.lines.find((l) => l.event === 'admin' && l.qid === onWorker1);
      assert.equal(deleted?.worker, 1, 'the worker that held it acted, and logged it');

      // /metrics adds the workers up; /readyz speaks for every worker.
      let text = await scrape();
      assert.match(text, /^mailgw_gateway_workers\{state="running"\} 2$/m);
      assert.match(text, /^mailgw_gateway_queue_messages\{state="deferred"\} 11$/m);
      const accepted = [...text.matchAll(/^mailgw_gateway_messages_total\{outcome="accepted"[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
      assert.equal(accepted, 32, 'accepted messages summed over the workers');
      assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status, 200);

      // A worker dies: the supervisor starts it again on its own spool, and its queue is still there.
      const victim = gw.lines.findLast((l) => l.event === 'listening' && l.worker === 1)!.pid as number;
      process.kill(victim, 'SIGKILL');
      await gw.waitFor('worker-restarted', 1, 30_000);
      const recovered = gw.lines.filter((l) => l.event === 'spool-recovered' && l.worker === 1).at(-1)!;
      assert.equal(recovered.messages, held.filter((q) => by.get(q) === 1).length - 1, 'worker 1 recovered its own queue');
      await eventually('ready again', async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status === 200, 20_000, 200);
      text = await scrape();
      assert.match(text, /^mailgw_gateway_worker_restarts_total 1$/m);
      assert.equal((await queueOf(state)).length, 11, 'nothing lost');
      assert.equal(await stop(gw), 0);
    } finally {
      if (gw.proc.exitCode === null) await stop(gw);
      await internal.close();
    }
  });

  it('one process, then three workers, then one: each queue moves on (the one-process spool to worker 0, stranded spools drained), each message delivered once', { timeout: 120_000 }, async (t) => {
    let down = true;
    const internal = await startSink({ rcpt: () => (down ? refuse(451, '4.3.0 try later') : null) });
    const dir = tempDir('mailgw-workers-scale-');
    const configFile = join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify(buildConfig({
      spec: { integration: 'BehindEdgeGateway', queue: { minBackoff: '1s', maxBackoff: '1s' } },
      domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: internal.port } }], networks: ['127.0.0.1/32'],
    })));
    const state = join(dir, 'state');
    const run = (workers: number) => startMailgw(['gateway', '--config', configFile, '--listen', '127.0.0.1:0', '--state-dir', state, '--workers', String(workers)]);
    const subjects: string[] = [];
    const queue = async (gw: MailgwProcess, n: number, tag: string) => {
      for (let i = 0; i < n; i++) {
        subjects.push(`${tag} ${i}`);
        await submit(gw.port, { from: 'a@partner.test', to: 'user@corp.test', subject: `${tag} ${i}` });
      }
      await eventually(`${subjects.length} deferred`, async () => {
        const q = await queueOf(state);
        return q.length === subjects.length && q.every((m) => m.attempts >= 1);
      }, 20_000, 200);
    };

    let gw = await run(1);
    // Whatever fails, no pod is left running (the test file would never end).
    t.after(async () => {
      if (gw.proc.exitCode === null && gw.proc.signalCode === null) await stop(gw);
      await internal.close();
    });
    await queue(gw, 6, 'one');
    assert.equal(await stop(gw), 0);
    assert.ok(existsSync(join(state, 'spool')), 'one process: the state directory itself');

    gw = await run(3);
    assert.equal(gw.lines.find((l) => l.event === 'state-layout')?.to, workerStateDir(state, 0));
    assert.equal(gw.lines.find((l) => l.event === 'spool-recovered' && l.worker === 0)?.messages, 6, 'worker 0 took the one-process queue over');
    await queue(gw, 36, 'three'); // 36 connections: the chance that one of three workers got none is about 1 in 700,000
    assert.deepEqual(new Set(takenBy(gw).values()), new Set([0, 1, 2]), 'all three workers took mail');
    assert.equal(await stop(gw), 0);

    down = false;
    gw = await run(1);
    // Workers 1 and 2 no longer run: their spools are handed to worker 0, which delivers them.
    await eventually('both stranded spools drained', () => gw.lines.filter((l) => l.event === 'stranded-drained').length === 2, 60_000, 200);
    for (const l of gw.lines.filter((x) => x.event === 'stranded-drained')) assert.equal(l.left, 0, JSON.stringify(l));
    await internal.waitFor(42, 60_000);
    await eventually('the queue drains', async () => (await queueOf(state)).length === 0, 30_000, 200);
    assert.deepEqual(subjectsOf(internal.messages).sort(), [...subjects].sort(), 'each message delivered exactly once');
    assert.ok(!existsSync(join(workerStateDir(state, 1), 'spool')) && !existsSync(join(workerStateDir(state, 2), 'spool')), 'the drained spools are gone');
    assert.equal(await stop(gw), 0);
  });

  it('a second pod cannot share the port: workers share it with each other, not with strangers', { timeout: 60_000 }, async () => {
    const dir = tempDir('mailgw-workers-port-');
    const configFile = join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify(buildConfig({ spec: { integration: 'BehindEdgeGateway' }, domains: ['corp.test'] })));
    const first = await startMailgw(['gateway', '--config', configFile, '--listen', '127.0.0.1:0', '--state-dir', join(dir, 'a'), '--workers', '2']);
    try {
      await first.waitFor('listening', 3);
      const second = await startMailgw(['gateway', '--config', configFile, '--listen', `127.0.0.1:${first.port}`, '--state-dir', join(dir, 'b'), '--workers', '2'])
        .then(() => 'started', (err: Error) => err.message);
      assert.equal(second, 'mailgw exited early with 1');
      assert.ok(!existsSync(join(dir, 'b', 'workers')), 'nothing started for the second pod');
    } finally {
      await stop(first);
    }
  });
});
