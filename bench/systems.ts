/**
 * The systems under test, each started fresh on loopback and stopped after
 * its run: smtp-sink (Postfix's, the next hop of every system), Postfix 3.x
 * as the same relay (own config directory, default durability), and mailgw
 * (`mailgw up` with equivalent manifests, fsync on).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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

export async function startPostfix(port: number, sinkPort: number): Promise<Running> {
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
  ].join('\n'));
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

export async function startMailgw(port: number, sinkPort: number): Promise<Running> {
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
  limits: { connectionsPerClient: 0, connectionsTotal: 20000 }
  resolver: { servers: ["127.0.0.1:9"] }
---
apiVersion: mailgw.io/v1alpha1
kind: TrustedNetwork
metadata: { name: loopback }
spec: { gatewayRef: { name: bench }, cidrs: ["127.0.0.0/8"] }
`);
  const proc = spawn(process.execPath, [join(ROOT, 'bin/mailgw.js'), 'up', '-f', join(dir, 'gateway.yaml'), '--listen', `127.0.0.1:${port}`, '--state-dir', join(dir, 'state')], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitPort(port);
  return {
    name: 'mailgw', port, pid: proc.pid,
    stop: async () => {
      proc.kill('SIGKILL');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}
