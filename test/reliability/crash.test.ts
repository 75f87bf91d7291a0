/**
 * Crash under load, receiving and delivering at once: the gateway process
 * (`mailgw gateway`) takes mail from concurrent senders and delivers it to a
 * real SMTP peer that answers slowly, and is SIGKILLed at a random moment,
 * then restarted, round after round. With two worker processes
 * (`--workers 2`) each round first SIGKILLs one worker, which the
 * supervisor restarts on its own spool while the load goes on, then the
 * whole pod (supervisor and workers at once). At the end:
 * - every acknowledged message reached the internal server at least once,
 *   with its body intact;
 * - duplicates are bounded by the deliveries that can be in flight at a kill:
 *   an attempt is in flight from its start until its outcome is on disk, and
 *   the queue manager runs at most 100 at once (its active set; the
 *   per-destination limit of 20 bounds only the SMTP transactions among them,
 *   not the delivered ones still waiting for their REMOVE to be fsynced);
 * - whatever recovery found damaged or unacknowledged was logged and moved
 *   aside (spool-corrupt), and the spool ends empty.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildConfig, tempDir } from '../helpers/config.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { startSink } from '../helpers/sink.ts';
import { queueCli, startMailgw } from '../helpers/mailgw-process.ts';
import { eventually } from '../helpers/wait.ts';
import { Spool } from '../../gateway/spool/spool.ts';
import { workerStateDir } from '../../gateway/workers/worker-layout.ts';
import { pick, record } from './mode.ts';

const ROUNDS = pick(4, 20);
const SESSIONS = 10;
const IN_FLIGHT_PER_KILL = 100; // the queue manager's active set (maxActive)

function body(n: number): string {
  return `line ${n} `.repeat(1 + ((n * 7919) % 900)).replace(/(.{70})/g, '$1\r\n');
}

async function sender(port: number, acked: Map<string, string>, counter: { n: number }, stop: { now: boolean }): Promise<void> {
  let c: SmtpDialog;
  try {
    c = await SmtpDialog.open(port, '127.0.0.1');
    if ((await c.begin('load@sender.test')).code !== 250) return c.close();
  } catch {
    return;
  }
  try {
    for (let i = 0; i < 1000 && !stop.now; i++) {
      if (i > 0 && (await c.cmd('MAIL FROM:<load@sender.test>')).code !== 250) return;
      if ((await c.cmd('RCPT TO:<user@example.com>')).code !== 250) return;
      if ((await c.cmd('DATA')).code !== 354) return;
      const n = counter.n++;
      const id = `<crash-${n}@reliability.test>`;
      const text = body(n);
      c.write(`Message-ID: ${id}\r\nSubject: crash ${n}\r\n\r\n${text}\r\n.\r\n`);
      const r = await c.read(10_000);
      if (!r) return;
      if (r.code === 250) acked.set(id, text);
    }
  } catch {
    // killed under us
  } finally {
    c.close();
  }
}

/** The pids of the pod's processes now: the supervisor and each worker's latest (from their `listening` lines). */
function podPids(proc: { pid?: number | undefined }, lines: Record<string, unknown>[]): { supervisor: number; workers: Map<number, number> } {
  const workers = new Map<number, number>();
  for (const l of lines) if (l.event === 'listening' && typeof l.worker === 'number') workers.set(l.worker, l.pid as number);
  return { supervisor: proc.pid!, workers };
}

const killQuietly = (pid: number) => {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
};

for (const workers of [1, 2]) it(`delivers every acknowledged message at least once across ${ROUNDS} SIGKILLs under load (${workers > 1 ? `${workers} workers: one worker, then the whole pod` : 'one process'})`, { timeout: 900_000 }, async () => {
  const internal = await startSink({ dataDelayMs: 15 });
  const stateDir = tempDir('mailgw-crash-load-');
  const configFile = join(stateDir, 'config.json');
  writeFileSync(configFile, JSON.stringify(buildConfig({
    spec: { integration: 'BehindEdgeGateway', queue: { minBackoff: '1s', maxBackoff: '2s' } },
    domains: [{ domain: 'example.com', routing: { host: '127.0.0.1', port: internal.port } }], networks: ['127.0.0.1/32'],
  })));
  const start = () => startMailgw(['gateway', '--config', configFile, '--listen', '127.0.0.1:0', '--state-dir', stateDir, '--workers', String(workers)]);
  const acked = new Map<string, string>();
  const counter = { n: 0 };
  let corruptReports = 0;
  let recoveredTotal = 0;
  let live: Awaited<ReturnType<typeof start>> | undefined;
  const allLines: Record<string, unknown>[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const child = live = await start();
      if (workers > 1) await child.waitFor('listening', workers + 1); // every worker, then the pod
      for (const r of child.lines.filter((l) => l.event === 'spool-recovered')) recoveredTotal += r.messages as number;
      const stop = { now: false };
      const load = Array.from({ length: SESSIONS }, () => sender(child.port, acked, counter, stop));
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 1200));
      if (workers > 1) {
        // One worker dies; the supervisor starts it again on its spool while the others keep taking mail.
        const victim = Math.floor(Math.random() * workers);
        killQuietly(podPids(child.proc, child.lines).workers.get(victim)!);
        await child.waitFor('worker-restarted', 1, 30_000);
        for (const r of child.lines.filter((l) => l.event === 'spool-recovered' && l.worker === victim).slice(1)) recoveredTotal += r.messages as number;
        const again = Array.from({ length: SESSIONS / 2 }, () => sender(child.port, acked, counter, stop));
        await new Promise((r) => setTimeout(r, 300 + Math.random() * 800));
        // Then the whole pod at once, as when its node dies.
        const pids = podPids(child.proc, child.lines);
        for (const pid of [pids.supervisor, ...pids.workers.values()]) killQuietly(pid);
        load.push(...again);
      } else {
        child.proc.kill('SIGKILL');
      }
      await child.exited;
      stop.now = true;
      await Promise.all(load);
      corruptReports += child.lines.filter((l) => l.event === 'spool-corrupt').length;
      allLines.push(...child.lines);
    }
    // A last, clean run delivers what is left.
    const last = live = await start();
    corruptReports += last.lines.filter((l) => l.event === 'spool-corrupt').length;
    // The sink runs in this process: scan only what arrived since the last poll, or the poll starves the sink.
    const seen = new Set<string>();
    let scanned = 0;
    const missing = () => {
      for (; scanned < internal.messages.length; scanned++) {
        const id = /Message-ID: (<[^>]+>)/i.exec(internal.messages[scanned]!.raw.toString('latin1'))?.[1];
        if (id) seen.add(id);
      }
      return [...acked.keys()].filter((id) => !seen.has(id));
    };
    try {
      await eventually('every acknowledged message at the internal server', () => missing().length === 0, 120_000, 250);
    } catch (err) {
      const queue = await queueCli(stateDir, 'list');
      const events: Record<string, number> = {};
      for (const l of [...allLines, ...last.lines]) events[String(l.event ?? l.msg)] = (events[String(l.event ?? l.msg)] ?? 0) + 1;
      const sample = [...allLines, ...last.lines].filter((l) => /bounce|fail|error|defer/i.test(String(l.event))).slice(0, 5);
      throw new Error(`${(err as Error).message}: ${missing().length} of ${acked.size} missing (${missing().slice(0, 5).join(' ')}); sink has ${internal.messages.length}; events ${JSON.stringify(events)}; sample ${JSON.stringify(sample)}; queue: ${queue.stdout.slice(0, 1000)}`, { cause: err });
    }
    // Committed messages whose 250 the kill swallowed are delivered too; then the queue is empty.
    await eventually('the queue drains', async () => (await queueCli(stateDir, 'list')).stdout === 'Mail queue is empty\n', 60_000, 500);
    last.proc.kill('SIGTERM');
    await last.exited;

    const copies = new Map<string, number>();
    for (const m of internal.messages) {
      const raw = m.raw.toString('latin1');
      const id = /Message-ID: (<[^>]+>)/i.exec(raw)?.[1];
      if (!id) continue;
      copies.set(id, (copies.get(id) ?? 0) + 1);
      const sent = acked.get(id);
      if (sent) assert.ok(raw.includes(sent), `${id} arrived intact`);
    }
    const duplicates = [...copies.values()].reduce((a, n) => a + n - 1, 0);
    const lost = [...acked.keys()].filter((id) => !copies.has(id)).length;
    let left = 0;
    let unhandled = 0;
    for (const dir of workers > 1 ? Array.from({ length: workers }, (_, i) => workerStateDir(stateDir, i)) : [stateDir]) {
      const spool = await Spool.open(join(dir, 'spool'));
      left += spool.size;
      unhandled += spool.recovery.damagedRanges.length + spool.recovery.partials.length;
      await spool.close();
    }
    // Each kill may catch every worker's active set in flight (one worker, then all of them).
    const duplicateBound = ROUNDS * IN_FLIGHT_PER_KILL * (workers > 1 ? 1 + workers : 1);
    record(workers > 1 ? `crash-${workers}-workers` : 'crash', { workers, rounds: ROUNDS, acknowledged: acked.size, delivered: copies.size, lost, duplicates, duplicateBound, recoveredAtRestarts: recoveredTotal, corruptReports, leftInSpool: left });
    assert.ok(acked.size > ROUNDS * SESSIONS, `enough load (${acked.size} acknowledged)`);
    assert.equal(lost, 0, 'no acknowledged message lost');
    assert.ok(duplicates <= duplicateBound, `duplicates (${duplicates}) only from deliveries in flight at a kill`);
    // A message delivered but not yet marked removed is delivered again after the restart: it must be gone now.
    assert.equal(left, 0, 'the spool is empty after the last run');
    assert.equal(unhandled, 0, 'nothing damaged is left in the spool after recovery moved it aside');
  } finally {
    if (live && live.proc.exitCode === null && live.proc.signalCode === null) {
      const pids = podPids(live.proc, live.lines);
      for (const pid of [pids.supervisor, ...pids.workers.values()]) killQuietly(pid);
      await live.exited;
    }
    await internal.close();
  }
});
