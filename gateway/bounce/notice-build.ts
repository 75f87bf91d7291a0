/**
 * A rule's notification (issue 15): a plain-text MIME message built with
 * nodemailer's MailComposer — From the gateway's postmaster, the rendered
 * subject (RFC 2047 when not ASCII) and text (UTF-8, quoted-printable),
 * `Auto-Submitted: auto-generated` (RFC 3834) so that no auto-responder
 * answers it. Sent with the null sender, so nothing bounces back to us.
 */
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { oneLine } from '../template.ts';

export interface NoticeInput {
  hostname: string;
  to: string;
  subject: string;
  text: string;
  /** The message it is about, for In-Reply-To-like correlation in logs: X-Mailgw-Queue-ID. */
  qid: string;
  now: Date;
  /** Fixed Message-ID (tests); else MailComposer's. */
  messageId?: string | undefined;
}

export async function buildNotice(n: NoticeInput): Promise<Buffer> {
  const mail = new MailComposer({
    from: { name: 'Mail gateway', address: `postmaster@${n.hostname}` },
    to: n.to,
    subject: oneLine(n.subject, 200),
    text: n.text.replace(/\r?\n/g, '\r\n'),
    date: n.now,
    ...(n.messageId ? { messageId: n.messageId } : {}),
    headers: { 'Auto-Submitted': 'auto-generated', 'X-Mailgw-Queue-ID': n.qid },
    textEncoding: 'quoted-printable',
  });
  return new Promise((resolve, reject) => {
    mail.compile().build((err, message) => (err ? reject(err) : resolve(message)));
  });
}
