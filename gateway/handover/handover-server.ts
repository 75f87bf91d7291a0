/**
 * The handover listener: where a retiring peer gateway of the same
 * MailGateway hands over what it could not deliver before it stops for good
 * (scale-down). A separate port, never behind the public Service; every
 * session must AUTH PLAIN as `mailgw-handover` with the shared token, so
 * nobody else can use it to relay. A handed-over message is already
 * accepted, checked and scanned: it skips relay control, verification and
 * scanning and goes into the spool with its envelope and delivery state as
 * they were (handover-wire.ts); 250 only once it is fsynced here.
 */
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { Injection } from '../inject/injector.ts';
import { newQueueId } from '../queue-id.ts';
import type { Runtime } from '../runtime.ts';
import { SpoolError } from '../spool/spool.ts';
import { decodeHandoverLine, HANDOVER_USER, MAX_HANDOVER_LINE } from './handover-wire.ts';

const smtpError = (code: number, text: string) => Object.assign(new Error(text), { responseCode: code });

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Reads the handover line off the front of the DATA stream, then yields the rest. */
async function* splitFirstLine(stream: SMTPServerDataStream, onLine: (line: string) => void): AsyncGenerator<Buffer> {
  let head: Buffer[] = [];
  let headBytes = 0;
  let found = false;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (found) {
      yield chunk;
      continue;
    }
    const nl = chunk.indexOf(0x0a);
    if (nl < 0) {
      head.push(chunk);
      headBytes += chunk.length;
      if (headBytes > MAX_HANDOVER_LINE) throw smtpError(554, '5.6.0 Handover line too long');
      continue;
    }
    head.push(chunk.subarray(0, nl + 1));
    onLine(Buffer.concat(head).toString('latin1').replace(/\r?\n$/, ''));
    head = [];
    found = true;
    if (nl + 1 < chunk.length) yield chunk.subarray(nl + 1);
  }
  if (!found) throw smtpError(554, '5.6.0 No handover line before the end of data');
}

export interface HandoverServer {
  port: number;
  close(): Promise<void>;
}

export async function startHandoverServer(current: () => Runtime | undefined, listen: { host: string; port: number; reusePort?: boolean }, token: string, hostname: string): Promise<HandoverServer> {
  // Bound before the spool is recovered; sessions are refused until the gateway is ready (onConnect).
  const rt = (): Runtime => {
    const r = current();
    if (!r) throw smtpError(421, '4.3.0 Gateway starting, try again later');
    return r;
  };
  const receive = async (stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> => {
    const r = rt();
    let writer: Injection | undefined;
    let handed: ReturnType<typeof decodeHandoverLine> | undefined;
    try {
      for await (const chunk of splitFirstLine(stream, (line) => {
        try {
          handed = decodeHandoverLine(line);
        } catch (err) {
          throw smtpError(554, `5.6.0 ${(err as Error).message}`);
        }
        const env = session.envelope;
        const from = env.mailFrom ? env.mailFrom.address : '';
        const to = new Set(env.rcptTo.map((a) => a.address.toLowerCase()));
        if (from !== handed.envelope.mailFrom || handed.envelope.rcptTo.some((x) => !to.has(x.address.toLowerCase()))) {
          throw smtpError(554, '5.5.4 The handover envelope does not match MAIL FROM and RCPT TO');
        }
        writer = r.injector.open(r.injector.has(handed.envelope.id) ? newQueueId() : handed.envelope.id);
      })) {
        const wait = writer!.write(chunk);
        if (wait) await wait;
      }
      const h = handed!;
      // With its state (attempts, held); on any failure nothing stays here, and the sender keeps its copy on the 4xx.
      const stored = await writer!.commit({ ...h.envelope, id: writer!.id }, { ...h.state, nextAttemptAt: Date.now() });
      r.metrics.handover.inc({ direction: 'in', result: 'queued' });
      r.logger.info({
        event: 'handover-received', qid: stored.id, originalQid: h.envelope.id, from: h.envelope.mailFrom, to: h.envelope.rcptTo.map((x) => x.address),
        peer: session.remoteAddress, attempts: h.state.attempts, held: h.state.held, receivedAt: h.envelope.receivedAt,
      }, `handed over by a retiring peer: queued as ${stored.id}`);
      return stored.id;
    } catch (err) {
      writer?.abort();
      stream.resume();
      r.metrics.handover.inc({ direction: 'in', result: 'refused' });
      if (typeof (err as { responseCode?: number }).responseCode === 'number') throw err;
      r.logger.error({ event: 'handover-received', err: (err as Error).message, peer: session.remoteAddress }, 'handover refused: spool write failed');
      throw smtpError(452, err instanceof SpoolError ? '4.3.1 Insufficient system storage' : '4.3.0 Temporary failure, try again later');
    }
  };

  const server = new SMTPServer({
    name: hostname,
    banner: 'mailgw handover',
    authMethods: ['PLAIN'],
    authOptional: false,
    allowInsecureAuth: true, // pod network inside the cluster; the token is the credential
    disabledCommands: ['STARTTLS'],
    hideSTARTTLS: true,
    disableReverseLookup: true,
    socketTimeout: 120_000,
    closeTimeout: 5_000,
    logger: false,
    onConnect(_session, callback) {
      callback(current() ? null : smtpError(421, '4.3.0 Gateway starting, try again later'));
    },
    onAuth(auth, session, callback) {
      if (auth.method === 'PLAIN' && auth.username === HANDOVER_USER && sameSecret(auth.password ?? '', token)) return callback(null, { user: HANDOVER_USER });
      rt().logger.warn({ event: 'handover-auth-failed', peer: session.remoteAddress, user: auth.username }, 'handover login refused');
      return callback(smtpError(535, '5.7.8 Authentication credentials invalid'));
    },
    onData(stream, session, callback) {
      receive(stream, session).then((qid) => callback(null, `2.0.0 Ok: queued as ${qid}`), (err: Error) => callback(err));
    },
  });
  server.on('error', (err) => current()?.logger.warn({ event: 'handover-listener', err: err.message }, 'handover listener error'));
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen({ port: listen.port, host: listen.host, reusePort: listen.reusePort ?? false }, () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const port = (server.server.address() as AddressInfo).port;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
