/**
 * `npm run bench [-- --quick]`: mailgw against Postfix on this machine, on
 * loopback, with Postfix's smtp-source as the load and smtp-sink as the next
 * hop of every system. Writes bench/RESULTS.md. See bench/README.md.
 *
 * Per workload and system (fresh instances for every run, warmed up):
 * accepted msg/s (smtp-source's wall time), end-to-end msg/s (until the sink
 * has them all), server CPU ms per message (machine busy time minus the
 * sink-only run's), peak RSS of the server's process tree, p50/p99 from end
 * of DATA to 250 (a probe session during the load). Medians of the runs;
 * mailgw also as a ratio to Postfix. Failures are counted, never hidden.
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import nodemailer from 'nodemailer';
import { busyMs, machine, treeRss } from './proc.ts';
import { runLoad } from './load.ts';
import { HARAKA_VERSION, Sink, startHaraka, startMailgw, startPostfix, type Running } from './systems.ts';
import { SmtpDialog } from '../test/helpers/smtp-dialog.ts';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const quick = argv.includes('--quick');
/** --only mailgw,Postfix: a subset of systems (for profiling; the table then lacks the others). */
const ONLY = flag('--only')?.split(',');
/** --workload N: only the N-th workload (1-based). */
const ONLY_WORKLOAD = flag('--workload');
/** --profile DIR: mailgw runs with --cpu-prof, profiles written to DIR. */
export const PROFILE_DIR = flag('--profile');
const MESSAGES = Number(flag('--messages') ?? (quick ? 1000 : 5000));
const RUNS = Number(flag('--runs') ?? (quick ? 1 : 3));
/** A partial run (a subset of systems or workloads, other counts) never overwrites RESULTS.md. */
const PARTIAL = Boolean(ONLY || ONLY_WORKLOAD || flag('--messages') || flag('--runs'));
const OUT = new URL(PARTIAL ? './RESULTS.partial.md' : './RESULTS.md', import.meta.url);
const WARMUP = 200;
/** A free loopback port (bound and released), so a leftover process can never share it. */
async function port(): Promise<number> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

/** domains > 1: recipients spread over that many domains (bench/load.ts, since smtp-source uses one). */
interface Workload { name: string; size: number; sessions: number; rcpts: number; domains?: number }
const WORKLOADS: Workload[] = [
  { name: '2 KiB, 20 sessions', size: 2048, sessions: 20, rcpts: 1 },
  { name: '50 KiB, 20 sessions', size: 51200, sessions: 20, rcpts: 1 },
  ...(quick ? [] : [
    { name: '2 KiB, 100 sessions', size: 2048, sessions: 100, rcpts: 1 },
    { name: '50 KiB, 100 sessions', size: 51200, sessions: 100, rcpts: 1 },
    { name: '2 KiB, 20 sessions, 10 recipients', size: 2048, sessions: 20, rcpts: 10 },
    { name: '2 KiB, 20 sessions, 10 recipients across 3 domains', size: 2048, sessions: 20, rcpts: 10, domains: 3 },
  ]),
];

/** busyShare: the machine's CPU busy during the run, as a share of all its cores (1 = every core busy all the time: the physical bound). */
interface Result { accepted: number; e2e: number; busyPerMsg: number; busyShare: number; rss: number; p50: number; p99: number; failures: number }

function load(target: number, w: Workload, count: number): Promise<number> {
  if ((w.domains ?? 1) <= 1) return smtpSource(target, w, count);
  const domains = Array.from({ length: w.domains! }, (_, i) => `dest${i + 1}.test`);
  return runLoad({ port: target, count, sessions: w.sessions, size: w.size, recipients: w.rcpts, domains, from: 'bench@sender.test' });
}

function smtpSource(target: number, w: Workload, count: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const args = ['-s', String(w.sessions), '-m', String(count), '-l', String(w.size), '-f', 'bench@sender.test', '-t', 'user@dest.test', ...(w.rcpts > 1 ? ['-r', String(w.rcpts)] : []), `127.0.0.1:${target}`];
    const p = spawn('smtp-source', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => (code === 0 ? resolve(performance.now() - start) : reject(new Error(`smtp-source: ${err.trim()}`))));
  });
}

async function waitCount(sink: Sink, n: number, timeoutMs = 300_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (sink.count < n) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** A probe session that measures end-of-DATA → 250 while the load runs (bounded: at most 200 messages). */
async function probe(target: number, stop: { now: boolean }): Promise<number[]> {
  const times: number[] = [];
  const c = await SmtpDialog.open(target, '127.0.0.3');
  try {
    await c.begin('probe@sender.test');
    for (let i = 0; i < 200 && !stop.now; i++) {
      if (i > 0) await c.cmd('MAIL FROM:<probe@sender.test>');
      await c.cmd('RCPT TO:<probe@dest.test>');
      await c.cmd('DATA');
      const t = performance.now();
      const r = await c.cmd(`Subject: probe ${i}\r\n\r\n${'x'.repeat(1024)}\r\n.`);
      if (r.code === 250) times.push(performance.now() - t);
      await new Promise((res) => setTimeout(res, 20));
    }
  } finally {
    c.close();
  }
  return times;
}

const pct = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]! : NaN);
const median = (xs: number[]) => pct(xs, 50);

/** mailgw-no-traffic-log runs only when --only names it: the traffic log's cost, measured in the same run. mailgw-2-workers: the same gateway with `--workers 2`. */
type System = 'sink' | 'Postfix' | 'Haraka' | 'mailgw' | 'mailgw-2-workers' | 'mailgw-no-traffic-log';
const MAILGWS = ['mailgw', 'mailgw-2-workers'] as const;

async function startSystem(system: System, sinkPort: number): Promise<Running | undefined> {
  if (system === 'Postfix') return startPostfix(await port(), sinkPort);
  if (system === 'Haraka') return startHaraka(await port(), sinkPort, 'sender.test');
  if (system === 'mailgw') return startMailgw(await port(), sinkPort, PROFILE_DIR);
  if (system === 'mailgw-no-traffic-log') return startMailgw(await port(), sinkPort, PROFILE_DIR, undefined, false);
  if (system === 'mailgw-2-workers') return startMailgw(await port(), sinkPort, PROFILE_DIR, undefined, true, 2);
  return undefined;
}

async function runOnce(system: System, w: Workload): Promise<Result> {
  const sink = new Sink(await port());
  await sink.ready();
  const server = await startSystem(system, sink.port);
  const target = server?.port ?? sink.port;
  try {
    await load(target, w, WARMUP);
    await waitCount(sink, WARMUP, 120_000);
    // A system may split a message into several transactions at the sink (Haraka: one per recipient domain):
    // learn how many from the warm-up, once the sink has been quiet for a second.
    let base = sink.count;
    for (let quiet = 0; quiet < 10;) {
      await new Promise((r) => setTimeout(r, 100));
      quiet = sink.count === base ? quiet + 1 : 0;
      base = sink.count;
    }
    const perMessage = Math.max(1, Math.round(base / WARMUP));
    let rss = 0;
    const sampler = setInterval(() => {
      if (server?.pid) rss = Math.max(rss, treeRss(server.pid));
    }, 100);
    const stop = { now: false };
    const probing = server ? new Promise<number[]>((r) => setTimeout(() => probe(target, stop).then(r, () => r([])), 200)) : Promise.resolve([]);
    const cpu0 = busyMs();
    const t0 = performance.now();
    const acceptedMs = await load(target, w, MESSAGES);
    stop.now = true; // the probe stops with the load; its messages go to the sink too
    const lat = await probing;
    const expected = MESSAGES * perMessage + lat.length;
    const complete = await waitCount(sink, base + expected);
    const e2eMs = performance.now() - t0;
    const cpu = busyMs() - cpu0;
    clearInterval(sampler);
    return {
      accepted: MESSAGES / (acceptedMs / 1000), e2e: complete ? MESSAGES / (e2eMs / 1000) : NaN, busyPerMsg: cpu / MESSAGES, busyShare: cpu / (e2eMs * availableParallelism()),
      rss, p50: pct(lat, 50), p99: pct(lat, 99), failures: Math.ceil(Math.max(0, base + expected - sink.count) / perMessage),
    };
  } finally {
    await server?.stop();
    await sink.stop();
    await new Promise((r) => setTimeout(r, 1000)); // let TIME_WAIT sockets drain a little
  }
}

async function idleConnections(n: number): Promise<{ rss: number; opened: number; messageOk: boolean }> {
  const sink = new Sink(await port());
  await sink.ready();
  const gw = await startMailgw(await port(), sink.port);
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = connect({ port: gw.port, host: '127.0.0.1', localAddress: `127.0.1.${1 + (i % 200)}` });
      s.on('error', () => undefined);
      sockets.push(s);
      if (i % 500 === 499) await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 3000));
    const opened = sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;
    const rss = treeRss(gw.pid!);
    let messageOk = false;
    try {
      const info = await nodemailer.createTransport({ host: '127.0.0.1', port: gw.port, ignoreTLS: true }).sendMail({ from: 'a@sender.test', to: 'b@dest.test', subject: 'amid idle connections', text: 'hi' });
      messageOk = /^250 /.test(info.response);
    } catch {
      messageOk = false;
    }
    return { rss, opened, messageOk };
  } finally {
    for (const s of sockets) s.destroy();
    await gw.stop();
    await sink.stop();
  }
}

async function operatorBulk(): Promise<{ createMs: number; convergeMs: number; afterLastMs: number; writes: number } | undefined> {
  const { startCluster, startInstalledOperator } = await import('../test/helpers/cluster.ts');
  const { eventually } = await import('../test/helpers/wait.ts');
  const { configOf } = await import('../test/helpers/configmap-volume.ts');
  const c = await startCluster();
  if (!c) {
    console.error('operator: skipped, the control plane is not built (bash test/cluster/build.sh)');
    return undefined;
  }
  const op = await startInstalledOperator(c, ['mail'], 'bench');
  const ns = '/apis/mailgw.io/v1alpha1/namespaces/mail';
  const config = async () => {
    const cm = await c.rest('GET', '/api/v1/namespaces/mail/configmaps/gw-config').catch(() => undefined);
    return cm ? configOf([cm]) : undefined;
  };
  // ConfigMap writes by the operator, from the API server's audit log.
  const writes = () => c.audit().filter((e) => e.user.username.endsWith(':mailgw-operator') && e.objectRef?.resource === 'configmaps' && e.objectRef.name === 'gw-config' && e.verb === 'patch').length;
  try {
    await c.rest('POST', `${ns}/mailgateways`, { apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw' }, spec: { integration: 'BehindEdgeGateway', relayHost: { host: '192.0.2.1' }, protection: { antivirus: { enabled: true } } } });
    await eventually('gateway', config, 60_000, 100);
    const before = writes();
    const t0 = performance.now();
    for (let i = 0; i < 1000; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => c.rest('POST', `${ns}/localdomains`, { apiVersion: 'mailgw.io/v1alpha1', kind: 'LocalDomain', metadata: { name: `d${i + j}` }, spec: { gatewayRef: { name: 'gw' }, domain: `d${i + j}.example` } })));
    }
    const created = performance.now();
    await eventually('1000 domains', async () => (await config())?.localDomains.length === 1000, 300_000, 50);
    const done = performance.now();
    return { createMs: created - t0, convergeMs: done - t0, afterLastMs: done - created, writes: writes() - before };
  } finally {
    op.proc.kill('SIGTERM');
    await c.stop();
  }
}

const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

async function main(): Promise<void> {
  // The memory and scale tables (npm run bench:memory, bench:scale) and the notes of partial runs are kept as they were (read before the first partial write).
  const kept = existsSync(OUT) ? readFileSync(OUT, 'utf8') : '';
  const memory = /<!-- memory:begin[\s\S]*?<!-- memory:end -->/.exec(kept)?.[0];
  const scale = /<!-- scale:begin[\s\S]*?<!-- scale:end -->/.exec(kept)?.[0];
  const notes = /<!-- notes:begin[\s\S]*?<!-- notes:end -->/.exec(kept)?.[0];
  const m = machine() as { cpu: string; cores: string; memory: string; kernel: string; load: string };
  const postfixVersion = execFileSync('postconf', ['-d', 'mail_version']).toString().trim().split('= ')[1];
  const lines: string[] = [
    '# Benchmark results', '',
    `Run ${new Date().toISOString()} with \`npm run bench${quick ? ' -- --quick' : ''}\`: ${MESSAGES} messages per run, median of ${RUNS} run(s), ${WARMUP} warm-up messages, fresh instances for every run.`, '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memory}, ${m.kernel}; load average at start ${m.load}${Number(m.load.split(' ')[0]) > Number(m.cores) / 2 ? ' (a busy machine: figures are noisy)' : ''}. Node.js ${process.version}, Postfix ${postfixVersion}, Haraka ${HARAKA_VERSION}.`, '',
    `Server CPU is the machine's busy time during the run minus the sink-only run's (load generator and sink), per message. Machine busy is all of the machine's CPU time during the run (server, load generator, sink, kernel) as a share of all its cores: at 100 % nothing could go faster on this machine. Latency is end of DATA to 250, from a probe session running during the load. mailgw runs one worker process (mailgw up's default) and, as mailgw-2-workers, two. Haraka ${HARAKA_VERSION} runs as one process (its default) and does not fsync its queue files; Postfix and mailgw do.`, '',
  ];
  const workloads = ONLY_WORKLOAD ? [WORKLOADS[Number(ONLY_WORKLOAD) - 1]!] : WORKLOADS;
  const systems = (['sink', 'Postfix', 'Haraka', 'mailgw', 'mailgw-2-workers', 'mailgw-no-traffic-log'] as const).filter((s) => s === 'sink' || (ONLY ? ONLY.includes(s) : s !== 'mailgw-no-traffic-log'));
  for (const w of workloads) {
    const results: Record<string, Result[]> = { sink: [], Postfix: [], Haraka: [], mailgw: [], 'mailgw-2-workers': [], 'mailgw-no-traffic-log': [] };
    for (let r = 0; r < RUNS; r++) {
      for (const system of systems) {
        process.stderr.write(`${w.name}: ${system} run ${r + 1}/${RUNS}\n`);
        results[system]!.push(await runOnce(system, w));
      }
    }
    const med = (s: string, f: (r: Result) => number) => median(results[s]!.map(f));
    const sinkCpu = med('sink', (r) => r.busyPerMsg);
    lines.push(`## ${w.name}`, '', '| system | accepted msg/s | end-to-end msg/s | server CPU ms/msg | machine busy % | peak RSS MiB | p50 ms | p99 ms | failures |', '|---|---|---|---|---|---|---|---|---|');
    for (const s of systems) {
      const serverCpu = s === 'sink' ? NaN : med(s, (r) => r.busyPerMsg) - sinkCpu;
      lines.push(`| ${s === 'sink' ? 'smtp-sink alone (generator ceiling)' : s} | ${fmt(med(s, (r) => r.accepted))} | ${fmt(med(s, (r) => r.e2e))} | ${fmt(serverCpu, 2)} | ${fmt(med(s, (r) => r.busyShare) * 100)} | ${s === 'sink' ? '' : fmt(med(s, (r) => r.rss) / 1024 / 1024)} | ${fmt(med(s, (r) => r.p50), 1)} | ${fmt(med(s, (r) => r.p99), 1)} | ${results[s]!.reduce((n, r) => n + r.failures, 0)} |`);
    }
    for (const ours of MAILGWS.filter((m) => systems.includes(m))) {
      for (const other of ['Postfix', 'Haraka'].filter((o) => systems.includes(o as System))) {
        const ratio = (f: (r: Result) => number) => med(ours, f) / med(other, f);
        lines.push('', `${ours} / ${other}: accepted ×${fmt(ratio((r) => r.accepted), 2)}, end-to-end ×${fmt(ratio((r) => r.e2e), 2)}, p99 ×${fmt(ratio((r) => r.p99), 2)}.`);
      }
    }
    if (systems.includes('mailgw') && systems.includes('mailgw-2-workers')) {
      const cpu = (s: string) => med(s, (r) => r.busyPerMsg) - sinkCpu;
      lines.push('', `2 workers / 1: end-to-end ×${fmt(med('mailgw-2-workers', (r) => r.e2e) / med('mailgw', (r) => r.e2e), 2)}, server CPU per message ×${fmt(cpu('mailgw-2-workers') / cpu('mailgw'), 2)}.`);
    }
    if (systems.includes('mailgw') && systems.includes('mailgw-no-traffic-log')) {
      const ratio = (f: (r: Result) => number) => med('mailgw', f) / med('mailgw-no-traffic-log', f);
      lines.push('', `traffic log on / off: accepted ×${fmt(ratio((r) => r.accepted), 2)}, end-to-end ×${fmt(ratio((r) => r.e2e), 2)}, server CPU ×${fmt((med('mailgw', (r) => r.busyPerMsg) - sinkCpu) / (med('mailgw-no-traffic-log', (r) => r.busyPerMsg) - sinkCpu), 2)}.`);
    }
    lines.push('');
    writeFileSync(OUT, `${lines.join('\n')}\n`);
  }
  if (PARTIAL) {
    process.stderr.write(readFileSync(OUT, 'utf8'));
    return;
  }
  process.stderr.write('idle connections\n');
  const idle = await idleConnections(quick ? 2000 : 10_000);
  lines.push('## Idle connections', '', `${idle.opened} idle connections held open: mailgw RSS ${fmt(idle.rss / 1024 / 1024)} MiB; a normal message during them: ${idle.messageOk ? 'accepted' : 'FAILED'}.`, '');
  process.stderr.write('operator\n');
  const op = await operatorBulk();
  if (op) lines.push('## Operator', '', `1,000 LocalDomains created at once (on a real kube-apiserver, the operator as its ServiceAccount): creating them over HTTP took ${fmt(op.createMs)} ms; the ConfigMap listed all 1,000 ${fmt(op.convergeMs)} ms after the first create (${fmt(op.afterLastMs)} ms after the last), with ${op.writes} ConfigMap write${op.writes === 1 ? "" : "s"}.`, '');
  if (memory) lines.push(memory, '');
  if (scale) lines.push(scale, '');
  if (notes) lines.push(notes, '');
  writeFileSync(OUT, `${lines.join('\n')}\n`);
  process.stderr.write(readFileSync(OUT, 'utf8'));
}

main().then(() => process.exit(0), (err: Error) => {
  console.error(err);
  process.exit(1);
});
