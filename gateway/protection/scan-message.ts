/**
 * Runs the enabled modules on one message, at the same time: sender
 * authentication, anti-virus (whole message; then attachment by attachment
 * when DeleteAttachment needs to know which), anti-spam, content filter.
 */
import type { Resolver } from 'node:dns/promises';
import type { GatewayConfig } from '../../api/index.ts';
import { checkAuthentication } from './auth-check.ts';
import { scanWithClamd } from './clamd-client.ts';
import { checkContent } from './content-filter.ts';
import { decodeBody, leaves, parseMime, type MimePart } from './mime-parts.ts';
import { scanWithRspamd } from './rspamd-client.ts';
import type { ScanReport } from './verdict.ts';

export interface ScanInput {
  message: Buffer;
  ip: string;
  helo: string;
  sender: string;
  recipients: string[];
  qid: string;
}

export function scanningEnabled(c: GatewayConfig): boolean {
  const a = c.authentication;
  const p = c.protection;
  return a.spf || a.dkim || a.dmarc || p.antivirus.enabled || p.antispam.enabled || p.contentFilter.enabled;
}

export async function scanMessage(c: GatewayConfig, resolver: Resolver, s: ScanInput): Promise<ScanReport> {
  const p = c.protection;
  const a = c.authentication;
  const root: MimePart = parseMime(s.message);
  const [auth, av, spam, content] = await Promise.all([
    a.spf || a.dkim || a.dmarc ? checkAuthentication(s.message, { ip: s.ip, helo: s.helo, sender: s.sender, hostname: c.hostname, resolver, config: a }) : undefined,
    p.antivirus.enabled ? scanWithClamd(p.antivirus.clamd, s.message, { timeoutMs: p.antivirus.timeoutMs, maxScanSize: p.antivirus.maxScanSize }) : undefined,
    p.antispam.enabled ? scanWithRspamd(p.antispam.rspamd, s.message, { ip: s.ip, helo: s.helo, from: s.sender, rcpts: s.recipients, qid: s.qid, hostname: c.hostname }, p.antispam.timeoutMs) : undefined,
    p.contentFilter.enabled ? checkContent(s.message, root, p.contentFilter) : undefined,
  ]);
  const report: ScanReport = { auth, av, spam, content };
  if (av?.status === 'infected' && p.antivirus.actions.infected === 'DeleteAttachment') {
    const attachments = leaves(root).filter((part) => part !== root && (part.filename || !part.contentType.startsWith('text/')));
    const results = await Promise.all(attachments.map((part) => scanWithClamd(p.antivirus.clamd, decodeBody(s.message, part), { timeoutMs: p.antivirus.timeoutMs, maxScanSize: p.antivirus.maxScanSize })));
    report.infectedParts = attachments.filter((_, i) => results[i]!.status === 'infected');
  }
  return report;
}
