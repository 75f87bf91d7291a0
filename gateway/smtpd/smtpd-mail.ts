/**
 * MAIL FROM stage: TLS policy, message rate, sender syntax; starts the
 * transaction and assigns its queue id.
 * Returns a reply to refuse the command, or nothing to go on.
 */
import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import { newQueueId } from '../queue-id.ts';
import { isReply, parseMailbox } from '../policy/rcpt-address.ts';
import type { Runtime } from '../runtime.ts';
import { replies, type SmtpReply } from '../smtp-replies.ts';
import { stateOf } from './session.ts';

export function checkMailFrom(rt: Runtime, session: SMTPServerSession, from: SMTPServerAddress): SmtpReply | undefined {
  const state = stateOf(session);
  if (rt.config.tls.inbound.mode === 'Require' && !session.secure) return replies.tlsRequired();
  const sender = from.address;
  let normalized = '';
  if (sender !== '') {
    const parsed = parseMailbox(sender, Boolean(from.args && (from.args as Record<string, unknown>).SMTPUTF8));
    if (isReply(parsed)) {
      if (parsed.enhanced === '5.1.3' && parsed.responseCode === 553) normalized = sender; // routing characters are harmless in a sender
      else return parsed.enhanced === '5.6.7' ? parsed : replies.badSender(sender);
    } else {
      normalized = parsed.address;
    }
  }
  if (!rt.limits.message(state.client, state.trusted)) return replies.messageRate(state.client);
  state.transaction = { qid: newQueueId(), mailFrom: normalized, recipients: [] };
  return undefined;
}
