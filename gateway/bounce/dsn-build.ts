/**
 * Builds a delivery status notification (RFC 3464 multipart/report) for the
 * recipients of one message that failed: a human-readable part, the
 * message/delivery-status part, and the original message or only its
 * headers. The whole message comes back only when it is at most
 * FULL_RETURN_LIMIT bytes and RET is not HDRS: a larger one returns its
 * headers whatever RET says (Postfix bounce_size_limit), so a forged sender
 * never gets a big message reflected at it (backscatter).
 *
 * buildDsn(input) → the DSN's bytes, ready to queue from <> to the sender.
 */
import { randomBytes } from 'node:crypto';
import { rfc5322Date } from '../mail-date.ts';
import type { Envelope, RecipientState } from '../spool/spool-types.ts';

/** Largest original returned whole in a DSN (Postfix bounce_size_limit). */
export const FULL_RETURN_LIMIT = 50_000;

export type DsnKind = 'failed' | 'delayed' | 'relayed';

export interface DsnInput {
  hostname: string;
  qid: string;
  envelope: Envelope;
  failed: { address: string; orcpt?: string | undefined; state: RecipientState }[];
  original: Buffer;
  now: Date;
  /** true when the queue lifetime ran out (text and Action stay "failed"). */
  expired: boolean;
  /** failed (default), delayed (still being retried: RFC 3464 Action: delayed), relayed (passed to a next hop without DSN). */
  kind?: DsnKind | undefined;
  /** delayed: when retrying stops. */
  retryUntil?: Date | undefined;
  /** The MIME boundary's random part (a golden test fixes it); random by default. */
  nonce?: string;
}

function headersOf(message: Buffer): Buffer {
  const end = message.indexOf('\r\n\r\n');
  return end < 0 ? message : message.subarray(0, end + 2);
}

function foldDiagnostic(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 900);
}

export function buildDsn(d: DsnInput): Buffer {
  const boundary = `${d.qid}.${d.nonce ?? randomBytes(6).toString('hex')}/${d.hostname}`;
  const ret = d.envelope.mailParams.ret;
  const kind = d.kind ?? 'failed';
  // Only a failure returns the message itself; a delay or relay notice returns its headers (as Postfix does).
  const full = kind === 'failed' && ret !== 'HDRS' && d.original.length <= FULL_RETURN_LIMIT;
  const intro = kind === 'delayed'
    ? `Your message could not be delivered yet to the recipients below. The mail system will keep trying${d.retryUntil ? ` until ${rfc5322Date(d.retryUntil)}` : ''}; you need not send it again.`
    : kind === 'relayed'
      ? 'Your message was passed on to the next mail system for the recipients below, which does not report delivery status: this is the last report you will get for them.'
      : d.expired
        ? 'Your message could not be delivered before the queue lifetime ran out; delivery has been given up for the recipients below.'
        : 'Your message could not be delivered to one or more recipients. It is attached below.';
  const human = [
    `This is the mail system at host ${d.hostname}.`,
    '',
    intro,
    '',
    'For further assistance, please send mail to your postmaster.',
    '',
    ...d.failed.map((f) => `<${f.address}>: ${foldDiagnostic(f.state.diagnostic ?? (kind === 'relayed' ? 'relayed' : 'delivery failed'))}`),
    '',
  ].join('\r\n');
  const perMessage = [
    `Reporting-MTA: dns; ${d.hostname}`,
    `X-Mailgw-Queue-ID: ${d.qid}`,
    ...(d.envelope.mailParams.envid ? [`Original-Envelope-Id: ${d.envelope.mailParams.envid}`] : []),
    `X-Mailgw-Sender: rfc822; ${d.envelope.mailFrom}`,
    `Arrival-Date: ${rfc5322Date(new Date(d.envelope.receivedAt))}`,
  ].join('\r\n');
  const perRecipient = d.failed.map((f) => [
    `Final-Recipient: rfc822; ${f.address}`,
    ...(f.orcpt ? [`Original-Recipient: ${f.orcpt.includes(';') ? f.orcpt.replace(';', '; ') : `rfc822; ${f.orcpt}`}`] : []),
    `Action: ${kind}`,
    `Status: ${f.state.statusCode ?? (kind === 'failed' ? '5.0.0' : kind === 'delayed' ? '4.0.0' : '2.0.0')}`,
    ...(f.state.remoteMta ? [`Remote-MTA: dns; ${f.state.remoteMta.replace(/\[.*$/, '')}`] : []),
    ...(f.state.diagnostic ? [`Diagnostic-Code: smtp; ${foldDiagnostic(f.state.diagnostic.replace(/^.*? said: /, ''))}`] : []),
    `Last-Attempt-Date: ${rfc5322Date(d.now)}`,
    ...(kind === 'delayed' && d.retryUntil ? [`Will-Retry-Until: ${rfc5322Date(d.retryUntil)}`] : []),
  ].join('\r\n'));
  const headers = [
    `From: MAILER-DAEMON@${d.hostname} (Mail Delivery System)`,
    `To: <${d.envelope.mailFrom}>`,
    `Subject: ${kind === 'delayed' ? 'Delayed Mail (still being retried)' : kind === 'relayed' ? 'Successful Mail Relay Report' : 'Undelivered Mail Returned to Sender'}`,
    `Date: ${rfc5322Date(d.now)}`,
    `Message-ID: <${d.qid}.${d.now.getTime()}.dsn@${d.hostname}>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="${boundary}"`,
  ].join('\r\n');
  const parts = [
    `${headers}\r\n\r\nThis is a MIME-encapsulated message.\r\n\r\n`,
    `--${boundary}\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${human}\r\n`,
    `--${boundary}\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n${perMessage}\r\n\r\n${perRecipient.join('\r\n\r\n')}\r\n\r\n`,
    `--${boundary}\r\nContent-Description: ${full ? 'Undelivered Message' : kind === 'failed' ? 'Undelivered Message Headers' : 'Message Headers'}\r\nContent-Type: ${full ? 'message/rfc822' : 'text/rfc822-headers'}\r\n${full ? 'Content-Transfer-Encoding: 8bit\r\n' : ''}\r\n`,
  ];
  return Buffer.concat([
    Buffer.from(parts.join(''), 'utf8'),
    full ? d.original : headersOf(d.original),
    Buffer.from(`${d.original.subarray(-2).toString() === '\r\n' ? '' : '\r\n'}\r\n--${boundary}--\r\n`, 'utf8'),
  ]);
}
