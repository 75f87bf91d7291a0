/**
 * Real scanners for the protection tests, started from Debian's packages
 * with private configs, loopback ports and no downloads:
 * - clamd with a signature database the test writes (EICAR and a custom
 *   signature), answering INSTREAM on a TCP port;
 * - rspamd with the packaged rules, paths redirected to a temp folder, a tiny
 *   public-suffix list, fuzzy checks off and DNS pointed at the test's own
 *   server (or a dead loopback port).
 * Each runs in its own process group; stop() ends the whole group.
 * Returns undefined when the daemon is not installed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './config.ts';
import { closedPort } from './ports.ts';
import { killGroup } from './process-group.ts';

export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
export const CUSTOM_SIGNATURE_TEXT = 'MAILGW-CUSTOM-TEST-SIGNATURE-7f3a9c';
export const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';

export interface Daemon {
  address: string;
  /** rspamd's controller (history of scans, e.g. which client address it judged). */
  controller?: string;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

function exists(bin: string): boolean {
  return spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0;
}


async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not start within ${timeoutMs} ms`);
}

export async function startClamd(): Promise<Daemon | undefined> {
  const bin = ['/usr/sbin/clamd', 'clamd'].find(exists);
  if (!bin) return undefined;
  const dir = tempDir('mailgw-clamd-');
  mkdirSync(join(dir, 'db'));
  const hex = (s: string) => Buffer.from(s, 'latin1').toString('hex');
  writeFileSync(join(dir, 'db', 'mailgw-test.ndb'), `Mailgw-Test-Eicar:0:*:${hex(EICAR)}\nMailgw-Test-Custom:0:*:${hex(CUSTOM_SIGNATURE_TEXT)}\n`);
  const port = await closedPort();
  writeFileSync(join(dir, 'clamd.conf'), [
    `DatabaseDirectory ${join(dir, 'db')}`, `TCPSocket ${port}`, 'TCPAddr 127.0.0.1', 'Foreground yes', `LogFile ${join(dir, 'clamd.log')}`,
    'ScanArchive yes', 'AlertEncrypted yes', 'StreamMaxLength 30M', 'MaxThreads 4',
  ].join('\n'));
  let proc: ChildProcess | undefined;
  const ping = () => new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => resolve(false));
    s.on('connect', () => s.write('zPING\0'));
    s.on('data', (d) => {
      resolve(d.toString().startsWith('PONG'));
      s.destroy();
    });
  });
  const start = async () => {
    proc = spawn(bin, ['-c', join(dir, 'clamd.conf')], { stdio: 'ignore', detached: true });
    await until('clamd', ping, 60_000);
  };
  await start();
  return { address: `tcp://127.0.0.1:${port}`, stop: () => killGroup(proc), restart: start };
}

export async function startRspamd(dnsServer?: string): Promise<Daemon | undefined> {
  const bin = ['/usr/bin/rspamd', 'rspamd'].find(exists);
  if (!bin) return undefined;
  const dir = tempDir('mailgw-rspamd-');
  const conf = join(dir, 'conf');
  for (const d of ['override.d', 'local.d', 'db', 'run', 'log']) mkdirSync(join(d === 'override.d' || d === 'local.d' ? conf : dir, d), { recursive: true });
  const [normal, controller, proxy] = [await closedPort(), await closedPort(), await closedPort()];
  writeFileSync(join(conf, 'override.d', 'worker-normal.inc'), `bind_socket = "127.0.0.1:${normal}";\n`);
  writeFileSync(join(conf, 'override.d', 'worker-controller.inc'), `bind_socket = "127.0.0.1:${controller}";\n`);
  writeFileSync(join(conf, 'override.d', 'worker-proxy.inc'), `bind_socket = "127.0.0.1:${proxy}";\n`);
  writeFileSync(join(conf, 'override.d', 'fuzzy_check.conf'), 'enabled = false;\n');
  writeFileSync(join(dir, 'suffixes.dat'), 'com\nnet\norg\ntest\nexample\n');
  writeFileSync(join(conf, 'override.d', 'options.inc'), `dns { nameserver = ["${dnsServer ?? '127.0.0.1:9'}"]; timeout = 1s; retransmits = 1; }\nurl_tld = "${join(dir, 'suffixes.dat')}";\n`);
  let proc: ChildProcess | undefined;
  const start = async () => {
    proc = spawn(bin, ['-f', '-u', 'root', '-g', 'root', '-c', '/etc/rspamd/rspamd.conf',
      `--var=LOCAL_CONFDIR=${conf}`, `--var=DBDIR=${join(dir, 'db')}`, `--var=RUNDIR=${join(dir, 'run')}`, `--var=LOGDIR=${join(dir, 'log')}`], { stdio: 'ignore', detached: true });
    await until('rspamd', async () => (await fetch(`http://127.0.0.1:${normal}/ping`, { signal: AbortSignal.timeout(500) })).ok, 90_000);
  };
  await start();
  return { address: `http://127.0.0.1:${normal}`, controller: `http://127.0.0.1:${controller}`, stop: () => killGroup(proc), restart: start };
}
