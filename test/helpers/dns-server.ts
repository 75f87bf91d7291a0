/**
 * A real DNS server on loopback for delivery tests: dnsmasq with the
 * records a test gives (MX with preferences, A, null MX), authoritative for
 * everything (unknown names are NXDOMAIN, nothing is forwarded anywhere).
 * Returns undefined when dnsmasq is not installed (the test then skips, or
 * fails under MAILGW_REQUIRE_ALL=1).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resolver } from 'node:dns/promises';
import { tempDir } from './config.ts';

export interface DnsRecords {
  mx?: [domain: string, host: string, preference: number][];
  a?: [host: string, address: string][];
  nullMx?: string[];
  /** TXT records; long texts are split into 255-byte strings. */
  txt?: [name: string, text: string][];
}

export interface DnsServer {
  server: string;
  stop(): Promise<void>;
}

function dnsmasqPath(): string | undefined {
  for (const p of ['/usr/sbin/dnsmasq', '/usr/bin/dnsmasq']) {
    if (spawnSync(p, ['--version'], { stdio: 'ignore' }).status === 0) return p;
  }
  return undefined;
}

export async function startDns(records: DnsRecords): Promise<DnsServer | undefined> {
  const bin = dnsmasqPath();
  if (!bin) return undefined;
  const dir = tempDir('mailgw-dns-');
  const lines = [
    ...(records.mx ?? []).map(([d, h, p]) => `mx-host=${d},${h},${p}`),
    ...(records.nullMx ?? []).map((d) => `mx-host=${d},.,0`),
    ...(records.a ?? []).map(([h, a]) => `host-record=${h},${a}`),
    ...(records.txt ?? []).map(([n, t]) => `txt-record=${n},${(t.match(/.{1,255}/g) ?? ['']).map((x) => `"${x}"`).join(',')}`),
  ];
  writeFileSync(join(dir, 'records.conf'), `${lines.join('\n')}\n`);
  for (let tries = 0; tries < 10; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    const proc: ChildProcess = spawn(bin, [
      '--no-daemon', '--no-resolv', '--no-hosts', '--bind-interfaces', '--listen-address=127.0.0.1', `--port=${port}`,
      `--conf-file=${join(dir, 'records.conf')}`, '--local=/#/', '--user=root', '--group=root', '--log-facility=-',
    ], { stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => proc.once('exit', r));
    const resolver = new Resolver({ timeout: 500, tries: 1 });
    resolver.setServers([`127.0.0.1:${port}`]);
    for (let i = 0; i < 40; i++) {
      const up = await Promise.race([
        resolver.resolveMx('probe.invalid').then(() => true, (e: NodeJS.ErrnoException) => e.code === 'ENOTFOUND'),
        exited.then(() => false),
      ]);
      if (up) {
        return {
          server: `127.0.0.1:${port}`,
          stop: async () => {
            proc.kill('SIGTERM');
            await exited;
          },
        };
      }
      if (proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill('SIGKILL');
    await exited;
  }
  throw new Error('dnsmasq did not start');
}
