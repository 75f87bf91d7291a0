/**
 * `npm run reliability [-- --short]`: runs the reliability suites one file at
 * a time (long form unless --short), then writes test/reliability/RESULTS.md
 * from the counts each suite recorded, with the machine it ran on and the
 * test runner's own summary. Exits non-zero when a suite failed; the table is
 * written either way, and a suite that recorded nothing is listed as such.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';

const HERE = new URL('.', import.meta.url).pathname;
const ROOT = new URL('../..', import.meta.url).pathname;
const short = process.argv.includes('--short');
const mode = short ? 'short' : 'long';
const resultsDir = mkdtempSync(join(tmpdir(), 'mailgw-reliability-results-'));
const files = readdirSync(HERE).filter((f) => f.endsWith('.test.ts')).sort();

/** The counts that must be zero for the suite's promise to hold. */
const MUST_BE_ZERO = ['lost', 'relayed', 'crashes', 'otherReplies', 'leftInSpool', 'refusedWithoutMessage', 'operatorExits'];

const started = Date.now();
const load0 = loadavg()[0]!;
const runner = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=3600000', '--test-force-exit', ...files.map((f) => join('test/reliability', f))], {
  cwd: ROOT,
  env: { ...process.env, MAILGW_RELIABILITY: mode, MAILGW_RELIABILITY_RESULTS: resultsDir, MAILGW_REQUIRE_ALL: process.env.MAILGW_REQUIRE_ALL ?? '1' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let output = '';
runner.stdout.on('data', (d: Buffer) => {
  process.stdout.write(d);
  output += d.toString();
});
const code = await new Promise<number>((r) => runner.once('exit', (c) => r(c ?? 1)));
const minutes = ((Date.now() - started) / 60_000).toFixed(1);

const summary = output.split('\n').filter((l) => /^ℹ (tests|pass|fail|cancelled|skipped|duration_ms) /.test(l));
const failed = output.split('\n').filter((l) => /^\s*✖ /.test(l)).map((l) => l.trim());
const records = readdirSync(resultsDir).filter((f) => f.endsWith('.json')).sort()
  .map((f) => JSON.parse(readFileSync(join(resultsDir, f), 'utf8')) as Record<string, unknown>);

const cell = (v: unknown): string => String(v).replace(/\|/g, '\\|');
const lines: string[] = [
  '# Reliability results',
  '',
  `Written by \`npm run reliability${short ? ' -- --short' : ''}\` on ${new Date().toISOString().slice(0, 10)}: **${mode} form**, ${files.length} suite files, ${minutes} min, runner exit ${code}.`,
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; load average ${load0.toFixed(1)} at the start (a shared machine: times are indicative, counts are what matter).`,
  '',
  '## Test runner summary',
  '',
  '```',
  ...summary,
  ...(failed.length ? ['', 'failed:', ...new Set(failed)] : []),
  '```',
  '',
  '## Counts per suite',
  '',
  `Every count in ${MUST_BE_ZERO.map((k) => `\`${k}\``).join(', ')} must be 0; the suite asserts it.`,
  '',
];
for (const r of records) {
  const { suite, mode: m, at, ...figures } = r;
  lines.push(`### ${cell(suite)} (${cell(m)}, ${cell(at)})`, '', '| figure | value |', '|---|---|');
  for (const [k, v] of Object.entries(figures)) {
    const flag = MUST_BE_ZERO.includes(k) && v !== 0 ? ' **≠ 0**' : '';
    lines.push(`| ${cell(k)} | ${cell(v)}${flag} |`);
  }
  lines.push('');
}
const silent = files.map((f) => f.replace('.test.ts', '')).filter((f) => !records.some((r) => String(r.suite).startsWith(f)));
if (silent.length) lines.push(`Recorded nothing (failed before recording): ${silent.join(', ')}.`, '');

writeFileSync(join(HERE, 'RESULTS.md'), `${lines.join('\n')}\n`);
console.log(`wrote test/reliability/RESULTS.md (${records.length} records, ${mode} form)`);
process.exit(code);
