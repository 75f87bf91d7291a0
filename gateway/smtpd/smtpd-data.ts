/**
 * End-of-data stage (receive): the message is stored (behind the gateway's
 * Received header) and answered 250 only after the spool has fsynced it;
 * verdicts are decided before that reply, so a Reject is a real 5xx and
 * nothing is queued.
 *
 * - No scanning needed (no module enabled, or every recipient's rule is
 *   Skip): the message streams straight into the spool through the injector.
 * - Otherwise it streams into an incoming file (bounded by the size limit),
 *   is scanned once (protection/), and the verdict is carried out per rule
 *   group by the next stage (apply/verdict-apply.ts).
 *
 * Every message passes the normalizer on its way in (canonical CRLF, lines
 * of at most 998 bytes, forged X-Mailgw-* and Authentication-Results removed,
 * hops counted: inject/message-normalize.ts).
 *
 * Errors: size over the limit → 552 5.3.4, nothing kept; limits.maxHops
 * Received/Delivered-To headers or more → 554 5.4.6 (a mail loop); any
 * spool failure → 452 4.3.1, never 250. One log line per message, one per verdict.
 */
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { Runtime } from '../runtime.ts';
import { IncomingFile, type MessageSource } from '../spool/incoming.ts';
import { judge, needsJudgement } from '../protection/judge.ts';
import { applyVerdict, infoHeaders, ruleOf } from '../apply/verdict-apply.ts';
import { buildEnvelope, type NewEnvelope } from '../inject/envelope-build.ts';
import { SpoolError } from '../spool/spool.ts';
import { MessageNormalizer } from '../inject/message-normalize.ts';
import { originOf } from '../protection/received-origin.ts';
import type { EnvelopeRecipient } from '../spool/spool-types.ts';
import { receivedHeader } from './received-header.ts';
import { replies } from '../smtp-replies.ts';
import { stateOf, type Transaction } from './session.ts';

type Args = Record<string, unknown>;

function envelopeOf(session: SMTPServerSession, tx: Transaction, client: string, id: string, rcptTo: EnvelopeRecipient[], hops: number): NewEnvelope {
  const mailArgs = ((session.envelope.mailFrom ? session.envelope.mailFrom.args : undefined) || {}) as Args;
  const dsn = session.envelope.dsn as { ret?: string; envid?: string } | undefined;
  return buildEnvelope({
    id, sessionId: session.id, hops,
    client: { address: client, port: session.remotePort, helo: session.hostNameAppearsAs || '', tls: Boolean(session.secure) },
    mailFrom: tx.mailFrom,
    mailParams: {
      ...(typeof mailArgs.BODY === 'string' ? { body: String(mailArgs.BODY).toUpperCase() } : {}),
      ...(mailArgs.SMTPUTF8 ? { smtputf8: true } : {}),
      ...(dsn?.ret ? { ret: dsn.ret } : {}),
      ...(dsn?.envid ? { envid: dsn.envid } : {}),
      ...(mailArgs.SIZE ? { size: Number(mailArgs.SIZE) } : {}),
    },
    rcptTo,
  });
}

/** Memory a session holds while its DATA streams to disk (socket, normalizer and file buffers). */
export const SESSION_MEMORY = 256 * 1024;

/** The TLS protocol of a secure session (smtp-server keeps the negotiated cipher in tlsOptions). */
function tlsVersion(session: SMTPServerSession): string {
  const t = session.tlsOptions;
  return (t && t.version) || 'TLS';
}

export async function receiveData(rt: Runtime, stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
  // Every session in DATA holds a share of the memory budget; none left within 5 s → 451 4.3.2, never an OOM.
  const release = await rt.memory.acquire(SESSION_MEMORY, 5000);
  if (!release) {
    for await (const chunk of stream as AsyncIterable<Buffer>) void chunk; // read to the end, keep nothing
    const reply = replies.memoryBusy();
    rt.metrics.messages.inc({ outcome: 'tempfail', reason: 'memory', rule: '' });
    rt.logger.warn({ event: 'message', sid: session.id, qid: stateOf(session).transaction?.qid, client: stateOf(session).client, code: 451, reply: reply.message, memoryUsed: rt.memory.used }, 'message deferred: memory budget exhausted');
    throw reply;
  }
  let incoming: IncomingFile | undefined;
  try {
    return await receive(rt, stream, session, (f) => {
      incoming = f;
    });
  } finally {
    release();
    if (incoming) await incoming.remove().catch(() => undefined);
  }
}

async function receive(rt: Runtime, stream: SMTPServerDataStream, session: SMTPServerSession, onIncoming: (f: IncomingFile) => void): Promise<string> {
  const state = stateOf(session);
  const tx = state.transaction!;
  const cfg = rt.config;
  const limit = cfg.limits.messageSize;
  const mailArgs = ((session.envelope.mailFrom ? session.envelope.mailFrom.args : undefined) || {}) as Args;
  const received = Buffer.from(receivedHeader({
    helo: session.hostNameAppearsAs || 'unknown', clientHostname: session.clientHostname, clientAddress: state.client,
    hostname: cfg.hostname, qid: tx.qid, esmtp: session.openingCommand === 'EHLO', tls: Boolean(session.secure), utf8: Boolean(mailArgs.SMTPUTF8),
    ...(tx.recipients.length === 1 ? { recipient: tx.recipients[0]!.address } : {}), date: new Date(),
  }), 'utf8');
  const rules = ruleOf;
  const scan = needsJudgement(cfg, rt.rules, tx.recipients, state.trusted);
  // Read into an incoming file first when a verdict or a rule's action needs the whole message before the reply.
  const buffered = scan || tx.recipients.some((r) => rules(r).mode === 'Delete' || rules(r).backup || rt.rules.get(rules(r).name)?.actions);
  const singleRule = rules(tx.recipients[0]!).name;

  // Receive: straight into the spool, or into an incoming file when a verdict is needed first; never whole in memory.
  const writer = buffered ? undefined : rt.injector.open(tx.qid);
  const incoming = buffered ? await IncomingFile.create(rt.incomingDir, tx.qid) : undefined;
  if (incoming) {
    onIncoming(incoming);
    void incoming.write(received);
  }
  if (writer) {
    void writer.write(Buffer.concat([received, Buffer.from(infoHeaders(cfg, singleRule, 'Skip', undefined), 'latin1')]));
  }
  // Canonical line ends and lengths, forged verdict headers removed, hops counted (inject/message-normalize.ts).
  const normalizer = new MessageNormalizer(cfg.hostname);
  let bytes = 0;
  let tooBig = false;
  const keep = async (out: Buffer) => {
    if (out.length === 0) return;
    const wait = writer ? writer.write(out) : incoming!.write(out);
    if (wait) await wait;
  };
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (tooBig || (limit > 0 && bytes > limit)) {
      tooBig = true;
      continue; // read to the end, keep nothing
    }
    await keep(normalizer.push(chunk));
  }
  if (!tooBig) await keep(normalizer.end());
  await incoming?.finish();
  const base = {
    event: 'message', sid: session.id, qid: tx.qid, client: state.client, helo: session.hostNameAppearsAs || undefined, tls: session.secure ? tlsVersion(session) : undefined,
    from: tx.mailFrom, to: tx.recipients.map((r) => r.address), size: bytes, subject: normalizer.subject?.trim(), messageId: normalizer.messageId?.trim(),
  };
  if (tooBig || stream.sizeExceeded) {
    writer?.abort();
    const reply = replies.messageTooBig(limit);
    rt.metrics.messages.inc({ outcome: 'rejected', reason: 'size', rule: '' });
    rt.logger.info({ ...base, code: 552, reply: reply.message }, 'message refused: too big');
    throw reply;
  }
  if (normalizer.hops >= cfg.limits.maxHops) {
    writer?.abort();
    const reply = replies.tooManyHops();
    rt.metrics.messages.inc({ outcome: 'rejected', reason: 'hops', rule: '' });
    rt.logger.warn({ ...base, code: 554, hops: normalizer.hops, maxHops: cfg.limits.maxHops, reply: reply.message }, 'message refused: too many hops (mail loop)');
    throw reply;
  }
  if (normalizer.removed.length > 0) rt.logger.info({ event: 'forged-headers', sid: session.id, qid: tx.qid, removed: normalizer.removed }, 'header fields claiming our verdicts removed');
  const hops = normalizer.hops + 1; // with our own Received
  const fail = (err: unknown) => {
    const reply = replies.spoolFailed();
    rt.metrics.messages.inc({ outcome: 'tempfail', reason: 'spool', rule: '' });
    rt.logger.error({ ...base, code: 452, reply: reply.message, err: (err as Error).message, spool: err instanceof SpoolError }, 'message refused: spool write failed');
    return reply;
  };

  if (writer) {
    try {
      await writer.commit(envelopeOf(session, tx, state.client, tx.qid, tx.recipients, hops));
    } catch (err) {
      throw fail(err);
    }
    state.messagesAccepted++;
    state.transaction = undefined;
    rt.metrics.messages.inc({ outcome: 'accepted', reason: '', rule: singleRule });
    rt.logger.info({ ...base, code: 250, rcpts: tx.recipients.length }, 'message accepted');
    return replies.queued(tx.qid);
  }

  // Verdict first (protection/), then carried out per rule group (apply/). The message is read from the incoming file.
  const original: MessageSource = incoming!;
  // Behind an edge gateway the client is the edge: anti-spam judges the host the edge received the mail from.
  const behindEdge = cfg.integration !== 'Direct';
  const judged = scan ? await judge({
    config: cfg, rules: rt.rules, resolver: rt.resolver,
    observe: (scanner, seconds, failed) => {
      rt.metrics.scannerSeconds.observe({ scanner }, seconds);
      if (failed) rt.metrics.scannerErrors.inc({ scanner });
    },
    memory: (n, fn) => rt.memory.run(n, fn),
  }, {
    message: original, ip: state.client, helo: session.hostNameAppearsAs || '', sender: tx.mailFrom, recipients: tx.recipients.map((r) => r.address), qid: tx.qid,
    trusted: state.trusted, origin: behindEdge && !state.trusted ? originOf(await original.read(0, 256 * 1024), (ip) => ip === state.client || rt.trusted.contains(ip)) : undefined,
  }, tx.recipients) : { recipients: tx.recipients, verdicts: new Map(), senderSuspect: undefined };
  const reply = await applyVerdict(rt, {
    qid: tx.qid, mailFrom: tx.mailFrom, client: state.client, recipients: judged.recipients, original, senderSuspect: judged.senderSuspect,
    envelope: (id, rcptTo) => envelopeOf(session, tx, state.client, id, rcptTo, hops), log: base, spoolFailed: fail,
  }, judged.verdicts);
  state.messagesAccepted++;
  state.transaction = undefined;
  return reply;
}

