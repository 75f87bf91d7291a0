/**
 * End-of-data stage: the message is stored (behind the gateway's Received
 * header) and answered 250 only after the spool has fsynced it; verdicts are
 * decided before that reply, so a Reject is a real 5xx and nothing is queued.
 *
 * - No scanning needed (no module enabled, or every recipient's rule is
 *   Skip): the message streams straight into the spool.
 * - Otherwise it is read whole (bounded by the size limit), scanned once,
 *   and carried out per rule group: Skip and Scan-passed groups are stored
 *   (with info headers, subject tag, Authentication-Results, attachments
 *   removed), Delete groups are dropped silently, a Reject of every
 *   recipient answers 5xx; a Reject of only some recipients answers 250 and
 *   sends them an NDR (ndrAfterSession). A scanner failure answers 451 4.7.1
 *   (or passes with a header, by policy). Rules with `backup` keep the
 *   original in the backup store.
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
import { newQueueId } from '../queue-id.ts';
import type { Runtime } from '../runtime.ts';
import { writeEdited } from '../protection/message-edit.ts';
import { IncomingFile, type MessageSource } from '../spool/incoming.ts';
import { FULL_RETURN_LIMIT } from '../bounce/dsn-build.ts';
import { scanMessage, scanningEnabled } from '../protection/scan-message.ts';
import { decide, type Verdict } from '../protection/verdict.ts';
import { SpoolError } from '../spool/spool.ts';
import { MessageNormalizer } from '../inject/message-normalize.ts';
import { originOf } from '../protection/received-origin.ts';
import type { Envelope, EnvelopeRecipient } from '../spool/spool-types.ts';
import { receivedHeader } from './received-header.ts';
import { replies } from '../smtp-replies.ts';
import { stateOf, type Transaction } from './session.ts';

type Args = Record<string, unknown>;

function envelopeOf(session: SMTPServerSession, tx: Transaction, client: string, id: string, rcptTo: EnvelopeRecipient[], hops: number): Omit<Envelope, 'size' | 'crc'> {
  const mailArgs = ((session.envelope.mailFrom ? session.envelope.mailFrom.args : undefined) || {}) as Args;
  const dsn = session.envelope.dsn as { ret?: string; envid?: string } | undefined;
  return {
    id,
    receivedAt: new Date().toISOString(),
    sessionId: session.id,
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
    hops,
  };
}

/** X-Mailgw-* headers: only when the gateway has something to say (scanning configured), so plain relaying adds nothing but Received. */
function infoHeaders(rt: Runtime, rule: string, action: string, v: Verdict | undefined): string {
  if (!rt.config.protection.infoHeaders || !scanningEnabled(rt.config)) return '';
  return [`X-Mailgw-Rule: ${rule}`, `X-Mailgw-Action: ${action}`,
    ...(v ? [`X-Mailgw-AntiVirus: ${v.status.antivirus}`, `X-Mailgw-AntiSpam-Status: ${v.status.antispam}`, ...(v.status.content !== 'off' ? [`X-Mailgw-Content: ${v.status.content}`] : [])] : [])]
    .map((l) => `${l}\r\n`).join('');
}

/** Memory a session holds while its DATA streams to disk (socket, normalizer and file buffers). */
export const SESSION_MEMORY = 256 * 1024;

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
  const rules = (r: EnvelopeRecipient) => r.rule ?? { name: 'default', mode: 'Scan' as const, backup: false };
  const scan = scanningEnabled(cfg, state.trusted) && tx.recipients.some((r) => rules(r).mode === 'Scan');
  const buffered = scan || tx.recipients.some((r) => rules(r).mode === 'Delete' || rules(r).backup);
  const singleRule = rules(tx.recipients[0]!).name;

  // Receive: straight into the spool, or into an incoming file when a verdict is needed first; never whole in memory.
  const writer = buffered ? undefined : rt.injector.open(tx.qid);
  const incoming = buffered ? await IncomingFile.create(rt.incomingDir, tx.qid) : undefined;
  if (incoming) {
    onIncoming(incoming);
    void incoming.write(received);
  }
  if (writer) {
    void writer.write(Buffer.concat([received, Buffer.from(infoHeaders(rt, singleRule, 'Skip', undefined), 'latin1')]));
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
  const base = { event: 'message', sid: session.id, qid: tx.qid, client: state.client, from: tx.mailFrom, to: tx.recipients.map((r) => r.address), size: bytes };
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

  // Verdict first, then carry it out per rule group. The message is read from the incoming file.
  const original: MessageSource = incoming!;
  // Behind an edge gateway the client is the edge: anti-spam judges the host the edge received the mail from.
  const behindEdge = cfg.integration !== 'Direct';
  const memory = <T>(n: number, fn: () => Promise<T>) => rt.memory.run(n, fn);
  const verdict = scan ? decide(await scanMessage(cfg, rt.resolver, {
    message: original, ip: state.client, helo: session.hostNameAppearsAs || '', sender: tx.mailFrom, recipients: tx.recipients.map((r) => r.address), qid: tx.qid,
    trusted: state.trusted, origin: behindEdge && !state.trusted ? originOf(await original.read(0, 256 * 1024), (ip) => ip === state.client || rt.trusted.contains(ip)) : undefined,
  }, (scanner, seconds, failed) => {
    rt.metrics.scannerSeconds.observe({ scanner }, seconds);
    if (failed) rt.metrics.scannerErrors.inc({ scanner });
  }, memory), cfg.protection, cfg.authentication) : undefined;
  const groups = new Map<string, EnvelopeRecipient[]>();
  for (const r of tx.recipients) groups.set(rules(r).name, [...(groups.get(rules(r).name) ?? []), r]);
  const actionOf = (rule: { mode: string }) => (rule.mode === 'Delete' ? 'Delete' : rule.mode === 'Skip' ? 'Skip' : verdict?.action ?? 'Skip');
  rt.logger.info({
    event: 'verdict', qid: tx.qid, from: tx.mailFrom, client: state.client,
    rules: [...groups].map(([name, rs]) => ({ rule: name, mode: rules(rs[0]!).mode, action: actionOf(rules(rs[0]!)), to: rs.map((r) => r.address) })),
    ...(verdict ? { status: verdict.status, action: verdict.action, reasons: verdict.reasons, tempfail: verdict.tempfail, ...(verdict.spamSymbols.length ? { symbols: verdict.spamSymbols } : {}) } : {}),
  }, verdict ? `verdict: ${verdict.action}${verdict.reasons.length ? ` (${verdict.reasons.join('; ')})` : ''}` : 'verdict: no scanning');

  if (verdict?.tempfail) {
    rt.metrics.messages.inc({ outcome: 'tempfail', reason: 'scanner', rule: '' });
    rt.logger.warn({ ...base, code: 451, reason: verdict.tempfail }, 'message deferred: scanner unavailable');
    throw replies.scannerTempfail();
  }
  // Backups keep the original, whatever happens to the message next.
  for (const [name, rs] of groups) {
    if (!rules(rs[0]!).backup) continue;
    const b = await rt.backup.storeFrom(original, { qid: tx.qid, from: tx.mailFrom, to: rs.map((r) => r.address), client: state.client, rule: name, action: actionOf(rules(rs[0]!)), reasons: verdict?.reasons ?? [] });
    rt.logger.info({ event: 'backup', qid: tx.qid, backupId: b.id, rule: name }, `original kept in the backup store: ${b.id}`);
  }
  const rejected = tx.recipients.filter((r) => actionOf(rules(r)) === 'Reject');
  if (rejected.length === tx.recipients.length) {
    const reply = replies.contentReject(verdict?.reasons.join('; ') ?? 'rejected');
    rt.metrics.messages.inc({ outcome: 'rejected', reason: 'policy', rule: [...groups.keys()].join(',') });
    rt.logger.info({ ...base, code: 554, reply: reply.message }, 'message refused by policy');
    throw reply;
  }
  let first = true;
  try {
    for (const [name, rs] of groups) {
      const action = actionOf(rules(rs[0]!));
      if (action === 'Delete' || action === 'Reject') continue;
      const scanned = rules(rs[0]!).mode === 'Scan' ? verdict : undefined;
      const edit = {
        prepend: `${scanned?.authHeaders ?? ''}${infoHeaders(rt, name, action, scanned)}`,
        subjectTag: scanned?.tagSubject ? cfg.protection.antispam.subjectTag : undefined,
        removeParts: action === 'DeleteAttachment' ? scanned?.removeParts : undefined,
        notice: 'An attachment was removed by the mail gateway because it violated the mail policy.',
      };
      const id = first ? tx.qid : newQueueId();
      first = false;
      // The message as delivered is written from the incoming file through the edits into the spool, as a stream.
      await rt.injector.inject(id, (w) => writeEdited(original, edit, w, memory), envelopeOf(session, tx, state.client, id, rs, hops));
      if (id !== tx.qid) rt.logger.info({ event: 'split', qid: tx.qid, splitQid: id, rule: name, to: rs.map((r) => r.address) }, 'recipients with another outcome queued separately');
    }
  } catch (err) {
    throw fail(err);
  }
  if (rejected.length > 0 && cfg.protection.ndrAfterSession) {
    const env = { ...envelopeOf(session, tx, state.client, tx.qid, tx.recipients, hops), size: original.size, crc: 0 };
    // A DSN returns at most FULL_RETURN_LIMIT bytes whole, else the headers: that much is read.
    await rt.queue.bounce(env, await original.read(0, FULL_RETURN_LIMIT + 1), rejected.map((r) => ({
      address: r.address, orcpt: r.dsn?.orcpt,
      state: { status: 'failed' as const, statusCode: '5.7.1', diagnostic: `Message refused by policy: ${verdict?.reasons.join('; ') ?? ''}` },
    })));
  }
  for (const [name, rs] of groups) {
    const action = actionOf(rules(rs[0]!));
    rt.metrics.messages.inc({ outcome: action === 'Delete' ? 'deleted' : action === 'Reject' ? 'rejected' : 'accepted', reason: action === 'Skip' ? '' : (verdict?.reasons[0]?.split(':')[0] ?? 'rule'), rule: name });
  }
  state.messagesAccepted++;
  state.transaction = undefined;
  rt.logger.info({ ...base, code: 250, rcpts: tx.recipients.length, deleted: tx.recipients.filter((r) => actionOf(rules(r)) === 'Delete').map((r) => r.address), rejected: rejected.map((r) => r.address) }, 'message accepted');
  return replies.queued(tx.qid);
}

