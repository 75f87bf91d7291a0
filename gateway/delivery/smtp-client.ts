/**
 * The outbound SMTP client: nodemailer's SMTPConnection with the gateway's
 * TLS policy, per-recipient DSN parameters, and a connection cache.
 *
 * - Outbound TLS None → never STARTTLS; Attempt → STARTTLS when offered,
 *   certificate not verified (like Postfix "may"); Require → STARTTLS or no
 *   delivery (nothing is ever sent in clear).
 * - nodemailer's envelope carries one NOTIFY/ORCPT for all its recipients
 *   (its public `dsn` option); recipients whose DSN parameters differ are
 *   therefore sent in separate transactions (deliver-message.ts groups them,
 *   dsnKey below). No nodemailer internal is replaced.
 * - The TCP connection is opened here (connect timeout, Nagle off) and
 *   handed to nodemailer through its public `connection` option.
 * - ConnectionCache keeps idle connections per address:port for a short
 *   time and hands them out again after RSET (Postfix's connection cache).
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';

export type TlsMode = 'None' | 'Attempt' | 'Require';

export interface RcptDsn {
  notify?: string[] | undefined;
  orcpt?: string | undefined;
}

export interface TransactionResult {
  accepted: string[];
  /** Per refused recipient: the reply code and text. */
  rejected: { recipient: string; code: number; response: string }[];
  /** Reply to the end of data, when the message was sent. */
  response?: string;
  secure: boolean;
}

export class SmtpError extends Error {
  readonly code: string | undefined;
  readonly responseCode: number | undefined;
  readonly response: string | undefined;
  /** The stage that failed: CONN (before any transaction), MAIL FROM, RCPT TO, DATA. */
  readonly command: string;

  constructor(err: Error & { code?: string; responseCode?: number; response?: string; command?: string }) {
    super(err.message);
    this.code = err.code;
    this.responseCode = err.responseCode;
    this.response = err.response;
    this.command = err.command ?? 'CONN';
  }
}

/** The name a server gives in its EHLO (or HELO) reply: the first word after the code. */
export function peerNameOf(reply: string | false | undefined): string | undefined {
  if (!reply) return undefined;
  const m = /^2\d\d[ -]([^\s]+)/.exec(reply);
  return m ? m[1]!.toLowerCase().replace(/\.$/, '') : undefined;
}

/** Recipients with the same key can share one transaction: nodemailer sends one NOTIFY/ORCPT for all of them. */
export function dsnKey(dsn: RcptDsn | undefined): string {
  return `${dsn?.notify?.join(',') ?? ''}\n${dsn?.orcpt ?? ''}`;
}

/** A TCP connection to address:port within timeoutMs, Nagle off (else the end-of-data dot waits for the peer's delayed ACK, ~40 ms a message). */
function openSocket(address: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: address, port, noDelay: true, keepAlive: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`connection timeout after ${timeoutMs} ms`), { code: 'ETIMEDOUT', command: 'CONN' }));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(Object.assign(err, { command: 'CONN' }));
    });
  });
}

export class OutboundConnection {
  readonly key: string;
  private readonly conn: SMTPConnection;
  private idleTimer: NodeJS.Timeout | undefined;
  closed = false;
  /** The next hop offered SMTPUTF8 in its EHLO reply (RFC 6531). */
  readonly smtputf8: boolean;

  private constructor(key: string, conn: SMTPConnection) {
    this.key = key;
    this.conn = conn;
    this.smtputf8 = /^250[ -]SMTPUTF8\b/im.test(conn.lastServerResponse || '');
    conn.on('error', () => undefined);
    conn.once('end', () => {
      this.closed = true;
    });
  }

  /**
   * Connects, greets and (by policy) starts TLS. A next hop that answers
   * EHLO with our own hostname is ourselves (a mail loop): rejected with
   * code ELOOP before any transaction.
   */
  static async open(opts: { key: string; address: string; port: number; servername: string; helo: string; tls: TlsMode; timeoutMs: number }): Promise<OutboundConnection> {
    let socket: Socket;
    try {
      socket = await openSocket(opts.address, opts.port, opts.timeoutMs);
    } catch (err) {
      throw new SmtpError(err as Error & { command?: string });
    }
    const conn = new SMTPConnection({
      connection: socket,
      host: opts.address,
      port: opts.port,
      name: opts.helo,
      ...(opts.tls === 'None' ? { ignoreTLS: true } : {}),
      ...(opts.tls === 'Require' ? { requireTLS: true } : {}),
      tls: { rejectUnauthorized: false, ...(opts.servername ? { servername: opts.servername } : {}) },
      connectionTimeout: opts.timeoutMs,
      greetingTimeout: opts.timeoutMs,
      socketTimeout: opts.timeoutMs * 3,
      logger: false,
    });
    return new Promise((resolve, reject) => {
      const fail = (err: Error) => reject(new SmtpError(err as Error & { command?: string }));
      conn.once('error', fail);
      conn.connect(() => {
        conn.removeListener('error', fail);
        const peerName = peerNameOf(conn.lastServerResponse);
        if (peerName && peerName === opts.helo.toLowerCase()) {
          conn.close();
          return reject(new SmtpError(Object.assign(new Error(`the next hop greets as ${peerName}, our own hostname`), { code: 'ELOOP' })));
        }
        if (opts.tls === 'Require' && !conn.secure) {
          conn.close();
          return reject(new SmtpError(Object.assign(new Error('TLS required but not established'), { code: 'ETLS' })));
        }
        resolve(new OutboundConnection(opts.key, conn));
      });
    });
  }

  get secure(): boolean {
    return this.conn.secure;
  }

  /**
   * One transaction. Refused recipients come back in `rejected`; a failure
   * of the whole transaction (MAIL FROM, DATA, connection) rejects. Every
   * recipient must have the same DSN parameters (dsnKey): they are sent as
   * nodemailer's one `dsn` of the envelope.
   */
  send(envelope: { from: string; to: { address: string; dsn?: RcptDsn | undefined }[]; ret?: string | undefined; envid?: string | undefined; size: number; smtputf8: boolean; body8bit: boolean }, message: Readable): Promise<TransactionResult> {
    const first = envelope.to[0]?.dsn;
    if (envelope.to.some((r) => dsnKey(r.dsn) !== dsnKey(first))) return Promise.reject(new Error('recipients with different DSN parameters need separate transactions'));
    const dsn = {
      ...(envelope.ret ? { ret: envelope.ret } : {}), ...(envelope.envid ? { envid: envelope.envid } : {}),
      ...(first?.notify?.length ? { notify: first.notify } : {}), ...(first?.orcpt ? { orcpt: first.orcpt } : {}),
    };
    return new Promise((resolve, reject) => {
      const body = new PassThrough();
      message.on('error', (err) => body.destroy(err));
      message.pipe(body);
      this.conn.send({
        from: envelope.from,
        to: envelope.to.map((r) => r.address),
        size: envelope.size,
        use8BitMime: envelope.body8bit,
        ...(Object.keys(dsn).length ? { dsn } : {}),
      } as SMTPConnection.Envelope, body, (err, info) => {
        if (err) {
          const e = err as Error & { rejectedErrors?: (Error & { recipient: string; responseCode?: number; response?: string })[] };
          if (e.rejectedErrors && (err as { command?: string }).command === 'RCPT TO') {
            // Every recipient refused: not a transaction failure, each has its answer.
            return resolve({
              accepted: [],
              rejected: e.rejectedErrors.map((r) => ({ recipient: r.recipient, code: r.responseCode ?? 451, response: r.response ?? r.message })),
              secure: this.conn.secure,
            });
          }
          return reject(new SmtpError(err as Error & { command?: string }));
        }
        const i = info as unknown as { accepted: unknown[]; response: string; rejectedErrors?: (Error & { recipient: string; responseCode?: number; response?: string })[] };
        resolve({
          accepted: i.accepted.map(String),
          rejected: (i.rejectedErrors ?? []).map((r) => ({ recipient: r.recipient, code: r.responseCode ?? 451, response: r.response ?? r.message })),
          response: i.response,
          secure: this.conn.secure,
        });
      });
    });
  }

  reset(): Promise<boolean> {
    return new Promise((resolve) => this.conn.reset((err) => resolve(!err)));
  }

  setIdle(ms: number, onExpire: () => void): void {
    this.idleTimer = setTimeout(onExpire, ms);
    this.idleTimer.unref();
  }

  clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  close(): void {
    this.clearIdle();
    this.closed = true;
    this.conn.quit();
    setTimeout(() => this.conn.close(), 1000).unref();
  }
}

/** Idle connections per address:port:tls, reused for the next transaction there. */
export class ConnectionCache {
  private readonly idle = new Map<string, OutboundConnection[]>();
  private readonly idleMs: number;

  constructor(idleMs = 5000) {
    this.idleMs = idleMs;
  }

  take(key: string): OutboundConnection | undefined {
    const list = this.idle.get(key);
    while (list && list.length > 0) {
      const c = list.pop()!;
      c.clearIdle();
      if (!c.closed) return c;
    }
    return undefined;
  }

  async give(c: OutboundConnection): Promise<void> {
    if (c.closed || !(await c.reset())) return c.close();
    const list = this.idle.get(c.key) ?? [];
    list.push(c);
    this.idle.set(c.key, list);
    c.setIdle(this.idleMs, () => {
      const l = this.idle.get(c.key);
      if (l) this.idle.set(c.key, l.filter((x) => x !== c));
      c.close();
    });
  }

  closeAll(): void {
    for (const list of this.idle.values()) for (const c of list) c.close();
    this.idle.clear();
  }
}
