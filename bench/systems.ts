/**
 * The systems under test, each started fresh on loopback and stopped after
 * its run: smtp-sink (Postfix's, the next hop of every system), Postfix 3.x
 * as the same relay (own config directory, default durability), Haraka (npm,
 * installed into bench/.haraka on first use) relaying through its outbound
 * queue, and mailgw (`mailgw up` with equivalent manifests, fsync on).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;

export interface Running {
  name: string;
  port: number;
  /** PID whose process tree is the server (for RSS); undefined for the sink-only run. */
  pid?: number | undefined;
  stop(): Promise<void>;
}

async function waitPort(port: number, timeoutMs = 20_000): Promise<void> {
  const { connect } = await import('node:net');
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${port}`);
}

export class Sink {
  readonly port: number;
  private proc: ChildProcess;
  private out = '';

  constructor(port: number) {
    this.port = port;
    // -c: count messages; never -M (it exits before answering the last one). As root it must drop to nobody.
    // stdbuf: the counter goes to a pipe, which would otherwise be block-buffered and lag behind.
    this.proc = spawn('stdbuf', ['-o0', 'smtp-sink', '-u', 'nobody', '-c', `127.0.0.1:${port}`, '1024'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d: Buffer) => {
      this.out = (this.out + d.toString()).slice(-200);
    });
  }

  async ready(): Promise<void> {
    await waitPort(this.port);
  }

  get count(): number {
    const all = [...this.out.matchAll(/mesg=(\d+)/g)];
    return all.length ? Number(all.at(-1)![1]) : 0;
  }

  async stop(): Promise<void> {
    this.proc.kill('SIGKILL');
    await new Promise((r) => this.proc.once('exit', r));
  }
}

/** messageSize: the largest message accepted (bench/memory.ts sends 20 MiB ones). */
/** extraMain: more main.cf lines, after the defaults (a later line wins); prepare(dir): files they name, made before the start. */
export async function startPostfix(port: number, sinkPort: number, messageSize?: number, extraMain: string[] = [], prepare?: (dir: string) => void): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-postfix-'));
  chmodSync(dir, 0o755); // the postfix user must reach its data and queue directories
  const master = readFileSync('/etc/postfix/master.cf', 'utf8').replace(/^smtp\s+inet\s+n\s+-\s+\S+\s+-\s+-\s+smtpd$/m, `127.0.0.1:${port} inet n - n - - smtpd`);
  writeFileSync(join(dir, 'master.cf'), master);
  writeFileSync(join(dir, 'main.cf'), [
    `queue_directory = ${dir}/queue`, `data_directory = ${dir}/data`, 'command_directory = /usr/sbin', 'daemon_directory = /usr/lib/postfix/sbin',
    'meta_directory = /etc/postfix', 'shlib_directory = /usr/lib/postfix', 'mail_owner = postfix', 'inet_interfaces = 127.0.0.1', 'inet_protocols = ipv4',
    'myhostname = postfix.bench.test', 'mydestination =', 'mynetworks = 127.0.0.0/8', 'relay_domains =', `relayhost = [127.0.0.1]:${sinkPort}`,
    'smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination', `maillog_file = ${dir}/maillog`, `maillog_file_prefixes = ${dir}`,
    'compatibility_level = 3.6', 'smtp_tls_security_level = none', 'smtpd_tls_security_level = none', 'default_process_limit = 200',
    ...(messageSize ? [`message_size_limit = ${messageSize}`] : []),
    ...extraMain,
  ].join('\n'));
  prepare?.(dir);
  mkdirSync(join(dir, 'queue'));
  mkdirSync(join(dir, 'data'));
  execFileSync('/usr/lib/postfix/sbin/post-install', [`config_directory=${dir}`, 'meta_directory=/etc/postfix', 'create-missing'], { stdio: 'ignore' });
  const postfixUid = Number(execFileSync('id', ['-u', 'postfix']).toString().trim());
  chownSync(join(dir, 'data'), postfixUid, 0);
  execFileSync('postfix', ['-c', dir, 'start'], { stdio: 'ignore' });
  await waitPort(port);
  const pid = Number(readFileSync(join(dir, 'queue', 'pid', 'master.pid'), 'utf8').trim());
  return {
    name: 'Postfix', port, pid,
    stop: async () => {
      execFileSync('postfix', ['-c', dir, 'abort'], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 300));
    },
  };
}

/** profileDir: run under --cpu-prof and stop with SIGTERM so the profile is written there. */
/** trafficLog false: the same gateway without its traffic log (`--only mailgw,mailgw-no-traffic-log` measures what the log costs). */
/** workers: `--workers N` (a supervisor and N worker processes sharing the port; mailgw up's default is 1). */
export async function startMailgw(port: number, sinkPort: number, profileDir?: string, messageSize?: number, trafficLog = true, workers = 1): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-mailgw-'));
  writeFileSync(join(dir, 'gateway.yaml'), `apiVersion: mailgw.io/v1alpha1
kind: MailGateway
metadata: { name: bench }
spec:
  integration: BehindEdgeGateway
  hostname: mailgw.bench.test
  relayHost: { host: 127.0.0.1, port: ${sinkPort} }
  tls: { outbound: { mode: None }, inbound: { mode: None } }
  authentication: { spf: false, dkim: false, dmarc: false }
  limits: { connectionsPerClient: 0, connectionsTotal: 20000${messageSize ? `, messageSize: ${messageSize}` : ''} }
  resolver: { servers: ["127.0.0.1:9"] }${trafficLog ? '' : '\n  trafficLog: { enabled: false }'}
---
apiVersion: mailgw.io/v1alpha1
kind: TrustedNetwork
metadata: { name: loopback }
spec: { gatewayRef: { name: bench }, cidrs: ["127.0.0.0/8"] }
`);
  const nodeFlags = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const proc = spawn(process.execPath, [...nodeFlags, join(ROOT, 'bin/mailgw.js'), 'up', '-f', join(dir, 'gateway.yaml'), '--listen', `127.0.0.1:${port}`, '--state-dir', join(dir, 'state'), '--workers', String(workers)],
    { stdio: ['ignore', 'pipe', 'inherit'], detached: true }); // its own process group: the stop takes the workers too
  // Listening once the pod says so (with workers: after every worker bound the port; the first alone would answer earlier).
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error('mailgw did not start listening within 30 s')), 30_000);
    proc.stdout!.on('data', (d: Buffer) => {
      if (seen === 'done') return;
      seen = (seen + d.toString('latin1')).slice(-4096);
      if (/"event":"listening"/.test(seen) && (workers === 1 || /"workers":\d+/.test(seen))) {
        seen = 'done';
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await waitPort(port);
  return {
    name: workers > 1 ? `mailgw-${workers}-workers` : trafficLog ? 'mailgw' : 'mailgw-no-traffic-log', port, pid: proc.pid,
    stop: async () => {
      const exited = new Promise((r) => proc.once('exit', r));
      if (profileDir) proc.kill('SIGTERM'); // the supervisor stops its workers, each writing its profile
      else process.kill(-proc.pid!, 'SIGKILL');
      await exited;
      if (workers > 1) await new Promise((r) => setTimeout(r, 300)); // the workers' exits, after the supervisor's
    },
  };
}

export const HARAKA_VERSION = '3.3.4';
const HARAKA_DIR = join(ROOT, 'bench', '.haraka');
const HARAKA_BIN = join(HARAKA_DIR, 'node_modules', 'Haraka', 'bin', 'haraka');

/** Installs Haraka from the npm registry into bench/.haraka (once; not a project dependency). */
export function ensureHaraka(): void {
  if (existsSync(HARAKA_BIN)) return;
  mkdirSync(HARAKA_DIR, { recursive: true });
  writeFileSync(join(HARAKA_DIR, 'package.json'), '{ "private": true }\n');
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', `Haraka@${HARAKA_VERSION}`], { cwd: HARAKA_DIR, stdio: 'inherit' });
}

/**
 * Haraka as the same relay: one process (its default), relaying for
 * 127.0.0.0/8 (relay plugin ACL), mail queued by its outbound queue (a file
 * per message, written and renamed, not fsynced) and delivered to the sink
 * (smtp_forward's get_mx route for the sender domain, enable_outbound off so
 * the outbound queue is used rather than forwarding in the session).
 */
export async function startHaraka(port: number, sinkPort: number, senderDomain: string): Promise<Running> {
  ensureHaraka();
  const dir = mkdtempSync(join(tmpdir(), 'bench-haraka-'));
  const cfg = join(dir, 'config');
  cpSync(join(HARAKA_DIR, 'node_modules', 'Haraka', 'config'), cfg, { recursive: true }); // Haraka's defaults, then ours
  mkdirSync(join(dir, 'plugins'));
  // Haraka resolves every client's reverse DNS with the system resolver, which is not on loopback: answer locally.
  writeFileSync(join(dir, 'plugins', 'bench_no_rdns.js'), "exports.hook_lookup_rdns = function (next) { next(OK, ['localhost']) }\n");
  const files: Record<string, string> = {
    'smtp.ini': `listen=127.0.0.1:${port}\n`,
    'plugins': 'bench_no_rdns\nrelay\nqueue/smtp_forward\n',
    'relay.ini': '[relay]\nacl=true\n',
    'relay_acl_allow': '127.0.0.0/8\n',
    'smtp_forward.ini': `[main]\nhost=127.0.0.1\nport=${sinkPort}\nenable_outbound=false\ndomain_selector=mail_from\n\n[${senderDomain}]\nhost=127.0.0.1\nport=${sinkPort}\n`,
    'outbound.ini': 'enable_tls=false\nlocal_mx_ok=true\n',
    'log.ini': '[main]\nlevel=warn\n',
    'me': 'haraka.bench.test\n',
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(cfg, name), text);
  const proc = spawn(process.execPath, [HARAKA_BIN, '-c', dir], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, HARAKA: dir } });
  await waitPort(port, 60_000);
  return {
    name: 'Haraka', port, pid: proc.pid,
    stop: async () => {
      proc.kill('SIGKILL');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}
