/**
 * Runs the enabled modules on one message, at the same time: sender
 * authentication, anti-virus (whole message; then attachment by attachment
 * when DeleteAttachment needs to know which), anti-spam, content filter.
 */
import type { Resolver } from 'node:dns/promises';
import type { GatewayConfig } from '../../api/index.ts';
import { checkAuthentication, type AuthResult } from './auth-check.ts';
import { scanWithClamd } from './clamd-client.ts';
import { checkContent, type PartMemory } from './content-filter.ts';
import { decodedPartSource, leaves, type MimePart } from '../mime/mime-parts.ts';
import { scanMime } from '../mime/mime-scan.ts';
import type { MessageSource } from '../spool/incoming.ts';
import { scanWithRspamd } from './rspamd-client.ts';
import type { ScanReport } from './verdict.ts';
import { authenticationApplies } from '../verdict-types.ts';

export { authenticationApplies, scanningEnabled } from '../verdict-types.ts';

export interface ScanInput {
  /** The message as received (with our Received header), read from the incoming file: never whole in memory. */
  message: MessageSource;
  ip: string;
  helo: string;
  /** The client is in a trusted network: sender authentication is for mail from outside and is skipped (Postfix permit_mynetworks first). */
  trusted: boolean;
  /** The host anti-spam should judge when the client is a relay we trust (the edge): from the Received headers (received-origin.ts). */
  origin?: { ip: string; helo: string } | undefined;
  sender: string;
  recipients: string[];
  qid: string;
  /** Sender authentication already checked (for rules that match on its results): not run again. */
  auth?: AuthResult | undefined;
}

export type ScanObserver = (scanner: 'clamd' | 'rspamd' | 'mailauth' | 'content', seconds: number, failed: boolean) => void;

async function timed<T>(scanner: Parameters<ScanObserver>[0], observe: ScanObserver | undefined, run: () => Promise<T>, failed: (r: T) => boolean): Promise<T> {
  const start = performance.now();
  const r = await run();
  observe?.(scanner, (performance.now() - start) / 1000, failed(r));
  return r;
}

export async function scanMessage(c: GatewayConfig, resolver: Resolver, s: ScanInput, observe?: ScanObserver, memory?: PartMemory): Promise<ScanReport> {
  const p = c.protection;
  const a = c.authentication;
  const root: MimePart = await scanMime(s.message);
  const [auth, av, spam, content] = await Promise.all([
    s.auth ?? (authenticationApplies(c, s.trusted) ? timed('mailauth', observe, () => checkAuthentication(s.message, { ip: s.ip, helo: s.helo, sender: s.sender, hostname: c.hostname, resolver, config: a }), (r) => r.error !== undefined) : undefined),
    p.antivirus.enabled ? timed('clamd', observe, () => scanWithClamd(p.antivirus.clamd, s.message, { timeoutMs: p.antivirus.timeoutMs, maxScanSize: p.antivirus.maxScanSize }), (r) => r.status === 'error') : undefined,
    p.antispam.enabled ? timed('rspamd', observe, () => scanWithRspamd(p.antispam.rspamd, s.message, { ip: s.origin?.ip ?? s.ip, helo: s.origin?.helo ?? s.helo, from: s.sender, rcpts: s.recipients, qid: s.qid, hostname: c.hostname }, p.antispam.timeoutMs), (r) => r.status === 'error') : undefined,
    p.contentFilter.enabled ? timed('content', observe, () => checkContent(s.message, root, p.contentFilter, memory), () => false) : undefined,
  ]);
  const report: ScanReport = { auth, av, spam, content };
  if (av?.status === 'infected' && p.antivirus.actions.infected === 'DeleteAttachment') {
    const attachments = leaves(root).filter((part) => part !== root && (part.filename || !part.contentType.startsWith('text/')));
    // Each attachment decoded as a stream straight into clamd: none is ever whole in memory.
    const results = await Promise.all(attachments.map((part) => scanWithClamd(p.antivirus.clamd, decodedPartSource(s.message, part, p.antivirus.maxScanSize), { timeoutMs: p.antivirus.timeoutMs, maxScanSize: p.antivirus.maxScanSize })));
    report.infectedParts = attachments.filter((_, i) => results[i]!.status === 'infected');
  }
  return report;
}
