/**
 * Types of what the spool stores: the envelope (JSON in the COMMIT record)
 * and where a message's bytes are.
 */

export interface DsnRecipientParams {
  notify?: string[];
  orcpt?: string;
}

export interface EnvelopeRecipient {
  /** The address as accepted (domain as A-label). */
  address: string;
  /** Domain the recipient is routed as (A-label, lower case). */
  domain: string;
  /** local: a LocalDomain; relay: relayed for a trusted network. */
  route: 'local' | 'relay';
  dsn?: DsnRecipientParams;
  /** The rule that applied to this recipient (protection). */
  rule?: { name: string; mode: 'Scan' | 'Skip' | 'Reject' | 'Delete'; backup: boolean; deferred?: boolean | undefined };
}

export interface Envelope {
  id: string;
  receivedAt: string;
  sessionId: string;
  client: { address: string; port: number; helo: string; tls: boolean };
  mailFrom: string;
  mailParams: { body?: string; smtputf8?: boolean; ret?: string; envid?: string; size?: number };
  rcptTo: EnvelopeRecipient[];
  /** Received/Delivered-To header fields of the message as stored (ours included): loop detection at delivery. Absent in messages queued by older versions. */
  hops?: number;
  /** Why the sender is most likely forged (SPF or DMARC failed, spam): it gets no DSN (dsn.suppressForSuspectSenders). */
  suspect?: string | undefined;
  /** Bytes of the message as stored (with the gateway's Received header). */
  size: number;
  /** CRC-32 of the stored message bytes. */
  crc: number;
}

export type RecipientStatus = 'pending' | 'deferred' | 'delivered' | 'failed';

export interface RecipientState {
  status: RecipientStatus;
  /** Enhanced status code of the last outcome, e.g. "5.1.1". */
  statusCode?: string | undefined;
  /** The next hop's reply or our own explanation, for logs, `mailgw queue list` and DSNs. */
  diagnostic?: string | undefined;
  remoteMta?: string | undefined;
}

/** Delivery state of a queued message (STATE record); absent until the first attempt. */
export interface DeliveryState {
  attempts: number;
  nextAttemptAt: number;
  held: boolean;
  /** Index-aligned with envelope.rcptTo. */
  rcpts: RecipientState[];
  lastAttemptAt?: number | undefined;
  /** The sender has had its delay notice (queue.delayWarning): one per message. */
  delayNotified?: boolean | undefined;
}

export interface ChunkRef {
  segment: number;
  offset: number;
  length: number;
}

export interface StoredMessage {
  id: string;
  envelope: Envelope;
  chunks: ChunkRef[];
  commitSegment: number;
  state?: DeliveryState | undefined;
  /** Segment of the last STATE record, which pins it like the data does. */
  stateSegment?: number | undefined;
}
