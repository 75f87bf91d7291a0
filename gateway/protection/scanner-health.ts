/**
 * Readiness of the scanners the config requires: clamd answers PING with
 * PONG, rspamd answers /ping. Returns undefined when all are reachable, else
 * what is not.
 */
import { connect } from 'node:net';
import type { GatewayConfig } from '../../api/index.ts';

function clamdPing(address: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const m = /^tcp:\/\/(.+):(\d+)$/.exec(address);
    const s = m ? connect({ host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) }) : connect({ path: address.replace(/^unix:/, '') });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.on('error', () => done(false));
    s.on('connect', () => s.write('zPING\0'));
    s.on('data', (d: Buffer) => done(d.toString().startsWith('PONG')));
  });
}

export async function scannersReachable(c: GatewayConfig, timeoutMs = 2000): Promise<string | undefined> {
  const problems: string[] = [];
  if (c.protection.antivirus.enabled && !(await clamdPing(c.protection.antivirus.clamd, timeoutMs))) problems.push(`clamd at ${c.protection.antivirus.clamd} does not answer`);
  if (c.protection.antispam.enabled) {
    const ok = await fetch(`${c.protection.antispam.rspamd.replace(/\/$/, '')}/ping`, { signal: AbortSignal.timeout(timeoutMs) }).then((r) => r.ok, () => false);
    if (!ok) problems.push(`rspamd at ${c.protection.antispam.rspamd} does not answer`);
  }
  return problems.length > 0 ? problems.join('; ') : undefined;
}
