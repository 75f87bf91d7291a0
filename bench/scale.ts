/**
 * `npm run bench:scale`: hosting-provider scale (issue 19). For 1,000,
 * 10,000 and 100,000 LocalDomains on one gateway, beside Postfix with the
 * same domains in `relay_domains = hash:…`:
 *
 * - render: the operator's render of the gateway (config, packing, objects)
 *   in-process; Postfix: `postmap` of the domain table;
 * - operator convergence: on the real kube-apiserver (test/cluster), the time
 *   from the last LocalDomain created until the ConfigMaps hold them all
 *   (skipped when the control plane is not built);
 * - gateway: `mailgw gateway` started from the rendered ConfigMaps (laid out
 *   as the kubelet mounts them): start-up time and RSS; a reload to a version
 *   with one domain changed (load off the event loop, swap), its RSS, and the
 *   slowest RCPT answered on a session in flight during the reload;
 * - RCPT latency for the last domain of the table (median and p99 of 500 on
 *   one session), for both.
 *
 * Writes the table into bench/RESULTS.md between the scale markers.
 * `--domains 1000,10000` picks other sizes; `--no-cluster` skips convergence.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localDomain, mailGateway, trustedNetwork } from '../api/index.ts';
import { render } from '../operator/render.ts';
import { ConfigMapVolume, configOf } from '../test/helpers/configmap-volume.ts';
import { collectJsonLines } from '../test/helpers/mailgw-process.ts';
import { SmtpDialog } from '../test/helpers/smtp-dialog.ts';
import { machine } from './proc.ts';
import { startPostfix } from './systems.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const argv = process.argv.slice(2);
const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const SIZES = (flag('--domains') ?? '1000,10000,100000').split(',').map(Number);
const CLUSTER = !argv.includes('--no-cluster');
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const gatewayObj = { apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw', namespace: 'mail' }, spec: { integration: 'BehindEdgeGateway', relayHost: { host: '192.0.2.1' }, resolver: { servers: ['127.0.0.1:9'] }, protection: { antivirus: { enabled: true } } } };
const networkObj = { apiVersion: 'mailgw.io/v1alpha1', kind: 'TrustedNetwork', metadata: { name: 'internal', namespace: 'mail' }, spec: { gatewayRef: { name: 'gw' }, cidrs: ['127.0.0.3/32'] } };
const domainObj = (i: number, d = `customer${i}.example`) => ({ apiVersion: 'mailgw.io/v1alpha1', kind: 'LocalDomain', metadata: { name: `d${i}`, namespace: 'mail' }, spec: { gatewayRef: { name: 'gw' }, domain: d, routing: { host: '127.0.0.1', port: 9 } } });

const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const mib = (b: number) => (b / 1024 / 1024).toFixed(0);
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const pct = (xs: number[], p: number) => sorted(xs)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

function rss(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Median and p99 of `count` RCPTs for `rcpt` on one session (RSET every 500, under any recipient limit). */
async function rcptLatency(port: number, rcpt: string, count = 500): Promise<{ p50: number; p99: number; code: number }> {
  const c = await SmtpDialog.open(port, '127.0.0.2');
  const times: number[] = [];
  let code = 0;
  try {
    await c.begin('sender@outside.test');
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      code = (await c.cmd(`RCPT TO:<${rcpt}>`)).code;
      times.push(performance.now() - t);
    }
  } finally {
    c.close();
  }
  return { p50: pct(times, 50), p99: pct(times, 99), code };
}

async function gatewayFigures(n: number, configMaps: Json[], changed: Json[]): Promise<{ startMs: number; rss: number; loadMs: number; swapMs: number; reloadRss: number; stallMs: number; p50: number; p99: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-scale-'));
  const volume = new ConfigMapVolume(join(dir, 'config'));
  volume.write(configMaps);
  const t0 = performance.now();
  const proc = spawn(process.execPath, [join(ROOT, 'bin/mailgw.js'), 'gateway', '--config', volume.dir, '--listen', '127.0.0.1:0', '--state-dir', join(dir, 'state'), '--config-poll', '200ms', '--workers', '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Record<string, unknown>[] = [];
  const port = await new Promise<number>((resolve) => collectJsonLines(proc.stdout!, lines, (l) => l.event === 'listening' && resolve(l.port as number)));
  const startMs = performance.now() - t0;
  try {
    const before = await rcptLatency(port, `postmaster@customer${n - 1}.example`);
    if (before.code !== 250) throw new Error(`RCPT for the last domain: ${before.code}`);
    const startRss = rss(proc.pid!);
    // Sessions in flight during the reload: one RCPT every 5 ms (a new session every 400, under the
    // recipient limit), the slowest answer kept.
    let stallMs = 0;
    let probing = true;
    const probe = (async () => {
      while (probing) {
        const c = await SmtpDialog.open(port, '127.0.0.2');
        await c.begin('sender@outside.test');
        for (let i = 0; i < 400 && probing; i++) {
          const t = performance.now();
          await c.cmd(`RCPT TO:<postmaster@customer${n - 1}.example>`);
          stallMs = Math.max(stallMs, performance.now() - t);
          await new Promise((r) => setTimeout(r, 5));
        }
        c.close();
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    volume.write(changed);
    const deadline = Date.now() + 300_000;
    while (!lines.some((l) => l.event === 'config-reloaded') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    probing = false;
    await probe;
    const reloaded = lines.find((l) => l.event === 'config-reloaded');
    if (!reloaded) throw new Error('no reload');
    return { startMs, rss: startRss, loadMs: Number(reloaded.loadMs), swapMs: Number(reloaded.swapMs), reloadRss: rss(proc.pid!, 'VmHWM'), stallMs, p50: before.p50, p99: before.p99 };
  } finally {
    proc.kill('SIGKILL');
  }
}

async function postfixFigures(n: number): Promise<{ postmapMs: number; p50: number; p99: number; code: number }> {
  const { createServer } = await import('node:net');
  const free = () => new Promise<number>((r) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => r(p));
    });
  });
  const [port, sink] = [await free(), await free()];
  let postmapMs = 0;
  const pf = await startPostfix(port, sink, undefined, ['relay_domains = hash:$config_directory/relay_domains', 'smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination', 'mynetworks = 127.0.0.3/32'], (dir) => {
    writeFileSync(join(dir, 'relay_domains'), Array.from({ length: n }, (_, i) => `customer${i}.example OK\n`).join(''));
    const t = performance.now();
    execFileSync('postmap', ['-c', dir, join(dir, 'relay_domains')]);
    postmapMs = performance.now() - t;
  });
  try {
    const r = await rcptLatency(port, `postmaster@customer${n - 1}.example`);
    return { postmapMs, ...r };
  } finally {
    await pf.stop();
  }
}

async function operatorConvergence(n: number): Promise<number | undefined> {
  if (!CLUSTER) return undefined;
  const { startCluster, startInstalledOperator } = await import('../test/helpers/cluster.ts');
  const c = await startCluster({ audit: false });
  if (!c) {
    process.stderr.write('operator convergence: skipped, the control plane is not built (bash test/cluster/build.sh)\n');
    return undefined;
  }
  const op = await startInstalledOperator(c, ['mail'], 'bench');
  try {
    await c.rest('POST', '/apis/mailgw.io/v1alpha1/namespaces/mail/mailgateways', gatewayObj);
    let next = 0;
    await Promise.all(Array.from({ length: 32 }, async () => {
      for (let i = next++; i < n; i = next++) await c.rest('POST', '/apis/mailgw.io/v1alpha1/namespaces/mail/localdomains', domainObj(i));
    }));
    const created = performance.now();
    for (;;) {
      const cms = ((await c.rest('GET', '/api/v1/namespaces/mail/configmaps')).items as Json[]).filter((x) => /^gw-config(-\d+)?$/.test(x.metadata.name));
      const config = configOf(cms);
      if (config && (config.localDomains as unknown[]).length === n) return performance.now() - created;
      if (performance.now() - created > 1_800_000) return undefined;
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    op.proc.kill('SIGKILL');
    await c.stop();
  }
}

/** The ConfigMaps as the API server returns them (binaryData base64). */
function configMapsOf(objects: Record<string, unknown>[]): Json[] {
  return objects.filter((o) => o.kind === 'ConfigMap') as Json[];
}

async function main(): Promise<void> {
  const m = machine() as { cpu: string; cores: string; load: string };
  const rows: string[] = [];
  for (const n of SIZES) {
    process.stderr.write(`${n} domains\n`);
    const gw = mailGateway.parse(gatewayObj);
    const nets = [trustedNetwork.parse(networkObj)];
    const domains = Array.from({ length: n }, (_, i) => localDomain.parse(domainObj(i)));
    const t = performance.now();
    const r = render(gw, domains, nets);
    const renderMs = performance.now() - t;
    const largest = Math.max(...r.objects.map((o) => JSON.stringify(o).length));
    const changedDomains = [...domains.slice(0, n - 1), localDomain.parse(domainObj(n - 1, `customer${n - 1}.example`)), localDomain.parse(domainObj(n, 'added.example'))];
    const changed = render(gw, changedDomains, nets);
    const g = await gatewayFigures(n, configMapsOf(r.objects), configMapsOf(changed.objects));
    const pf = await postfixFigures(n);
    const converge = await operatorConvergence(n);
    rows.push(`| ${n.toLocaleString('en')} | ${ms(renderMs)} | ${configMapsOf(r.objects).length} · ${(largest / 1024).toFixed(0)} KiB | ${converge === undefined ? 'n/a' : ms(converge)} | ${ms(g.startMs)} | ${mib(g.rss)} | ${ms(g.loadMs)} + ${ms(g.swapMs)} | ${mib(g.reloadRss)} | ${ms(g.stallMs)} | ${g.p50.toFixed(2)} / ${g.p99.toFixed(2)} | ${ms(pf.postmapMs)} | ${pf.p50.toFixed(2)} / ${pf.p99.toFixed(2)} |`);
    process.stderr.write(`${rows.at(-1)}\n`);
  }
  const section = [
    '<!-- scale:begin (npm run bench:scale) -->',
    '## Local domains at hosting-provider scale',
    '',
    `One gateway with N LocalDomains (issue 19), beside Postfix with the same domains in \`relay_domains = hash:…\`. Render: the operator's render in-process (config, lint, gzip and split, objects); Postfix: \`postmap\`. ConfigMaps: how many, and the largest rendered object (the API server takes up to 1 MiB). Convergence: on the real kube-apiserver, from the last LocalDomain created until the ConfigMaps hold all of them. Gateway: \`mailgw gateway --workers 1\` from the rendered ConfigMaps: start-up to listening, RSS; a reload to a version with one domain added (loaded in a worker and parsed in slices, then swapped), peak RSS, and the slowest RCPT a session in flight got during it. RCPT: milliseconds for the last domain of the table, median / p99 of 500 on one session. Machine: ${m.cpu}, ${m.cores} cores, load at start ${m.load}. ${new Date().toISOString().slice(0, 10)}.`,
    '',
    '| domains | render ms | ConfigMaps · largest | convergence ms | start ms | RSS MiB | reload ms (load + swap) | peak RSS MiB | slowest RCPT in reload ms | RCPT ms mailgw | postmap ms | RCPT ms Postfix |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    'Lookups are one hash probe per label of the recipient domain in both; the RCPT figures are the session round trip.',
    '<!-- scale:end -->',
  ].join('\n');
  const file = new URL('./RESULTS.md', import.meta.url);
  const text = readFileSync(file, 'utf8');
  const re = /<!-- scale:begin[\s\S]*?<!-- scale:end -->/;
  writeFileSync(file, re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}\n`);
  process.stderr.write(`${section}\n`);
}

await main();
process.exit(0);
