/**
 * RCPT TO stage: recipient count, strict address parsing, relay control,
 * then (for local domains, untrusted clients, RejectUnverified) recipient
 * verification. Logs one line per decision with the queue id.
 * Resolves to a reply to refuse the recipient, or nothing to accept it.
 */
import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import { decideRelay } from '../policy/relay-check.ts';
import { isReply, parseMailbox } from '../policy/rcpt-address.ts';
import type { Runtime } from '../runtime.ts';
import type { EnvelopeRecipient } from '../spool/spool-types.ts';
import { replies, type SmtpReply } from '../smtp-replies.ts';
import { stateOf } from './session.ts';

function dsnOf(rcpt: SMTPServerAddress): EnvelopeRecipient['dsn'] {
  const dsn = (rcpt as SMTPServerAddress & { dsn?: { notify?: string[]; orcpt?: string } }).dsn;
  if (!dsn) return undefined;
  return { ...(dsn.notify ? { notify: dsn.notify } : {}), ...(dsn.orcpt ? { orcpt: dsn.orcpt } : {}) };
}

async function decide(rt: Runtime, session: SMTPServerSession, rcpt: SMTPServerAddress): Promise<{ reply?: SmtpReply; recipient?: EnvelopeRecipient; note?: string }> {
  const state = stateOf(session);
  const tx = state.transaction!;
  if (tx.recipients.length >= rt.config.limits.recipientsPerMessage) return { reply: replies.tooManyRecipients(rt.config.limits.recipientsPerMessage) };
  if (rcpt.address.toLowerCase() === 'postmaster') return { reply: replies.postmasterNoDomain() };
  const mailArgs = session.envelope.mailFrom ? session.envelope.mailFrom.args : false;
  const smtputf8 = Boolean(mailArgs && (mailArgs as Record<string, unknown>).SMTPUTF8);
  const parsed = parseMailbox(rcpt.address, smtputf8);
  if (isReply(parsed)) return { reply: parsed };
  const decision = decideRelay(parsed, state.trusted, rt.domains);
  if (isReply(decision)) return { reply: decision };
  const dsn = dsnOf(rcpt);
  const rule = rt.rules.choose(tx.mailFrom, state.client, parsed.address);
  if (rule.mode === 'Reject') return { reply: replies.ruleReject(parsed.address, rule.name) };
  const recipient: EnvelopeRecipient = { address: parsed.address, domain: decision.domain, route: decision.route, ...(dsn ? { dsn } : {}), rule };
  if (decision.route === 'local' && !state.trusted && rt.config.recipientVerification.mode === 'RejectUnverified') {
    const outcome = await rt.verifier.verify(parsed.address, decision.entry);
    const note = `verification ${outcome.cached ? '(cached) ' : ''}${outcome.detail ?? ''}`.trim();
    if (outcome.result !== 'ok') return { reply: outcome.result, note };
    return { recipient, note };
  }
  return { recipient };
}

export async function checkRcptTo(rt: Runtime, session: SMTPServerSession, rcpt: SMTPServerAddress): Promise<SmtpReply | undefined> {
  const state = stateOf(session);
  const tx = state.transaction!;
  const { reply, recipient, note } = await decide(rt, session, rcpt);
  rt.logger.info({
    event: 'rcpt', sid: session.id, qid: tx.qid, client: state.client, trusted: state.trusted,
    from: tx.mailFrom, to: rcpt.address,
    ...(recipient ? { code: 250, route: recipient.route, domain: recipient.domain } : { code: reply!.responseCode, reply: reply!.message }),
    ...(note ? { note } : {}),
  }, recipient ? 'recipient accepted' : 'recipient rejected');
  rt.metrics.recipients.inc({ result: reply ? 'rejected' : 'accepted', code: String(reply?.responseCode ?? 250) });
  if (reply) {
    state.rejected++;
    return reply;
  }
  tx.recipients.push(recipient!);
  return undefined;
}
