/**
 * The one envelope builder: every new queue entry's envelope (SMTP, per rule
 * group, bounces and notices, released backups, BCC copies) is made here,
 * with recipient domains as lower-case A-labels and routed local or relay by
 * the domain table. The spool adds size and CRC as it commits the bytes
 * (spool.ts), the one place a CRC is computed.
 */
import { domainToASCII } from 'node:url';
import type { DomainTable } from '../tables/domain-table.ts';
import type { Envelope, EnvelopeRecipient } from '../spool/spool-types.ts';

export type NewEnvelope = Omit<Envelope, 'size' | 'crc'>;

/** The domain of an address as a lower-case A-label (the address as given when it has no @ or no valid IDN form). */
export function domainOf(address: string): string {
  const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase().replace(/\.$/, '');
  return domainToASCII(domain) || domain;
}

/** A recipient the gateway adds itself (a notice, a released backup, a BCC copy): routed by the domain table. */
export function recipientOf(address: string, domains: DomainTable): EnvelopeRecipient {
  const domain = domainOf(address);
  return { address, domain, route: domains.lookup(domain) ? 'local' : 'relay' };
}

export interface EnvelopeInput {
  id: string;
  sessionId: string;
  client: Envelope['client'];
  mailFrom: string;
  mailParams?: Envelope['mailParams'] | undefined;
  rcptTo: EnvelopeRecipient[];
  hops?: number | undefined;
  receivedAt?: Date | undefined;
}

export function buildEnvelope(i: EnvelopeInput): NewEnvelope {
  return {
    id: i.id,
    receivedAt: (i.receivedAt ?? new Date()).toISOString(),
    sessionId: i.sessionId,
    client: i.client,
    mailFrom: i.mailFrom,
    mailParams: i.mailParams ?? {},
    rcptTo: i.rcptTo,
    ...(i.hops !== undefined ? { hops: i.hops } : {}),
  };
}
