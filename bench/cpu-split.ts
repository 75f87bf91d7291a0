/**
 * Where a mailgw process's CPU goes, user space against the kernel: one
 * load (2 KiB, 20 sessions, smtp-source) through `mailgw up` with 1 and with
 * 2 workers, reading utime and stime of the gateway's whole process tree
 * from /proc before and after. `node bench/cpu-split.ts [--messages 5000]
 * [--no-traffic-log]`.
 * Loopback only; the load is bounded by --messages.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { descendants } from './proc.ts';
import { Sink, startMailgw } from './systems.ts';

const MESSAGES = Number(process.argv[process.argv.indexOf('--messages') + 1] || 5000);
const TICK_MS = 10; // USER_HZ 100
const TRAFFIC_LOG = !process.argv.includes('--no-traffic-log');

function port(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** utime and stime (ms) of a process tree. */
function treeTimes(root: number): { user: number; system: number } {
  let user = 0;
  let system = 0;
  for (const pid of descendants(root)) { // the root included
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      user += Number(f[11]) * TICK_MS;
      system += Number(f[12]) * TICK_MS;
    } catch {
      // gone
    }
  }
  return { user, system };
}

function source(target: number, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('smtp-source', ['-s', '20', '-m', String(count), '-l', '2048', '-f', 'bench@sender.test', '-t', 'user@dest.test', `127.0.0.1:${target}`], { stdio: 'ignore' });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`smtp-source exited ${code}`))));
  });
}

for (const workers of [1, 2]) {
  const sink = new Sink(await port());
  await sink.ready();
  const gw = await startMailgw(await port(), sink.port, undefined, undefined, TRAFFIC_LOG, workers);
  await source(gw.port, 300); // warm-up
  await new Promise((r) => setTimeout(r, 1000));
  const before = treeTimes(gw.pid!);
  const t0 = performance.now();
  await source(gw.port, MESSAGES);
  while (sink.count < 300 + MESSAGES && performance.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 100));
  const after = treeTimes(gw.pid!);
  const user = (after.user - before.user) / MESSAGES;
  const system = (after.system - before.system) / MESSAGES;
  console.log(`${workers} worker(s)${TRAFFIC_LOG ? '' : ', traffic log off'}: ${(MESSAGES / ((performance.now() - t0) / 1000)).toFixed(0)} msg/s end to end; per message ${user.toFixed(2)} ms user + ${system.toFixed(2)} ms kernel = ${(user + system).toFixed(2)} ms (kernel ${Math.round((100 * system) / (user + system))} %)`);
  await gw.stop();
  await sink.stop();
}
process.exit(0);
