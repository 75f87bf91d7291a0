/**
 * The decide stage for one received message: the final rule of each
 * recipient, then one scan with every module some rule group wants, then a
 * verdict per rule group with that rule's own settings.
 *
 * 1. Recipients whose rule was deferred at RCPT (rules.ts: end-of-data
 *    conditions) get their rule now, from the message's facts: its size,
 *    its header fields (unfolded, RFC 2047 decoded) and, when some rule
 *    matches on them, the sender authentication results (checked first,
 *    then reused by the scan).
 * 2. The scan (scan-message.ts) runs once with the union of the Scan rule
 *    groups' modules (rule-settings.ts).
 * 3. decide() per Scan group with protectionFor/authenticationFor its rule;
 *    groups with mode Skip, Delete or Reject get no verdict.
 */
import type { Resolver } from 'node:dns/promises';
import type { GatewayConfig } from '../../api/index.ts';
import { headerFields } from '../mime/header-fields.ts';
import type { EnvelopeRecipient } from '../spool/spool-types.ts';
import { authenticationApplies, type Verdict } from '../verdict-types.ts';
import { checkAuthentication, type AuthResult } from './auth-check.ts';
import type { PartMemory } from './content-filter.ts';
import { authenticationFor, protectionFor, scanConfigFor, scansUnder } from './rule-settings.ts';
import { authOutcome, type MessageFacts, type RuleTable } from './rules.ts';
import { scanMessage, type ScanInput, type ScanObserver } from './scan-message.ts';
import { decide, type ScanReport } from './verdict.ts';

/** Header bytes read for rules' header conditions. */
const FACT_HEADER_BYTES = 256 * 1024;

export interface JudgeContext {
  config: GatewayConfig;
  rules: RuleTable;
  resolver: Resolver;
  observe?: ScanObserver | undefined;
  memory?: PartMemory | undefined;
}

export interface Judgement {
  /** The recipients with their final rules. */
  recipients: EnvelopeRecipient[];
  /** Verdict per rule name (Scan groups that had something to run). */
  verdicts: Map<string, Verdict>;
  /** Why the sender is most likely forged — SPF or DMARC failed, or the message scored as (probable) spam — or undefined: such a sender gets no notices and no DSNs. */
  senderSuspect: string | undefined;
}

/** A sender we must not write to: SPF fail or softfail, DMARC fail, or spam; the reason, or undefined. */
export function suspectSender(auth: AuthResult | undefined, spam: ScanReport['spam']): string | undefined {
  if (auth?.spf === 'fail' || auth?.spf === 'softfail') return `SPF ${auth.spf}`;
  if (auth?.dmarc === 'fail') return 'DMARC fail';
  if (spam?.status === 'spam' || spam?.status === 'probable') return `scored as ${spam.status === 'spam' ? 'spam' : 'probable spam'} (${spam.score})`;
  return undefined;
}

/** Some recipient's rule may write to the sender: the sender must then be checked first (no backscatter). */
function notifiesSender(rules: RuleTable, recipients: readonly EnvelopeRecipient[]): boolean {
  return recipients.some((r) => r.rule && rules.get(r.rule.name)?.actions?.notify.some((n) => n.to === 'Sender'));
}

/** Whether the message must be judged (read into an incoming file and scanned) before its reply. */
export function needsJudgement(cfg: GatewayConfig, rules: RuleTable, recipients: readonly EnvelopeRecipient[], trusted: boolean): boolean {
  return recipients.some((r) => r.rule?.deferred || ((r.rule?.mode ?? 'Scan') === 'Scan' && scansUnder(cfg, r.rule ? rules.get(r.rule.name) : undefined, trusted)))
    || (notifiesSender(rules, recipients) && authenticationApplies(cfg, trusted));
}

export async function judge(ctx: JudgeContext, input: Omit<ScanInput, 'auth'>, recipients: EnvelopeRecipient[]): Promise<Judgement> {
  const cfg = ctx.config;
  let auth: AuthResult | undefined;
  const checkSender = () => checkAuthentication(input.message, { ip: input.ip, helo: input.helo, sender: input.sender, hostname: cfg.hostname, resolver: ctx.resolver, config: cfg.authentication });
  if (recipients.some((r) => r.rule?.deferred)) {
    if (ctx.rules.needsAuthFacts && authenticationApplies(cfg, input.trusted)) auth = await checkSender();
    const facts: MessageFacts = {
      size: input.message.size,
      headers: headerFields(await input.message.read(0, FACT_HEADER_BYTES)),
      auth: auth && !auth.error ? { spf: authOutcome(auth.spf), dkim: authOutcome(auth.dkim), dmarc: authOutcome(auth.dmarc) } : undefined,
    };
    recipients = recipients.map((r) => (r.rule?.deferred ? { ...r, rule: ctx.rules.chooseWithFacts(input.sender, input.ip, r.address, facts) } : r));
  }
  // A rule that writes to the sender needs to know whether the sender is forged, whatever it scans.
  if (!auth && notifiesSender(ctx.rules, recipients) && authenticationApplies(cfg, input.trusted)) auth = await checkSender();
  const scanRules = [...new Set(recipients.filter((r) => (r.rule?.mode ?? 'Scan') === 'Scan').map((r) => r.rule?.name ?? 'default'))]
    .map((name) => ({ name, rule: ctx.rules.get(name) }))
    .filter((g) => scansUnder(cfg, g.rule, input.trusted));
  const verdicts = new Map<string, Verdict>();
  if (scanRules.length === 0) return { recipients, verdicts, senderSuspect: suspectSender(auth, undefined) };
  const report = await scanMessage(scanConfigFor(cfg, scanRules.map((g) => g.rule)), ctx.resolver, { ...input, auth }, ctx.observe, ctx.memory);
  for (const g of scanRules) verdicts.set(g.name, decide(report, protectionFor(cfg, g.rule), authenticationFor(cfg, g.rule)));
  return { recipients, verdicts, senderSuspect: suspectSender(report.auth, report.spam) };
}
