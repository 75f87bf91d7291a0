/**
 * A real SMTP peer for delivery tests (smtp-server), standing for the
 * internal mail server or the edge gateway: records every transaction
 * (envelope, per-recipient DSN parameters, raw bytes, whether TLS was used)
 * and answers RCPT/DATA as the test says.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

export interface Received {
  from: string;
  to: string[];
  rcptDsn: Record<string, { notify?: string[] | undefined; orcpt?: string | undefined }>;
  mailArgs: Record<string, unknown>;
  raw: Buffer;
  secure: boolean;
  session: string;
}

export interface SinkOptions {
  host?: string;
  port?: number;
  /** Return an Error with responseCode to refuse a recipient. */
  rcpt?: (address: string, attempt: number) => (Error & { responseCode: number }) | null;
  data?: (msg: Received) => (Error & { responseCode: number }) | null;
  /** Wait this long before answering the end of data. */
  dataDelayMs?: number;
  tls?: { key: Buffer; cert: Buffer };
  /** Require SMTP AUTH (PLAIN, LOGIN) with these credentials; `insecure`: offer it without TLS too. */
  auth?: { user: string; pass: string; insecure?: boolean };
  dsn?: boolean;
  /** Offer SMTPUTF8 (default true). */
  smtputf8?: boolean;
  /** The name in the greeting and EHLO reply (default: the machine's hostname). */
  name?: string;
}

export interface Sink {
  port: number;
  host: string;
  messages: Received[];
  connections: number;
  rcptAttempts: Map<string, number>;
  /** AUTH attempts seen: [user, succeeded, over TLS]. */
  auths: [string, boolean, boolean][];
  waitFor(n: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export function refuse(code: number, text: string): Error & { responseCode: number } {
  return Object.assign(new Error(text), { responseCode: code });
}

export async function startSink(o: SinkOptions = {}): Promise<Sink> {
  const sink: Sink = {
    port: 0, host: o.host ?? '127.0.0.1', messages: [], connections: 0, rcptAttempts: new Map(), auths: [],
    waitFor: async (n, timeoutMs = 15_000) => {
      const until = Date.now() + timeoutMs;
      while (sink.messages.length < n) {
        if (Date.now() > until) throw new Error(`sink got ${sink.messages.length} of ${n} messages`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return sink.messages;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  const options: SMTPServerOptions = {
    logger: false, disableReverseLookup: true, authOptional: !o.auth, closeTimeout: 500,
    disabledCommands: [...(o.auth ? [] : ['AUTH']), ...(o.tls ? [] : ['STARTTLS'])],
    ...(o.auth ? { authMethods: ['PLAIN', 'LOGIN'], allowInsecureAuth: Boolean(o.auth.insecure) } : {}),
    onAuth(auth, session, cb) {
      const ok = auth.username === o.auth?.user && auth.password === o.auth?.pass;
      sink.auths.push([auth.username ?? '', ok, Boolean(session.secure)]);
      if (!ok) return cb(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }));
      cb(null, { user: auth.username });
    },
    hideSTARTTLS: !o.tls,
    hideDSN: o.dsn === false,
    hideSMTPUTF8: o.smtputf8 === false,
    ...(o.name ? { name: o.name } : {}),
    ...(o.tls ? { key: o.tls.key, cert: o.tls.cert } : {}),
    onConnect(_s, cb) {
      sink.connections++;
      cb();
    },
    onRcptTo(address, _session, cb) {
      const n = (sink.rcptAttempts.get(address.address) ?? 0) + 1;
      sink.rcptAttempts.set(address.address, n);
      cb(o.rcpt?.(address.address, n) ?? null);
    },
    onData(stream, session, cb) {
      const parts: Buffer[] = [];
      stream.on('data', (d: Buffer) => parts.push(d));
      stream.on('end', () => {
        const env = session.envelope as typeof session.envelope & { rcptTo: { address: string; dsn?: { notify?: string[]; orcpt?: string } }[] };
        const msg: Received = {
          from: env.mailFrom ? env.mailFrom.address : '',
          to: env.rcptTo.map((r) => r.address),
          rcptDsn: Object.fromEntries(env.rcptTo.map((r) => [r.address, r.dsn ?? {}])),
          mailArgs: (env.mailFrom && env.mailFrom.args) || {},
          raw: Buffer.concat(parts),
          secure: Boolean(session.secure),
          session: session.id,
        };
        const finish = () => {
          const err = o.data?.(msg) ?? null;
          if (!err) sink.messages.push(msg);
          cb(err);
        };
        if (o.dataDelayMs) setTimeout(finish, o.dataDelayMs);
        else finish();
      });
    },
  };
  const server = new SMTPServer(options);
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(o.port ?? 0, sink.host, () => resolve());
  });
  sink.port = (server.server.address() as AddressInfo).port;
  return sink;
}
