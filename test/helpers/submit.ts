/** Submits a message to the gateway over SMTP (nodemailer) from a chosen loopback source. */
import nodemailer from 'nodemailer';

export async function submit(port: number, o: { from: string; to: string | string[]; subject?: string; text?: string; source?: string; dsn?: { ret?: string; envid?: string; notify?: string[]; orcpt?: string } }): Promise<string> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, localAddress: o.source ?? '127.0.0.1' });
  const to = Array.isArray(o.to) ? o.to : [o.to];
  const info: { response: string } = await transport.sendMail({
    envelope: { from: o.from, to },
    from: o.from, to, subject: o.subject ?? 'test', text: o.text ?? 'hello',
    ...(o.dsn ? { dsn: o.dsn } : {}),
  });
  const qid = /queued as (\S+)/.exec(info.response)?.[1];
  if (!qid) throw new Error(`unexpected reply ${info.response}`);
  return qid;
}
