/**
 * Pure delivery-state rules (Postfix qmgr/bounce policy): the initial state,
 * retry backoff, expiry, and which failed recipients get a DSN.
 */
import type { GatewayConfig } from '../../api/index.ts';
import type { DeliveryState, EnvelopeRecipient, StoredMessage } from '../spool/spool-types.ts';

export function initialState(msg: StoredMessage): DeliveryState {
  return {
    attempts: 0,
    nextAttemptAt: Date.parse(msg.envelope.receivedAt),
    held: false,
    rcpts: msg.envelope.rcptTo.map(() => ({ status: 'pending' })),
  };
}

export function stateOf(msg: StoredMessage): DeliveryState {
  return msg.state ?? initialState(msg);
}

/** Exponential backoff after `attempts` failed attempts, between minBackoff and maxBackoff. */
export function backoffMs(attempts: number, queue: GatewayConfig['queue']): number {
  const exp = queue.minBackoffMs * 2 ** Math.max(0, attempts - 1);
  return Math.min(queue.maxBackoffMs, Math.max(queue.minBackoffMs, exp));
}

/** A message from the null sender is a bounce: it lives for bounceLifetime, not lifetime. */
export function lifetimeMs(msg: StoredMessage, queue: GatewayConfig['queue']): number {
  return msg.envelope.mailFrom === '' ? queue.bounceLifetimeMs : queue.lifetimeMs;
}

/** RFC 3461: no DSN for NOTIFY=NEVER, nor when NOTIFY is given without FAILURE; never to <>. */
export function wantsFailureDsn(sender: string, rcpt: EnvelopeRecipient): boolean {
  if (sender === '') return false;
  const notify = rcpt.dsn?.notify;
  if (!notify || notify.length === 0) return true;
  return notify.includes('FAILURE');
}

/** RFC 3461: a delay notice unless NOTIFY is given without DELAY (or is NEVER); never to <>. */
export function wantsDelayDsn(sender: string, rcpt: EnvelopeRecipient): boolean {
  if (sender === '') return false;
  const notify = rcpt.dsn?.notify;
  return !notify || notify.length === 0 || notify.includes('DELAY');
}

/** RFC 3461: a success (here: relayed) notice only when NOTIFY asks for SUCCESS. */
export function wantsSuccessDsn(sender: string, rcpt: EnvelopeRecipient): boolean {
  return sender !== '' && (rcpt.dsn?.notify ?? []).includes('SUCCESS');
}

export function isFinal(state: DeliveryState): boolean {
  return state.rcpts.every((r) => r.status === 'delivered' || r.status === 'failed');
}
