/**
 * End-of-data stage: streams the message into the spool (behind the
 * gateway's Received header), enforces the real size, and answers 250 only
 * after the spool has fsynced the message. Logs one line per accepted or
 * refused message.
 *
 * Errors: size over the limit → 552 5.3.4, nothing kept; any spool failure
 * → 452 4.3.1, never 250.
 */
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { Runtime } from '../runtime.ts';
import { SpoolError } from '../spool/spool.ts';
import { receivedHeader } from './received-header.ts';
import { replies } from './replies.ts';
import { stateOf } from './session.ts';

export async function receiveData(rt: Runtime, stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
  const state = stateOf(session);
  const tx = state.transaction!;
  const limit = rt.config.limits.messageSize;
  const mailArgs = (session.envelope.mailFrom ? session.envelope.mailFrom.args : undefined) || {};
  const utf8 = Boolean((mailArgs as Record<string, unknown>).SMTPUTF8);
  const writer = rt.spool.begin(tx.qid);
  const received = Buffer.from(receivedHeader({
    helo: session.hostNameAppearsAs || 'unknown',
    clientHostname: session.clientHostname,
    clientAddress: state.client,
    hostname: rt.config.hostname,
    qid: tx.qid,
    esmtp: session.openingCommand === 'EHLO',
    tls: Boolean(session.secure),
    utf8,
    ...(tx.recipients.length === 1 ? { recipient: tx.recipients[0]!.address } : {}),
    date: new Date(),
  }), 'utf8');
  void writer.write(received);
  let received_bytes = 0;
  let tooBig = false;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    received_bytes += chunk.length;
    if (tooBig || (limit > 0 && received_bytes > limit)) {
      tooBig = true;
      continue; // read to the end, keep nothing
    }
    const wait = writer.write(chunk);
    if (wait) await wait;
  }
  const base = { event: 'message', sid: session.id, qid: tx.qid, client: state.client, from: tx.mailFrom, to: tx.recipients.map((r) => r.address), size: received_bytes };
  if (tooBig || stream.sizeExceeded) {
    writer.abort();
    const reply = replies.messageTooBig(limit);
    rt.logger.info({ ...base, code: 552, reply: reply.message }, 'message refused: too big');
    throw reply;
  }
  const dsn = session.envelope.dsn as { ret?: string; envid?: string } | undefined;
  let stored;
  try {
    stored = await writer.commit({
      id: tx.qid,
      receivedAt: new Date().toISOString(),
      sessionId: session.id,
      client: { address: state.client, port: session.remotePort, helo: session.hostNameAppearsAs || '', tls: Boolean(session.secure) },
      mailFrom: tx.mailFrom,
      mailParams: {
        ...(typeof (mailArgs as Record<string, unknown>).BODY === 'string' ? { body: String((mailArgs as Record<string, unknown>).BODY).toUpperCase() } : {}),
        ...(utf8 ? { smtputf8: true } : {}),
        ...(dsn?.ret ? { ret: dsn.ret } : {}),
        ...(dsn?.envid ? { envid: dsn.envid } : {}),
        ...((mailArgs as Record<string, unknown>).SIZE ? { size: Number((mailArgs as Record<string, unknown>).SIZE) } : {}),
      },
      rcptTo: tx.recipients,
    });
  } catch (err) {
    writer.abort();
    const reply = replies.spoolFailed();
    rt.logger.error({ ...base, code: 452, reply: reply.message, err: (err as Error).message, spool: err instanceof SpoolError }, 'message refused: spool write failed');
    throw reply;
  }
  rt.queue.enqueue(stored);
  state.messagesAccepted++;
  state.transaction = undefined;
  rt.logger.info({ ...base, code: 250, rcpts: tx.recipients.length }, 'message accepted');
  return replies.queued(tx.qid);
}
