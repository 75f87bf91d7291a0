/**
 * Who really sent a message that reached us through relays we trust (the
 * edge gateway, internal servers): the first `Received` header, from the
 * top, whose connecting address is not one of those relays. Its address and
 * HELO are what anti-spam should judge (SPF, DMARC, reputation), as rspamd
 * does with its own trusted relays and Postfix with mynetworks.
 *
 * Parses the common forms: Postfix/KSMG `from HELO (rdns [IP])`, Exim
 * `from rdns ([IP] helo=HELO)`, and `from HELO ([IP])`. Header section only.
 */
import ipaddr from 'ipaddr.js';

export interface Origin {
  ip: string;
  helo: string;
}

/** The unfolded Received fields of the header section, top first. */
export function receivedFields(message: Buffer): string[] {
  let end = message.indexOf('\r\n\r\n');
  if (end < 0) end = message.length;
  const head = message.toString('latin1', 0, Math.min(end, 256 * 1024));
  return head.split(/\r\n(?![ \t])/).filter((f) => /^received:/i.test(f)).map((f) => f.slice(f.indexOf(':') + 1).replace(/\r\n[ \t]+/g, ' ').trim());
}

/** The connecting host of one Received field: address and HELO, if it says. */
export function parseReceived(field: string): Origin | undefined {
  const from = /^from\s+(\S+)([\s\S]*?)(?:\sby\s|;|$)/i.exec(field);
  if (!from) return undefined;
  const clause = from[2] ?? '';
  const bracket = /\[(?:IPv6:)?([0-9a-fA-F:.]+)\]/.exec(clause) ?? /\[(?:IPv6:)?([0-9a-fA-F:.]+)\]/.exec(from[1]!);
  if (!bracket || !ipaddr.isValid(bracket[1]!)) return undefined;
  const exim = /helo=([^\s)]+)/i.exec(clause);
  const ip = ipaddr.process(bracket[1]!).toString();
  return { ip, helo: (exim ? exim[1]! : from[1]!).replace(/^\[|\]$/g, '') };
}

/**
 * The first hop, from the top, that `trusted` does not vouch for; undefined
 * when no header names one (then the connecting client is all we know).
 */
export function originOf(message: Buffer, trusted: (ip: string) => boolean): Origin | undefined {
  for (const field of receivedFields(message)) {
    const hop = parseReceived(field);
    if (!hop) return undefined; // a header we cannot read: stop rather than guess past it
    if (!trusted(hop.ip)) return hop;
  }
  return undefined;
}
