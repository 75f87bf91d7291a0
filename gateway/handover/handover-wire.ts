/**
 * What one gateway hands another when it retires (scale-down): the queued
 * message's bytes as stored, preceded by one header line that carries the
 * envelope and delivery state, so the peer queues it exactly as it was —
 * same arrival time (the queue lifetime runs on), attempts, held flag,
 * per-recipient DSN parameters and rules. Only recipients still to be
 * delivered travel; delivered and failed ones are done.
 *
 *   X-Mailgw-Handover: <base64url of JSON {v, envelope, state}>CRLF
 *   <stored message bytes>
 *
 * Only the handover listener (authenticated peers) reads this line; a
 * public SMTP session never does.
 */
import type { DeliveryState, Envelope, StoredMessage } from '../spool/spool-types.ts';
import { stateOf } from '../queue/queue-state.ts';

export const HANDOVER_HEADER = 'X-Mailgw-Handover';
export const HANDOVER_USER = 'mailgw-handover';
/** The envelope line of a message with many recipients is long, but bounded. */
export const MAX_HANDOVER_LINE = 4 * 1024 * 1024;

export interface HandedOver {
  v: 1;
  envelope: Omit<Envelope, 'size' | 'crc'>;
  state: DeliveryState;
}

/** The envelope and state to send for a queued message, or undefined when nothing is left to deliver. */
export function handoverOf(msg: StoredMessage): HandedOver | undefined {
  const state = stateOf(msg);
  const keep = state.rcpts.flatMap((r, i) => (r.status === 'pending' || r.status === 'deferred' ? [i] : []));
  if (keep.length === 0) return undefined;
  const envelope: Partial<Envelope> = { ...msg.envelope };
  delete envelope.size;
  delete envelope.crc;
  return {
    v: 1,
    envelope: { ...(envelope as Omit<Envelope, 'size' | 'crc'>), rcptTo: keep.map((i) => msg.envelope.rcptTo[i]!) },
    state: { ...state, rcpts: keep.map((i) => state.rcpts[i]!) },
  };
}

export function encodeHandoverLine(h: HandedOver): Buffer {
  return Buffer.from(`${HANDOVER_HEADER}: ${Buffer.from(JSON.stringify(h), 'utf8').toString('base64url')}\r\n`, 'latin1');
}

/** Parses the line (without its CRLF); throws with a reason a peer can log. */
export function decodeHandoverLine(line: string): HandedOver {
  const prefix = `${HANDOVER_HEADER}: `;
  if (!line.startsWith(prefix)) throw new Error(`the message does not start with ${HANDOVER_HEADER}`);
  let h: HandedOver;
  try {
    h = JSON.parse(Buffer.from(line.slice(prefix.length), 'base64url').toString('utf8')) as HandedOver;
  } catch {
    throw new Error(`${HANDOVER_HEADER} is not base64url JSON`);
  }
  const e = h?.envelope;
  if (h?.v !== 1 || !e || typeof e.id !== 'string' || typeof e.mailFrom !== 'string' || typeof e.receivedAt !== 'string' || Number.isNaN(Date.parse(e.receivedAt))
    || !Array.isArray(e.rcptTo) || e.rcptTo.length === 0 || e.rcptTo.some((r) => typeof r?.address !== 'string' || typeof r.domain !== 'string')
    || !h.state || !Array.isArray(h.state.rcpts) || h.state.rcpts.length !== e.rcptTo.length || typeof h.state.attempts !== 'number') {
    throw new Error(`${HANDOVER_HEADER} does not describe a queued message (version 1)`);
  }
  return h;
}
