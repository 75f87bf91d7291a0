/**
 * Strict parsing of an envelope address (RFC 5321 Mailbox, RFC 6531 for
 * SMTPUTF8) into local part and routing domain.
 *
 * smtp-server hands us the path with any source route already stripped
 * (RFC 5321 §4.1.2/C: "@a,@b:user@c" is user@c) and the domain turned into
 * U-labels. From there:
 * - the domain must be a valid host name, converted to its A-label, or an
 *   address literal; a trailing dot or empty label is a syntax error;
 * - local parts with routing characters (% ! or a quoted @) are refused: an
 *   internal server that still honours the percent hack or bang paths would
 *   otherwise route them to another domain behind our back;
 * - non-ASCII local parts need SMTPUTF8;
 * - bytes that are not UTF-8 reach us as U+FFFD (smtp-server decodes the
 *   line as UTF-8): such an address is a syntax error, never a mailbox.
 */
import { toALabel } from '../../api/index.ts';
import ipaddr from 'ipaddr.js';
import { replies, type SmtpReply } from '../smtp-replies.ts';

export interface ParsedAddress {
  localPart: string;
  /** A-label, lower case; for an address literal the literal itself, e.g. "[192.0.2.1]". */
  domain: string;
  literal: boolean;
  /** local-part@domain with the A-label domain. */
  address: string;
}

const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]+)*$/u;
const QUOTED = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\u{10FFFF}]|\\[\x20-\x7e])*"$/u;

function splitAddress(address: string): [string, string] | undefined {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return undefined;
  return [address.slice(0, at), address.slice(at + 1)];
}

function parseLiteral(domain: string): string | undefined {
  const inner = domain.slice(1, -1);
  if (/^ipv6:/i.test(inner)) {
    const v6 = inner.slice(5);
    return ipaddr.IPv6.isValid(v6) ? `[IPv6:${ipaddr.IPv6.parse(v6).toString()}]` : undefined;
  }
  return ipaddr.IPv4.isValidFourPartDecimal(inner) ? `[${inner}]` : undefined;
}

export function parseMailbox(address: string, smtputf8: boolean): ParsedAddress | SmtpReply {
  if (address.includes('\uFFFD')) return replies.badAddress(address);
  const parts = splitAddress(address);
  if (!parts) return replies.badAddress(address);
  const [localPart, rawDomain] = parts;
  const quoted = localPart.startsWith('"');
  if (quoted ? !QUOTED.test(localPart) : !DOT_ATOM.test(localPart)) return replies.badAddress(address);
  if (/[%!@]/.test(localPart)) return replies.routingCharacters(address);
  if (/[^\x00-\x7f]/.test(localPart) && !smtputf8) return replies.needsSmtputf8(address);
  if (rawDomain.startsWith('[')) {
    const literal = rawDomain.endsWith(']') ? parseLiteral(rawDomain) : undefined;
    if (!literal) return replies.badAddress(address);
    return { localPart, domain: literal, literal: true, address: `${localPart}@${literal}` };
  }
  const domain = toALabel(rawDomain);
  if (!domain) return replies.badAddress(address);
  return { localPart, domain, literal: false, address: `${localPart}@${domain}` };
}

export function isReply(value: unknown): value is SmtpReply {
  return value instanceof Error && typeof (value as SmtpReply).responseCode === 'number';
}
