/**
 * Relay control, the one decision that keeps mailgw from being an open relay.
 *
 * decideRelay(recipient, clientTrusted, domains) → a route or a reply:
 * - a LocalDomain (exact, or a subdomain with includeSubdomains) → "local",
 *   from anyone;
 * - anything else (other domains, address literals) → "relay" for trusted
 *   networks, otherwise 554 5.7.1. No local domains: untrusted clients get
 *   nothing; no trusted networks: nothing is relayed outward.
 */
import { replies, type SmtpReply } from '../smtp-replies.ts';
import type { DomainTable, LocalDomainEntry } from '../tables/domain-table.ts';
import type { ParsedAddress } from './rcpt-address.ts';

export type RelayDecision =
  | { route: 'local'; domain: string; entry: LocalDomainEntry }
  | { route: 'relay'; domain: string };

export function decideRelay(rcpt: ParsedAddress, clientTrusted: boolean, domains: DomainTable): RelayDecision | SmtpReply {
  const entry = rcpt.literal ? undefined : domains.lookup(rcpt.domain);
  if (entry) return { route: 'local', domain: rcpt.domain, entry };
  if (clientTrusted) return { route: 'relay', domain: rcpt.domain };
  return replies.relayDenied(rcpt.address);
}
