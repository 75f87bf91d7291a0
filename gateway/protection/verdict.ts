/**
 * From module results to one action (KSMG precedence: Delete > Reject >
 * DeleteAttachment > Skip). Pure: scan-message.ts produces the results,
 * smtpd-data.ts carries the action out.
 */
import type { GatewayConfig } from '../../api/index.ts';
import type { AuthResult } from './auth-check.ts';
import type { AvResult } from './clamd-client.ts';
import type { ContentResult } from './content-filter.ts';
import type { MimePart } from '../mime/mime-parts.ts';
import type { SpamResult } from './rspamd-client.ts';
import type { Action, Finding, Verdict } from '../verdict-types.ts';

export type { Action, Finding, Verdict } from '../verdict-types.ts';

const RANK: Record<Action, number> = { Skip: 0, DeleteAttachment: 1, Reject: 2, Delete: 3 };

export function strongest(actions: Action[]): Action {
  return actions.reduce<Action>((a, b) => (RANK[b] > RANK[a] ? b : a), 'Skip');
}

export interface ScanReport {
  auth?: AuthResult | undefined;
  av?: AvResult | undefined;
  /** Leaf parts found infected (scanned one by one when DeleteAttachment needs them). */
  infectedParts?: MimePart[] | undefined;
  spam?: SpamResult | undefined;
  content?: ContentResult | undefined;
}

/**
 * `auth.enabled` false (a rule that does not count authentication): its
 * violations decide nothing, though the results are still reported.
 */
export function decide(report: ScanReport, p: GatewayConfig['protection'], auth: Pick<GatewayConfig['authentication'], 'action'> & { enabled?: boolean }): Verdict {
  const actions: Action[] = [];
  const findings: Finding[] = [];
  const reasons: string[] = [];
  const remove: MimePart[] = [];
  let tempfail: string | undefined;
  // The scan ran once for every rule group (rule-settings.ts, scanConfigFor): take only this rule's modules.
  const r: ScanReport = { ...report, av: p.antivirus.enabled ? report.av : undefined, spam: p.antispam.enabled ? report.spam : undefined, content: p.contentFilter.enabled ? report.content : undefined };
  const failed = (what: string) => {
    if (p.onScannerFailure === 'Tempfail') tempfail ??= what;
    reasons.push(`${what} (not scanned)`);
  };
  if (r.av) {
    if (r.av.status === 'error') failed(r.av.error);
    else if (r.av.status !== 'clean') {
      const a = r.av.status === 'infected' ? p.antivirus.actions.infected : p.antivirus.actions.encrypted;
      findings.push('Virus');
      reasons.push(`antivirus: ${r.av.status} ${r.av.name}`);
      if (a === 'DeleteAttachment') {
        if (r.infectedParts && r.infectedParts.length > 0) remove.push(...r.infectedParts);
        else actions.push('Delete'); // nothing separable to remove: the message itself is infected
      }
      actions.push(a);
    }
  }
  if (r.spam) {
    if (r.spam.status === 'error') failed(r.spam.error);
    else if (r.spam.status !== 'clean') {
      const a = r.spam.status === 'spam' ? p.antispam.actions.spam : p.antispam.actions.probableSpam;
      findings.push(r.spam.status === 'spam' ? 'Spam' : 'ProbableSpam');
      reasons.push(`antispam: ${r.spam.status} (score ${r.spam.score}, ${r.spam.action})`);
      actions.push(a);
    }
  }
  if (r.content?.matched) {
    findings.push('Content');
    reasons.push(...r.content.reasons.map((x) => `content: ${x}`));
    const a = p.contentFilter.action;
    if (a === 'DeleteAttachment') {
      if (r.content.parts.length > 0) remove.push(...r.content.parts);
      else actions.push('Delete');
    }
    actions.push(a);
  }
  if (r.auth) {
    if (r.auth.error) failed(`authentication: ${r.auth.error}`);
    if (r.auth.violations.length > 0 && auth.enabled !== false) {
      findings.push('Authentication');
      reasons.push(`authentication: ${r.auth.violations.join(' ')}`);
      actions.push(r.auth.dmarcPolicy === 'reject' ? 'Reject' : auth.action);
    }
  }
  const status = {
    antivirus: !r.av ? 'off' : r.av.status === 'error' ? 'error' : r.av.status === 'clean' ? 'clean' : `${r.av.status} ${r.av.name}`,
    antispam: !r.spam ? 'off' : r.spam.status === 'error' ? 'error' : `${r.spam.status} score=${r.spam.score}`,
    content: !r.content ? 'off' : r.content.matched ? 'matched' : 'clean',
    authentication: !r.auth ? 'off' : r.auth.error ? 'error' : [r.auth.spf && `spf=${r.auth.spf}`, r.auth.dkim && `dkim=${r.auth.dkim}`, r.auth.dmarc && `dmarc=${r.auth.dmarc}`].filter(Boolean).join(' ') || 'none',
  };
  const files = [...new Set([...(r.infectedParts ?? []), ...(r.content?.parts ?? [])].flatMap((part) => (part.filename ? [part.filename] : [])))];
  const virus = r.av && (r.av.status === 'infected' || r.av.status === 'encrypted') ? r.av.name : undefined;
  return { action: strongest(actions), findings, virus, files, tempfail, removeParts: remove, reasons, status, authHeaders: r.auth?.headers ?? '', spamSymbols: r.spam && r.spam.status !== 'error' ? r.spam.symbols : [] };
}
