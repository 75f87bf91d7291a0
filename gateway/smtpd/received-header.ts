/**
 * The Received header the gateway prepends (RFC 5321 §4.4, protocol names
 * per RFC 3848 / RFC 6531): the only change made to a message's bytes.
 */
import { rfc5322Date } from '../mail-date.ts';

export interface ReceivedInfo {
  helo: string;
  clientHostname: string;
  clientAddress: string;
  hostname: string;
  qid: string;
  esmtp: boolean;
  tls: boolean;
  utf8: boolean;
  /** The recipient, named only when there is exactly one. */
  recipient?: string;
  date: Date;
}

function clean(text: string): string {
  return text.replace(/[^\x21-\x7e\u0080-\u{10FFFF}]/gu, '').replace(/[()\\]/g, '').slice(0, 255) || 'unknown';
}

export function receivedHeader(r: ReceivedInfo): string {
  const protocol = `${r.utf8 ? 'UTF8' : ''}${r.esmtp || r.utf8 ? (r.utf8 ? 'SMTP' : 'ESMTP') : 'SMTP'}${r.tls ? 'S' : ''}`;
  const client = r.clientHostname && r.clientHostname !== `[${r.clientAddress}]` ? `${clean(r.clientHostname)} ` : '';
  const addr = r.clientAddress.includes(':') ? `IPv6:${r.clientAddress}` : r.clientAddress;
  return `Received: from ${clean(r.helo)} (${client}[${addr}])\r\n`
    + `\tby ${r.hostname} (mailgw) with ${protocol} id ${r.qid}${r.recipient ? `\r\n\tfor <${r.recipient}>` : ''};\r\n`
    + `\t${rfc5322Date(r.date)}\r\n`;
}
