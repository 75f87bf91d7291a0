/**
 * The outbound SMTP client: nodemailer's SMTPConnection with the gateway's
 * TLS policy, per-recipient DSN parameters, and a connection cache.
 *
 * - Outbound TLS None → never STARTTLS; Attempt → STARTTLS when offered,
 *   certificate not verified (like Postfix "may"); Require → STARTTLS or no
 *   delivery (nothing is ever sent in clear).
 * - nodemailer sends one NOTIFY/ORCPT for every RCPT; ours are per recipient,
 *   so RCPT parameters are looked up per recipient (the one override of
 *   nodemailer internals, covered by the DSN delivery test).
 * - ConnectionCache keeps idle connections per address:port for a short
 *   time and hands them out again after RSET (Postfix's connection cache).
 */
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

interface Internals {
  _envelope: { dsn?: { ret?: string | null; envid?: string | null; notify?: string | null; orcpt?: string | null } } | false;
  _recipientQueue: string[];
  _supportedExtensions: string[];
  _getDsnRcptToArgs(): string;
}

/** The name a server gives in its EHLO (or HELO) reply: the first word after the code. */
export function peerNameOf(reply: string | false | undefined): string | undefined {
  if (!reply) return undefined;
  const m = /^2\d\d[ -]([^\s]+)/.exec(reply);
  return m ? m[1]!.toLowerCase().replace(/\.$/, '') : undefined;
}

const xtext = (s: string) => s.replace(/[^!-*,-<>-~]/g, (c) => `+${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);

export class OutboundConnection {
  readonly key: string;
  private readonly conn: SMTPConnection;
  private dsnByRcpt = new Map<string, RcptDsn>();
  private idleTimer: NodeJS.Timeout | undefined;
  closed = false;
  /** The next hop offered SMTPUTF8 in its EHLO reply (RFC 6531). */
  readonly smtputf8: boolean;

  private constructor(key: string, conn: SMTPConnection) {
    this.key = key;
    this.conn = conn;
    this.smtputf8 = /^250[ -]SMTPUTF8\b/im.test(conn.lastServerResponse || '');
    const internals = conn as unknown as Internals;
    internals._getDsnRcptToArgs = () => {
      if (!internals._supportedExtensions.includes('DSN')) return '';
      const rcpt = internals._recipientQueue[internals._recipientQueue.length - 1] ?? '';
      const dsn = this.dsnByRcpt.get(rcpt);
      const args: string[] = [];
      if (dsn?.notify?.length) args.push(`NOTIFY=${dsn.notify.join(',')}`);
      if (dsn?.orcpt) args.push(`ORCPT=${xtext(dsn.orcpt)}`);
      return args.length ? ` ${args.join(' ')}` : '';
    };
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
  static open(opts: { key: string; address: string; port: number; servername: string; helo: string; tls: TlsMode; timeoutMs: number }): Promise<OutboundConnection> {
    const conn = new SMTPConnection({
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
        // Nagle would hold the end-of-data dot behind the body until the peer's delayed ACK (~40 ms per message).
        (conn as unknown as { _socket?: { setNoDelay?(on: boolean): void } })._socket?.setNoDelay?.(true);
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
   * of the whole transaction (MAIL FROM, DATA, connection) rejects.
   */
  send(envelope: { from: string; to: { address: string; dsn?: RcptDsn | undefined }[]; ret?: string | undefined; envid?: string | undefined; size: number; smtputf8: boolean; body8bit: boolean }, message: Readable): Promise<TransactionResult> {
    this.dsnByRcpt = new Map(envelope.to.map((r) => [r.address, r.dsn ?? {}]));
    const hasDsn = Boolean(envelope.ret || envelope.envid || envelope.to.some((r) => r.dsn?.notify || r.dsn?.orcpt));
    return new Promise((resolve, reject) => {
      const body = new PassThrough();
      message.on('error', (err) => body.destroy(err));
      message.pipe(body);
      this.conn.send({
        from: envelope.from,
        to: envelope.to.map((r) => r.address),
        size: envelope.size,
        use8BitMime: envelope.body8bit,
        ...(hasDsn ? { dsn: { ...(envelope.ret ? { ret: envelope.ret } : {}), ...(envelope.envid ? { envid: envelope.envid } : {}) } } : {}),
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
