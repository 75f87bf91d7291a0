/**
 * The outbound SMTP client: nodemailer's SMTPConnection with the gateway's
 * TLS policy, per-recipient DSN parameters, and a connection cache.
 *
 * - Outbound TLS per route (routing/route-resolve.ts): None → never
 *   STARTTLS; Attempt → STARTTLS when offered, certificate not verified
 *   (Postfix "may"); Encrypt → STARTTLS or no delivery, not verified
 *   ("encrypt"); Verify → STARTTLS, chain to a trusted CA (the policy's
 *   bundle or the system roots) and the next hop's name checked ("secure").
 *   A client certificate is presented when the policy has one.
 * - SMTP AUTH with the route's credentials, only over TLS.
 * - nodemailer's envelope carries one NOTIFY/ORCPT for all its recipients
 *   (its public `dsn` option); recipients whose DSN parameters differ are
 *   therefore sent in separate transactions (deliver-message.ts groups them,
 *   dsnKey below). No nodemailer internal is replaced.
 * - The TCP connection is opened here (connect timeout, Nagle off) and
 *   handed to nodemailer through its public `connection` option.
 * - ConnectionCache keeps idle connections per address:port for a short
 *   time and hands them out again after RSET (Postfix's connection cache).
 */
import { readFile, stat } from 'node:fs/promises';
import { connect as tcpConnect, isIP, type Socket } from 'node:net';
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import type { Credentials, TlsPolicy } from '../routing/route-resolve.ts';
import { PassThrough, type Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';

export type { TlsPolicy, Credentials };

/** Secret files (CA bundles, client certificates, credentials), re-read when the mounted Secret changes (its mtime moves). */
const secretCache = new Map<string, { mtimeMs: number; data: Buffer }>();
export async function readSecret(path: string): Promise<Buffer> {
  const st = await stat(path);
  const hit = secretCache.get(path);
  if (hit && hit.mtimeMs === st.mtimeMs) return hit.data;
  const data = await readFile(path);
  secretCache.set(path, { mtimeMs: st.mtimeMs, data });
  return data;
}

/**
 * Why a certificate was refused, from the handshake error (nodemailer passes
 * it on as ESOCKET with Node's — OpenSSL's — message, its code replaced).
 */
export function certificateProblem(message: string): string | undefined {
  const known: [RegExp, string][] = [
    [/certificate has expired/i, 'the certificate has expired'],
    [/certificate is not yet valid/i, 'the certificate is not valid yet'],
    [/does not match certificate's altnames|altname/i, 'the certificate is for another name'],
    [/self[- ]signed certificate in certificate chain/i, 'the chain ends in an untrusted self-signed CA'],
    [/self[- ]signed certificate/i, 'the certificate is self-signed'],
    [/unable to verify the first certificate|unable to get (local )?issuer certificate/i, 'the certificate is from an unknown CA'],
    [/certificate (signature failure|revoked)|bad certificate/i, 'the certificate is not acceptable'],
  ];
  return known.find(([re]) => re.test(message))?.[1];
}

/** TLS options of one connection: Verify checks chain and name (the configured host or MX name); the others accept any certificate. */
async function tlsOptionsFor(policy: TlsPolicy, mode: TlsPolicy['mode'], peerName: string): Promise<ConnectionOptions> {
  const named = isIP(peerName) === 0;
  const [ca, cert, key] = await Promise.all([
    mode === 'Verify' && policy.caFile ? readSecret(policy.caFile) : undefined,
    policy.certFile ? readSecret(policy.certFile) : undefined,
    policy.keyFile ? readSecret(policy.keyFile) : undefined,
  ]);
  return {
    rejectUnauthorized: mode === 'Verify',
    ...(named ? { servername: peerName } : {}),
    ...(mode === 'Verify' ? { checkServerIdentity: (_host: string, c: PeerCertificate) => checkServerIdentity(peerName, c) } : {}),
    ...(ca ? { ca } : {}),
    ...(cert && key ? { cert, key } : {}),
  };
}

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
  /** The next hop offered DSN (RFC 3461): it reports delivery itself; without it, NOTIFY=SUCCESS gets a "relayed" notice from us. */
  readonly dsn: boolean;

  /** `ehlo`: the next hop's EHLO reply (the last one, after STARTTLS), which names its extensions. */
  private constructor(key: string, conn: SMTPConnection, ehlo: string) {
    this.key = key;
    this.conn = conn;
    this.smtputf8 = /^250[ -]SMTPUTF8\b/im.test(ehlo);
    this.dsn = /^250[ -]DSN\b/im.test(ehlo);
    conn.on('error', () => undefined);
    conn.once('end', () => {
      this.closed = true;
    });
  }

  /**
   * Connects, greets, starts TLS by the route's policy, and logs in when the
   * route has credentials (only over TLS). A next hop that answers EHLO with
   * our own hostname is ourselves (a mail loop): rejected with code ELOOP
   * before any transaction. Errors: ETLS (no TLS where required, or the
   * handshake failed), ETLSVERIFY (Verify: the certificate was refused, with
   * the reason), EAUTH (the server refused the login, with its reply).
   * Attempt falls back to plaintext once when the TLS handshake itself fails,
   * like Postfix's "may".
   */
  static async open(opts: { key: string; address: string; port: number; peerName: string; helo: string; tls: TlsPolicy; auth?: Credentials | undefined; timeoutMs: number }): Promise<OutboundConnection> {
    try {
      return await OutboundConnection.connectOnce(opts, opts.tls.mode);
    } catch (err) {
      if (opts.tls.mode !== 'Attempt' || (err as SmtpError).code !== 'ETLS' || opts.auth) throw err;
      return OutboundConnection.connectOnce(opts, 'None');
    }
  }

  private static async connectOnce(opts: Parameters<typeof OutboundConnection.open>[0], mode: TlsPolicy['mode']): Promise<OutboundConnection> {
    let socket: Socket;
    try {
      socket = await openSocket(opts.address, opts.port, opts.timeoutMs);
    } catch (err) {
      throw new SmtpError(err as Error & { command?: string });
    }
    const tlsOptions = await tlsOptionsFor(opts.tls, mode, opts.peerName);
    const conn = new SMTPConnection({
      connection: socket,
      host: opts.address,
      port: opts.port,
      name: opts.helo,
      ...(mode === 'None' ? { ignoreTLS: true } : {}),
      ...(mode === 'Encrypt' || mode === 'Verify' ? { requireTLS: true } : {}),
      tls: tlsOptions,
      connectionTimeout: opts.timeoutMs,
      greetingTimeout: opts.timeoutMs,
      socketTimeout: opts.timeoutMs * 3,
      logger: false,
    });
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => {
        const e = err as Error & { code?: string; command?: string; reason?: string };
        // A certificate refused under Verify: say why (expired, wrong name, self-signed, unknown CA).
        const reason = mode === 'Verify' ? certificateProblem(e.message) : undefined;
        if (reason) return reject(new SmtpError(Object.assign(new Error(`certificate of ${opts.peerName} not verified: ${reason} (${e.message})`), { code: 'ETLSVERIFY', command: 'STARTTLS' })));
        if ((mode === 'Encrypt' || mode === 'Verify') && e.code === 'ETLS' && /upgrading connection with STARTTLS/i.test(e.message)) {
          return reject(new SmtpError(Object.assign(new Error(`TLS is required (${mode}) and the next hop does not do STARTTLS (${e.message})`), { code: 'ETLS', command: 'STARTTLS' })));
        }
        reject(new SmtpError(e));
      };
      conn.once('error', fail);
      conn.connect(() => {
        conn.removeListener('error', fail);
        const peerName = peerNameOf(conn.lastServerResponse);
        if (peerName && peerName === opts.helo.toLowerCase()) {
          conn.close();
          return reject(new SmtpError(Object.assign(new Error(`the next hop greets as ${peerName}, our own hostname`), { code: 'ELOOP' })));
        }
        if ((mode === 'Encrypt' || mode === 'Verify') && !conn.secure) {
          conn.close();
          return reject(new SmtpError(Object.assign(new Error('TLS required but not established'), { code: 'ETLS' })));
        }
        resolve();
      });
    });
    // Before AUTH, whose reply would replace it.
    const ehlo = conn.lastServerResponse || '';
    if (opts.auth) {
      if (!conn.secure) {
        conn.close();
        throw new SmtpError(Object.assign(new Error('credentials are only sent over TLS, and the session is not encrypted'), { code: 'ETLS' }));
      }
      const [user, pass] = await Promise.all([readSecret(opts.auth.usernameFile), readSecret(opts.auth.passwordFile)]);
      await new Promise<void>((resolve, reject) => conn.login({ user: user.toString('utf8').trim(), pass: pass.toString('utf8').replace(/\r?\n$/, '') }, (err) => {
        if (!err) return resolve();
        conn.close();
        reject(new SmtpError(Object.assign(err as Error, { code: 'EAUTH', command: 'AUTH' })));
      }));
    }
    return new OutboundConnection(opts.key, conn, ehlo);
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
