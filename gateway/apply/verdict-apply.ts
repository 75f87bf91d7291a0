/**
 * Verdict application, the stage between receive (smtpd/) and the injector:
 * the message is in its incoming file and the verdict is decided
 * (protection/); here it is carried out per rule group, in this order:
 *
 * 1. a scanner failure with policy Tempfail → 451 4.7.1, nothing kept;
 * 2. rules with `backup` keep the original in the backup store;
 * 3. every recipient's action Reject → 554 5.7.1, nothing queued;
 * 4. each group to be delivered (Skip, Scan passed, DeleteAttachment) is
 *    written through the message edits (verdict headers, subject tag,
 *    Authentication-Results, attachments removed) into its own queue entry —
 *    the first keeps the session's queue id, the others get new ones;
 *    Delete and Reject groups are not queued;
 * 5. recipients rejected after the session (some, not all) get an NDR
 *    (protection.ndrAfterSession), through the bounce stage.
 *
 * applyVerdict resolves to the 250 reply text, or throws the SMTP reply.
 */
import type { GatewayConfig } from '../../api/index.ts';
import { queueBounce } from '../bounce/bounce-queue.ts';
import { FULL_RETURN_LIMIT } from '../bounce/dsn-build.ts';
import type { NewEnvelope } from '../inject/envelope-build.ts';
import { writeEdited } from './message-edit.ts';
import type { Verdict } from '../verdict-types.ts';
import { scanningEnabled } from '../verdict-types.ts';
import { newQueueId } from '../queue-id.ts';
import type { Runtime } from '../runtime.ts';
import { replies } from '../smtp-replies.ts';
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
}

const DEFAULT_RULE = { name: 'default', mode: 'Scan' as const, backup: false };
export const ruleOf = (r: EnvelopeRecipient) => r.rule ?? DEFAULT_RULE;

/** X-Mailgw-* headers: only when the gateway has something to say (scanning configured), so plain relaying adds nothing but Received. */
export function infoHeaders(cfg: GatewayConfig, rule: string, action: string, v: Verdict | undefined): string {
  if (!cfg.protection.infoHeaders || !scanningEnabled(cfg)) return '';
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

export async function applyVerdict(rt: Runtime, m: ReceivedMessage, verdict: Verdict | undefined): Promise<string> {
  const cfg = rt.config;
  const groups = groupByRule(m.recipients);
  const actionOf = (rule: { mode: string }) => (rule.mode === 'Delete' ? 'Delete' : rule.mode === 'Skip' ? 'Skip' : verdict?.action ?? 'Skip');
  const memory = <T>(n: number, fn: () => Promise<T>) => rt.memory.run(n, fn);
  rt.logger.info({
    event: 'verdict', qid: m.qid, from: m.mailFrom, client: m.client,
    rules: [...groups].map(([name, rs]) => ({ rule: name, mode: ruleOf(rs[0]!).mode, action: actionOf(ruleOf(rs[0]!)), to: rs.map((r) => r.address) })),
    ...(verdict ? { status: verdict.status, action: verdict.action, reasons: verdict.reasons, tempfail: verdict.tempfail, ...(verdict.spamSymbols.length ? { symbols: verdict.spamSymbols } : {}) } : {}),
  }, verdict ? `verdict: ${verdict.action}${verdict.reasons.length ? ` (${verdict.reasons.join('; ')})` : ''}` : 'verdict: no scanning');

  if (verdict?.tempfail) {
    rt.metrics.messages.inc({ outcome: 'tempfail', reason: 'scanner', rule: '' });
    rt.logger.warn({ ...m.log, code: 451, reason: verdict.tempfail }, 'message deferred: scanner unavailable');
    throw replies.scannerTempfail();
  }
  // Backups keep the original, whatever happens to the message next.
  for (const [name, rs] of groups) {
    if (!ruleOf(rs[0]!).backup) continue;
    const b = await rt.backup.storeFrom(m.original, { qid: m.qid, from: m.mailFrom, to: rs.map((r) => r.address), client: m.client, rule: name, action: actionOf(ruleOf(rs[0]!)), reasons: verdict?.reasons ?? [] });
    rt.logger.info({ event: 'backup', qid: m.qid, backupId: b.id, rule: name }, `original kept in the backup store: ${b.id}`);
  }
  const rejected = m.recipients.filter((r) => actionOf(ruleOf(r)) === 'Reject');
  if (rejected.length === m.recipients.length) {
    const reply = replies.contentReject(verdict?.reasons.join('; ') ?? 'rejected');
    rt.metrics.messages.inc({ outcome: 'rejected', reason: 'policy', rule: [...groups.keys()].join(',') });
    rt.logger.info({ ...m.log, code: 554, reply: reply.message }, 'message refused by policy');
    throw reply;
  }
  let first = true;
  try {
  for (const [name, rs] of groups) {
    const action = actionOf(ruleOf(rs[0]!));
    if (action === 'Delete' || action === 'Reject') continue;
    const scanned = ruleOf(rs[0]!).mode === 'Scan' ? verdict : undefined;
    const edit = {
      prepend: `${scanned?.authHeaders ?? ''}${infoHeaders(cfg, name, action, scanned)}`,
      subjectTag: scanned?.tagSubject ? cfg.protection.antispam.subjectTag : undefined,
      removeParts: action === 'DeleteAttachment' ? scanned?.removeParts : undefined,
      notice: 'An attachment was removed by the mail gateway because it violated the mail policy.',
    };
    const id = first ? m.qid : newQueueId();
    first = false;
    // The message as delivered is written from the incoming file through the edits into the spool, as a stream.
    await rt.injector.inject(id, (w) => writeEdited(m.original, edit, w, memory), m.envelope(id, rs));
    if (id !== m.qid) rt.logger.info({ event: 'split', qid: m.qid, splitQid: id, rule: name, to: rs.map((r) => r.address) }, 'recipients with another outcome queued separately');
  }
  } catch (err) {
    throw m.spoolFailed(err);
  }
  if (rejected.length > 0 && cfg.protection.ndrAfterSession) {
    const env = { ...m.envelope(m.qid, m.recipients), size: m.original.size, crc: 0 };
    // A DSN returns at most FULL_RETURN_LIMIT bytes whole, else the headers: that much is read.
    await queueBounce({ injector: rt.injector, hostname: cfg.hostname, domains: rt.domains, logger: rt.logger, metrics: rt.metrics, now: Date.now }, env, await m.original.read(0, FULL_RETURN_LIMIT + 1), rejected.map((r) => ({
      address: r.address, orcpt: r.dsn?.orcpt,
      state: { status: 'failed' as const, statusCode: '5.7.1', diagnostic: `Message refused by policy: ${verdict?.reasons.join('; ') ?? ''}` },
    })));
  }
  for (const [name, rs] of groups) {
    const action = actionOf(ruleOf(rs[0]!));
    rt.metrics.messages.inc({ outcome: action === 'Delete' ? 'deleted' : action === 'Reject' ? 'rejected' : 'accepted', reason: action === 'Skip' ? '' : (verdict?.reasons[0]?.split(':')[0] ?? 'rule'), rule: name });
  }
  rt.logger.info({ ...m.log, code: 250, rcpts: m.recipients.length, deleted: m.recipients.filter((r) => actionOf(ruleOf(r)) === 'Delete').map((r) => r.address), rejected: rejected.map((r) => r.address) }, 'message accepted');
  return replies.queued(m.qid);
}
