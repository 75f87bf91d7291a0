/**
 * What the gateway keeps per SMTP session, beside smtp-server's own session
 * object: the client as our policy sees it and the current transaction.
 */
import type { SMTPServerSession } from 'smtp-server';
import type { EnvelopeRecipient } from '../spool/spool-types.ts';
import type { Runtime } from '../runtime.ts';

export interface Transaction {
  qid: string;
  mailFrom: string;
  recipients: EnvelopeRecipient[];
}

export interface GatewaySessionState {
  /** The runtime (config and tables) the session began with; a reload does not change it. */
  rt: Runtime;
  trusted: boolean;
  client: string;
  messagesAccepted: number;
  rejected: number;
  startedAt: number;
  transaction?: Transaction | undefined;
}

export type GatewaySession = SMTPServerSession & { mgw?: GatewaySessionState };

export function stateOf(session: SMTPServerSession): GatewaySessionState {
  const s = session as GatewaySession;
  if (!s.mgw) throw new Error('session without gateway state');
  return s.mgw;
}
