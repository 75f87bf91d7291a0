/**
 * A real rsyslog (Debian's rsyslogd, with rsyslog-gnutls for TLS) as the
 * SIEM collector on loopback: a private instance with its own config,
 * receiving on UDP, TCP and TLS (RFC 5425, a certificate from the test's
 * CA) and writing every message it gets, as received, to one file per
 * transport. Returns undefined when rsyslogd is not installed (the test
 * then skips, or fails under MAILGW_REQUIRE_ALL=1).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './config.ts';
import { closedPort, closedUdpPort } from './ports.ts';
import { eventually } from './wait.ts';

export interface Rsyslog {
  ports: { UDP: number; TCP: number; TLS: number };
  /** The messages received on a transport so far (the syslog MSG part, one per line). */
  received(transport: 'UDP' | 'TCP' | 'TLS'): string[];
  stop(): Promise<void>;
}

const BIN = '/usr/sbin/rsyslogd';

/** `tls`: the collector's certificate and key (PEM) and the CA that signed them; without it no TLS input is opened. */
export async function startRsyslog(tls?: { cert: Buffer; key: Buffer; ca: Buffer }): Promise<Rsyslog | undefined> {
  if (!existsSync(BIN) || spawnSync(BIN, ['-v'], { stdio: 'ignore' }).status !== 0) return undefined;
  const dir = tempDir('mailgw-rsyslog-');
  const ports = { UDP: await closedUdpPort(), TCP: await closedPort(), TLS: await closedPort() };
  const file = (t: string) => join(dir, `${t}.log`);
  if (tls) {
    writeFileSync(join(dir, 'cert.pem'), tls.cert);
    writeFileSync(join(dir, 'key.pem'), tls.key);
    writeFileSync(join(dir, 'ca.pem'), tls.ca);
  }
  writeFileSync(join(dir, 'rsyslog.conf'), [
    `global(workDirectory="${dir}"${tls ? ` defaultNetstreamDriverCAFile="${join(dir, 'ca.pem')}" defaultNetstreamDriverCertFile="${join(dir, 'cert.pem')}" defaultNetstreamDriverKeyFile="${join(dir, 'key.pem')}"` : ''})`,
    'module(load="imudp")',
    'module(load="imtcp" maxSessions="100")',
    'template(name="msgOnly" type="string" string="%msg%\\n")',
    `ruleset(name="udp") { action(type="omfile" file="${file('UDP')}" template="msgOnly") }`,
    `ruleset(name="tcp") { action(type="omfile" file="${file('TCP')}" template="msgOnly") }`,
    `ruleset(name="tls") { action(type="omfile" file="${file('TLS')}" template="msgOnly") }`,
    `input(type="imudp" address="127.0.0.1" port="${ports.UDP}" ruleset="udp")`,
    `input(type="imtcp" address="127.0.0.1" port="${ports.TCP}" ruleset="tcp")`,
    ...(tls ? [`input(type="imtcp" address="127.0.0.1" port="${ports.TLS}" ruleset="tls" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")`] : []),
    '',
  ].join('\n'));
  const proc: ChildProcess = spawn(BIN, ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslog.pid')], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  // Ready when the TCP input accepts connections.
  await eventually(`rsyslogd listening (${stderr.trim() || 'no output'})`, async () => {
    if (proc.exitCode !== null) throw new Error(`rsyslogd exited: ${stderr}`);
    const { connect } = await import('node:net');
    return new Promise<true | undefined>((resolve) => {
      const c = connect(ports.TCP, '127.0.0.1', () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(undefined));
    });
  }, 15_000);
  return {
    ports,
    received: (t) => (existsSync(file(t)) ? readFileSync(file(t), 'utf8').split('\n').filter(Boolean) : []),
    stop: async () => {
      if (proc.exitCode === null) {
        process.kill(-proc.pid!, 'SIGTERM');
        await exited;
      }
    },
  };
}
