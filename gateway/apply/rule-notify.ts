/**
 * A rule's notifications (issue 15): for each `notify` entry whose `when`
 * matches what happened, a notice from the templates, queued by the bounce
 * stage (bounce/notice-queue.ts) from the null sender.
 *
 * No backscatter: never to the null sender, never to a sender that failed
 * SPF or DMARC or scored as (probable) spam, and not to a sender whose
 * client was already refused in the session (its own MTA reports the 5xx).
 */
import type { GatewayConfig } from '../../api/index.ts';
import type { BounceContext } from '../bounce/bounce-queue.ts';
import { queueNotice } from '../bounce/notice-queue.ts';
import { headerFields } from '../mime/header-fields.ts';
import type { MessageSource } from '../spool/incoming.ts';
import { renderTemplate } from '../template.ts';
import type { Verdict } from '../verdict-types.ts';

type Rule = GatewayConfig['rules'][number];

export interface NoticeFacts {
  action: string;
  verdict: Verdict | undefined;
  qid: string;
  sender: string;
  recipients: string[];
  subject: string;
  senderSuspect: boolean;
  /** The client was refused in the session (5xx): it reports to the sender itself. */
  senderGotReply: boolean;
}

/** The message's Subject (decoded), for templates. */
export async function subjectOf(original: MessageSource): Promise<string> {
  return headerFields(await original.read(0, 64 * 1024)).get('subject')?.[0] ?? '';
}

export function templateVars(hostname: string, rule: string, action: string, v: Verdict | undefined, qid: string, sender: string, recipients: string[], subject: string): Record<string, string> {
  return {
    rule, action, hostname, qid, subject,
    verdict: v?.reasons.join('; ') || 'no findings',
    virus: v?.virus ?? '',
    filename: v?.files.join(', ') ?? '',
    sender: sender || '<>',
    recipients: recipients.join(', '),
    date: new Date().toUTCString(),
  };
}

/** Whether a notify entry's `when` holds for this outcome. */
export function notifyWhen(when: readonly string[], action: string, v: Verdict | undefined): boolean {
  return when.some((w) => w === 'Always' || (w === 'Rejected' && action === 'Reject') || (w === 'Deleted' && action === 'Delete') || (v?.findings as string[] | undefined)?.includes(w));
}

/** Whom a Sender notice may go to: nobody when it would be backscatter. */
export function senderNoticeAllowed(f: Pick<NoticeFacts, 'sender' | 'senderSuspect' | 'senderGotReply'>): boolean {
  return f.sender !== '' && !f.senderSuspect && !f.senderGotReply;
}

export async function notifyRule(ctx: BounceContext, rule: Rule, f: NoticeFacts): Promise<void> {
  const vars = templateVars(ctx.hostname, rule.name, f.action, f.verdict, f.qid, f.sender, f.recipients, f.subject);
  for (const n of rule.actions?.notify ?? []) {
    if (!notifyWhen(n.when, f.action, f.verdict)) continue;
    let to: string[];
    if (n.to === 'Admin') to = [n.address!];
    else if (n.to === 'Recipients') to = f.recipients;
    else if (senderNoticeAllowed(f)) to = [f.sender];
    else {
      ctx.logger.info({ event: 'notice-suppressed', qid: f.qid, rule: rule.name, to: f.sender || '<>', reason: f.sender === '' ? 'null sender' : f.senderSuspect ? 'sender failed SPF/DMARC or scored as spam' : 'refused in the session' }, 'no notification to the sender (no backscatter)');
      continue;
    }
    for (const address of to) await queueNotice(ctx, { to: address, subject: renderTemplate(n.subject, vars), text: renderTemplate(n.text, vars), qid: f.qid, rule: rule.name });
  }
}
