/**
 * Syslog to a SIEM collector: UDP (RFC 5426, one datagram per message),
 * TCP (RFC 6587 octet counting) or TLS (RFC 5425, the certificate checked
 * against the host name). TCP and TLS keep one connection and reconnect
 * with backoff; messages wait in a bounded queue meanwhile (the oldest are
 * dropped and counted when it is full: the SIEM copy is a record, mail
 * flow never waits for it). Runs in the traffic worker thread.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as tcpConnect, isIP, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';

export interface SyslogTarget {
  host: string;
  port: number;
  transport: 'UDP' | 'TCP' | 'TLS';
  caFile?: string | undefined;
}

const MAX_QUEUE = 10_000;
const MAX_DATAGRAM = 8192;

export class SyslogSender {
  /** Messages dropped (queue full); read and reset by whoever reports it. */
  dropped = 0;
  private readonly target: SyslogTarget;
  private readonly onError: (message: string) => void;
  private udp: UdpSocket | undefined;
  private conn: Socket | undefined;
  private connected = false;
  private queue: string[] = [];
  private backoffMs = 500;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(target: SyslogTarget, onError: (message: string) => void) {
    this.target = target;
    this.onError = onError;
  }

  send(message: string): void {
    if (this.closed) return;
    if (this.target.transport === 'UDP') {
      this.udp ??= createSocket(isIP(this.target.host) === 6 ? 'udp6' : 'udp4').on('error', (err) => this.onError(`syslog UDP: ${err.message}`));
      const data = Buffer.from(message, 'utf8').subarray(0, MAX_DATAGRAM);
      this.udp.send(data, this.target.port, this.target.host);
      return;
    }
    if (this.queue.length >= MAX_QUEUE) {
      this.queue.shift();
      this.dropped++;
    }
    this.queue.push(message);
    if (this.connected) this.drain();
    else if (!this.conn && !this.timer) this.open();
  }

  private open(): void {
    const { host, port, transport, caFile } = this.target;
    let conn: Socket;
    if (transport === 'TLS') {
      let ca: Buffer | undefined;
      try {
        ca = caFile ? readFileSync(caFile) : undefined;
      } catch (err) {
        this.onError(`syslog TLS: cannot read ${caFile}: ${(err as Error).message}`);
      }
      conn = tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...(ca ? { ca } : {}) }, () => this.ready());
    } else {
      conn = tcpConnect({ host, port }, () => this.ready());
    }
    conn.setNoDelay(true);
    conn.on('error', (err) => this.onError(`syslog ${transport} to ${host}:${port}: ${err.message}`));
    conn.on('close', () => {
      this.conn = undefined;
      this.connected = false;
      if (this.closed) return;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (this.queue.length > 0) this.open();
      }, this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
    });
    this.conn = conn;
  }

  private ready(): void {
    this.connected = true;
    this.backoffMs = 500;
    this.drain();
  }

  private drain(): void {
    const conn = this.conn;
    if (!conn) return;
    while (this.queue.length > 0) {
      const m = this.queue.shift()!;
      const framed = `${Buffer.byteLength(m, 'utf8')} ${m}`;
      if (!conn.write(framed)) {
        conn.once('drain', () => this.drain());
        return;
      }
    }
  }

  /** Sends what is queued (waiting at most `waitMs` for a connection), then closes. */
  async close(waitMs = 2000): Promise<void> {
    const until = Date.now() + waitMs;
    while (this.queue.length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    this.closed = true;
    clearTimeout(this.timer);
    this.udp?.close();
    if (this.conn) await new Promise<void>((r) => this.conn!.end(() => r()));
  }
}
