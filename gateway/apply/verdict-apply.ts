/**
 * Verdict application, the stage between decide (protection/) and the
 * injector: the message is in its incoming file and each rule group has its
 * verdict (protection/judge.ts); here they are carried out, in this order:
 *
 * 1. a scanner failure with policy Tempfail → 451 4.7.1, nothing kept;
 * 2. rules with `backup` keep the original in the backup store;
 * 3. every recipient's action Reject → 554 5.7.1, nothing queued (notices
 *    to recipients and admins are still sent; the sender has the 5xx);
 * 4. each group to be delivered (Skip, Scan passed, DeleteAttachment) is
 *    written from the incoming file into its own queue entry — the first
 *    keeps the session's queue id — through, in order: attachments removed,
 *    the disclaimer (disclaimer.ts), header edits (remove and set, then the
 *    rule's added fields, Authentication-Results and X-Mailgw-* verdict
 *    headers), subject tags per finding; the rule's BCC addresses are more
 *    recipients of that same entry (one commit: the copy exists exactly when
 *    the delivered message does). Delete and Reject groups are not queued;
 * 5. notifications of each group's rule (rule-notify.ts), after the
 *    message is committed;
 * 6. recipients rejected after the session (some, not all) get an NDR
 *    (protection.ndrAfterSession), through the bounce stage.
 *
 * applyVerdict resolves to the 250 reply text, or throws the SMTP reply.
 */
import libmime from 'libmime';
import type { GatewayConfig } from '../../api/index.ts';
import { queueBounce, type BounceContext } from '../bounce/bounce-queue.ts';
import { FULL_RETURN_LIMIT } from '../bounce/dsn-build.ts';
import { recipientOf, type NewEnvelope } from '../inject/envelope-build.ts';
import { writeEdited, type Edit } from './message-edit.ts';
import { disclaimerWriter } from './disclaimer.ts';
import { notifyRule, subjectOf, templateVars } from './rule-notify.ts';
import type { Finding, Verdict } from '../verdict-types.ts';
import { scanningEnabled } from '../verdict-types.ts';
import { newQueueId } from '../queue-id.ts';
import type { Runtime } from '../runtime.ts';
import { replies } from '../smtp-replies.ts';
import { oneLine, renderTemplate } from '../template.ts';
import type { MessageSource } from '../spool/incoming.ts';
import type { EnvelopeRecipient } from '../spool/spool-types.ts';

/** A received message waiting for its verdict to be carried out. */
export interface ReceivedMessage {
  qid: string;
  mailFrom: string;
  client: string;
  recipients: EnvelopeRecipient[];
  /** The message as received, behind our Received header (the incoming file). */
  original: MessageSource;
  /** The envelope of a queue entry for some of the recipients (the one envelope builder, with the session's details). */
  envelope: (id: string, rcptTo: EnvelopeRecipient[]) => NewEnvelope;
  /** Fields for the message's log lines. */
  log: Record<string, unknown>;
  /** The reply (and log line) for a queue entry that could not be written. */
  spoolFailed: (err: unknown) => Error;
  /** Why the sender is most likely forged (SPF or DMARC failed, spam), or undefined: never notified (no backscatter), and no DSN (it is kept in the envelope). */
  senderSuspect: string | undefined;
}

const DEFAULT_RULE = { name: 'default', mode: 'Scan' as const, backup: false };
export const ruleOf = (r: EnvelopeRecipient) => r.rule ?? DEFAULT_RULE;

/** X-Mailgw-* headers: only when the gateway has something to say (scanning configured), so plain relaying adds nothing but Received. */
export function infoHeaders(cfg: GatewayConfig, rule: string, action: string, v: Verdict | undefined): string {
  if (!cfg.protection.infoHeaders || (!v && !scanningEnabled(cfg))) return '';
  return [`X-Mailgw-Rule: ${rule}`, `X-Mailgw-Action: ${action}`,
    ...(v ? [`X-Mailgw-AntiVirus: ${v.status.antivirus}`, `X-Mailgw-AntiSpam-Status: ${v.status.antispam}`, ...(v.status.content !== 'off' ? [`X-Mailgw-Content: ${v.status.content}`] : [])] : [])]
    .map((l) => `${l}\r\n`).join('');
}

/** Recipients grouped by the rule that applied to them, in the order first seen. */
export function groupByRule(recipients: readonly EnvelopeRecipient[]): Map<string, EnvelopeRecipient[]> {
  const groups = new Map<string, EnvelopeRecipient[]>();
  for (const r of recipients) groups.set(ruleOf(r).name, [...(groups.get(ruleOf(r).name) ?? []), r]);
  return groups;
}

type Rule = GatewayConfig['rules'][number];

/** Header text as sent: an RFC 2047 encoded-word when it is not ASCII. */
function headerText(text: string): string {
  return /[^\x20-\x7e\t]/.test(text) ? libmime.encodeWord(text, 'Q', 52) : text;
}

/** Subject tags for what was found, in a fixed order: the rule's template, else (spam) the gateway's subjectTag. */
export function subjectTags(cfg: GatewayConfig, rule: Rule | undefined, v: Verdict | undefined, vars: Record<string, string>): string | undefined {
  if (!v) return undefined;
  const t = rule?.actions?.subjectTags;
  const spamTag = cfg.protection.antispam.subjectTag || undefined;
  const byFinding: Record<Finding, string | undefined> = {
    Virus: t?.virus, Spam: t?.spam ?? spamTag, ProbableSpam: t?.probableSpam ?? spamTag, Content: t?.content, Authentication: t?.authentication,
  };
  const tags = [...new Set(v.findings.map((f) => byFinding[f]).filter((x): x is string => Boolean(x)).map((x) => oneLine(renderTemplate(x, vars), 200)))];
  return tags.length > 0 ? tags.map(headerText).join(' ') : undefined;
}

export async function applyVerdict(rt: Runtime, received: ReceivedMessage, verdicts: Map<string, Verdict>): Promise<string> {
  const cfg = rt.config;
  // Every queue entry of this message remembers a suspect sender, so that no later DSN goes to it (dsn.suppressForSuspectSenders).
  const m: ReceivedMessage = received.senderSuspect ? { ...received, envelope: (id, rcptTo) => ({ ...received.envelope(id, rcptTo), suspect: received.senderSuspect }) } : received;
  const groups = groupByRule(m.recipients);
  const verdictOf = (name: string) => verdicts.get(name);
  const actionOf = (name: string, mode: string) => (mode === 'Delete' ? 'Delete' : mode === 'Skip' ? 'Skip' : mode === 'Reject' ? 'Reject' : verdictOf(name)?.action ?? 'Skip');
  const groupAction = (name: string) => actionOf(name, ruleOf(groups.get(name)![0]!).mode);
  const reasonsOf = (name: string) => verdictOf(name)?.reasons ?? (ruleOf(groups.get(name)![0]!).mode === 'Reject' ? [`rule ${name}`] : []);
  const memory = <T>(n: number, fn: () => Promise<T>) => rt.memory.run(n, fn);
  const allVerdicts = [...verdicts.values()];
  rt.logger.info({
    event: 'verdict', qid: m.qid, from: m.mailFrom, client: m.client,
    rules: [...groups].map(([name, rs]) => ({
      rule: name, mode: ruleOf(rs[0]!).mode, action: groupAction(name), to: rs.map((r) => r.address),
      ...(verdictOf(name) ? { status: verdictOf(name)!.status, reasons: verdictOf(name)!.reasons } : {}),
    })),
    ...(allVerdicts.length === 1 ? { status: allVerdicts[0]!.status, action: allVerdicts[0]!.action, reasons: allVerdicts[0]!.reasons, tempfail: allVerdicts[0]!.tempfail, ...(allVerdicts[0]!.spamSymbols.length ? { symbols: allVerdicts[0]!.spamSymbols } : {}) } : {}),
  }, allVerdicts.length > 0 ? `verdict: ${[...groups.keys()].map((n) => `${n} ${groupAction(n)}`).join(', ')}${allVerdicts.some((v) => v.reasons.length) ? ` (${[...new Set(allVerdicts.flatMap((v) => v.reasons))].join('; ')})` : ''}` : 'verdict: no scanning');

  const tempfail = allVerdicts.find((v) => v.tempfail)?.tempfail;
  if (tempfail) {
    rt.metrics.messages.inc({ outcome: 'tempfail', reason: 'scanner', rule: '' });
    rt.logger.warn({ ...m.log, code: 451, reason: tempfail }, 'message deferred: scanner unavailable');
    throw replies.scannerTempfail();
  }
  // Backups keep the original, whatever happens to the message next.
  for (const [name, rs] of groups) {
    if (!ruleOf(rs[0]!).backup) continue;
    const b = await rt.backup.storeFrom(m.original, { qid: m.qid, from: m.mailFrom, to: rs.map((r) => r.address), client: m.client, rule: name, action: groupAction(name), reasons: reasonsOf(name) });
    rt.logger.info({ event: 'backup', qid: m.qid, backupId: b.id, rule: name }, `original kept in the backup store: ${b.id}`);
  }
  const bounceCtx: BounceContext = { injector: rt.injector, hostname: cfg.hostname, domains: rt.domains, logger: rt.logger, metrics: rt.metrics, now: Date.now, policy: cfg.dsn, resolver: rt.resolver };
  // The Subject is read only for rules that have actions (templates, notices).
  const subject = [...groups.keys()].some((n) => rt.rules.get(n)?.actions) ? await subjectOf(m.original) : '';
  const notices = async (inSession: boolean) => {
    for (const [name, rs] of groups) {
      const rule = rt.rules.get(name);
      if (!rule?.actions?.notify.length) continue;
      await notifyRule(bounceCtx, rule, {
        action: groupAction(name), verdict: verdictOf(name), qid: m.qid, sender: m.mailFrom, recipients: rs.map((r) => r.address), subject,
        senderSuspect: Boolean(m.senderSuspect), senderGotReply: inSession,
      });
    }
  };
  const rejected = m.recipients.filter((r) => groupAction(ruleOf(r).name) === 'Reject');
  if (rejected.length === m.recipients.length) {
    const reasons = [...groups.keys()].flatMap(reasonsOf);
    const reply = replies.contentReject(reasons.join('; ') || 'rejected');
    await notices(true);
    rt.metrics.messages.inc({ outcome: 'rejected', reason: 'policy', rule: [...groups.keys()].join(',') });
    rt.logger.info({ ...m.log, code: 554, reply: reply.message }, 'message refused by policy');
    throw reply;
  }
  let first = true;
  try {
    for (const [name, rs] of groups) {
      const action = groupAction(name);
      if (action === 'Delete' || action === 'Reject') continue;
      const rule = rt.rules.get(name);
      const scanned = ruleOf(rs[0]!).mode === 'Scan' ? verdictOf(name) : undefined;
      const vars = templateVars(cfg.hostname, name, action, scanned, m.qid, m.mailFrom, rs.map((r) => r.address), subject);
      const h = rule?.actions?.headers;
      const ruleHeaders = [...(h?.set ?? []), ...(h?.add ?? [])].map((f) => `${f.name}: ${headerText(oneLine(renderTemplate(f.value, vars)))}\r\n`).join('');
      const edit: Edit = {
        prepend: `${ruleHeaders}${scanned?.authHeaders ?? ''}${infoHeaders(cfg, name, action, scanned)}`,
        subjectTag: subjectTags(cfg, rule, scanned, vars),
        removeHeaders: [...(h?.remove ?? []), ...(h?.set ?? []).map((f) => f.name)],
        removeParts: action === 'DeleteAttachment' ? scanned?.removeParts : undefined,
        notice: 'An attachment was removed by the mail gateway because it violated the mail policy.',
      };
      const id = first ? m.qid : newQueueId();
      first = false;
      // BCC copies are recipients of the same entry: committed together with the message, or not at all.
      const have = new Set(rs.map((r) => r.address.toLowerCase()));
      const bcc = (rule?.actions?.bcc ?? []).filter((a) => !have.has(a.toLowerCase()) && have.add(a.toLowerCase())).map((a) => recipientOf(a, rt.domains));
      const disclaimer = rule?.actions?.disclaimer;
      // The message as delivered is written from the incoming file through the edits into the spool, as a stream.
      await rt.injector.inject(id, async (w) => {
        if (!disclaimer) return writeEdited(m.original, edit, w, memory);
        const d = disclaimerWriter({ text: renderTemplate(disclaimer.text, vars), html: disclaimer.html !== undefined ? renderTemplate(disclaimer.html, vars) : undefined }, w);
        await writeEdited(m.original, edit, d.write, memory);
        await d.end();
        if (!d.added) rt.logger.info({ event: 'disclaimer-skipped', qid: id, rule: name }, 'no disclaimer: the message is signed or encrypted, or has no text body');
      }, m.envelope(id, [...rs, ...bcc]));
      if (bcc.length > 0) rt.logger.info({ event: 'bcc', qid: id, rule: name, to: bcc.map((r) => r.address) }, 'copy for the rule\'s BCC addresses');
      if (id !== m.qid) rt.logger.info({ event: 'split', qid: m.qid, splitQid: id, rule: name, to: rs.map((r) => r.address) }, 'recipients with another outcome queued separately');
    }
  } catch (err) {
    throw m.spoolFailed(err);
  }
  await notices(false);
  if (rejected.length > 0 && cfg.protection.ndrAfterSession) {
    const env = { ...m.envelope(m.qid, m.recipients), size: m.original.size, crc: 0 };
    // A DSN returns at most FULL_RETURN_LIMIT bytes whole, else the headers: that much is read.
    await queueBounce(bounceCtx, env, await m.original.read(0, FULL_RETURN_LIMIT + 1), rejected.map((r) => ({
      address: r.address, orcpt: r.dsn?.orcpt,
      state: { status: 'failed' as const, statusCode: '5.7.1', diagnostic: `Message refused by policy: ${reasonsOf(ruleOf(r).name).join('; ')}` },
    })));
  }
  for (const [name] of groups) {
    const action = groupAction(name);
    rt.metrics.messages.inc({ outcome: action === 'Delete' ? 'deleted' : action === 'Reject' ? 'rejected' : 'accepted', reason: action === 'Skip' ? '' : (reasonsOf(name)[0]?.split(':')[0] ?? 'rule'), rule: name });
  }
  rt.logger.info({ ...m.log, code: 250, rcpts: m.recipients.length, deleted: m.recipients.filter((r) => groupAction(ruleOf(r).name) === 'Delete').map((r) => r.address), rejected: rejected.map((r) => r.address) }, 'message accepted');
  return replies.queued(m.qid);
}
