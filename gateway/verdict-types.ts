/**
 * What the decide stage (protection/) hands the apply stage (apply/): the
 * verdict on one message, and whether the gateway scans at all. Shared so
 * that no stage imports an earlier one's folder.
 */
import type { GatewayConfig } from '../api/index.ts';
import type { MimePart } from './mime/mime-parts.ts';

export type Action = 'Skip' | 'Reject' | 'Delete' | 'DeleteAttachment';

/** What a module found, for notifications and subject tags (api/rule.ts NOTIFY_WHEN). */
export type Finding = 'Virus' | 'Spam' | 'ProbableSpam' | 'Content' | 'Authentication';

export interface Verdict {
  action: Action;
  findings: Finding[];
  /** The virus name, when anti-virus found one. */
  virus?: string | undefined;
  /** Attachment names that the findings concern (infected or matched parts). */
  files: string[];
  /** A scanner failed and policy says tempfail: answer 451 4.7.1. */
  tempfail?: string | undefined;
  removeParts: MimePart[];
  reasons: string[];
  status: { antivirus: string; antispam: string; content: string; authentication: string };
  /** Authentication-Results (and Received-SPF) lines to add, with CRLFs. */
  authHeaders: string;
  /** rspamd's symbols, for the log. */
  spamSymbols: string[];
}

/** Sender authentication applies: some check on, and the client is not in a trusted network. */
export function authenticationApplies(c: GatewayConfig, trusted: boolean): boolean {
  const a = c.authentication;
  return !trusted && (a.spf || a.dkim || a.dmarc);
}

export function scanningEnabled(c: GatewayConfig, trusted = false): boolean {
  const p = c.protection;
  return authenticationApplies(c, trusted) || p.antivirus.enabled || p.antispam.enabled || p.contentFilter.enabled;
}

