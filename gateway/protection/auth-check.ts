/**
 * Sender authentication with mailauth: SPF, DKIM and DMARC as configured
 * (ARC evaluated for information), DNS through the gateway's resolver.
 * Returns what was found, whether it is a violation under the configured
 * TempError/PermError rules, the DMARC policy when it is to be applied, and
 * the Authentication-Results (and Received-SPF) header lines to add.
 */
import type { Resolver } from 'node:dns/promises';
import { authenticate } from 'mailauth';
import type { MessageSource } from '../spool/incoming.ts';
import type { GatewayConfig } from '../../api/index.ts';

export interface AuthResult {
  spf?: string | undefined;
  dkim?: string | undefined;
  dmarc?: string | undefined;
  arc?: string | undefined;
  violations: string[];
  /** DMARC policy of a failing domain, when applyDmarcPolicy is on. */
  dmarcPolicy?: 'reject' | 'quarantine' | undefined;
  headers: string;
  error?: string | undefined;
}

type Auth = GatewayConfig['authentication'];

export async function checkAuthentication(message: MessageSource, o: { ip: string; helo: string; sender: string; hostname: string; resolver: Resolver; config: Auth }): Promise<AuthResult> {
  const c = o.config;
  const counts = (r: string | undefined) => r === 'fail' || (r === 'temperror' && c.tempErrorIsViolation) || (r === 'permerror' && c.permErrorIsViolation);
  try {
    const res = await authenticate(message.stream(), {
      ip: o.ip, helo: o.helo, sender: o.sender, mta: o.hostname,
      resolver: (name: string, rr: string) => o.resolver.resolve(name, rr as 'TXT'),
      disableDmarc: !c.dmarc, disableBimi: true,
    }) as unknown as {
      spf?: { status?: { result?: string } } | false;
      dkim?: { results?: { status?: { result?: string } }[] };
      dmarc?: { status?: { result?: string }; policy?: string } | false;
      arc?: { status?: { result?: string } };
      headers: string;
    };
    const out: AuthResult = { violations: [], headers: '' };
    const lines: string[] = [];
    if (c.spf && res.spf) {
      out.spf = res.spf.status?.result ?? 'none';
      if (counts(out.spf)) out.violations.push(`spf=${out.spf}`);
    }
    if (c.dkim) {
      const results = (res.dkim?.results ?? []).map((r) => r.status?.result ?? 'none');
      out.dkim = results.length === 0 ? 'none' : results.includes('pass') ? 'pass' : results.find((r) => r !== 'none') ?? 'none';
      if (results.length > 0 && !results.includes('pass') && (out.dkim === 'neutral' || counts(out.dkim))) out.violations.push(`dkim=${out.dkim}`);
    }
    if (c.dmarc && res.dmarc) {
      out.dmarc = res.dmarc.status?.result ?? 'none';
      if (counts(out.dmarc)) {
        out.violations.push(`dmarc=${out.dmarc}`);
        const p = res.dmarc.policy;
        if (c.applyDmarcPolicy && out.dmarc === 'fail' && (p === 'reject' || p === 'quarantine')) out.dmarcPolicy = p;
      }
    }
    out.arc = res.arc?.status?.result;
    // Keep the Authentication-Results for what was checked (mailauth writes spf/dkim/arc/dmarc entries).
    for (const line of res.headers.split(/\r?\n(?![ \t])/)) {
      if (!line.trim()) continue;
      if (/^Received-SPF:/i.test(line) && !c.spf) continue;
      const ar = /^(Authentication-Results:[^;]*);([\s\S]*)$/i.exec(line);
      if (ar) {
        // Only the checks that are switched on are reported.
        const off = (entry: string) => (!c.spf && /^spf=/i.test(entry)) || (!c.dkim && /^dkim=/i.test(entry)) || (!c.dmarc && /^dmarc=/i.test(entry));
        const entries = ar[2]!.split(';').map((e) => e.replace(/\s+/g, ' ').trim()).filter((e) => e && !off(e));
        lines.push(entries.length > 0 ? `${ar[1]};\r\n ${entries.join(';\r\n ')}` : `${ar[1]}; none`);
        continue;
      }
      lines.push(line.replace(/\r?\n/g, '\r\n'));
    }
    out.headers = lines.map((l) => `${l}\r\n`).join('');
    return out;
  } catch (err) {
    return { violations: [], headers: '', error: (err as Error).message };
  }
}
