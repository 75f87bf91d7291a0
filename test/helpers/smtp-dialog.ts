/**
 * A raw SMTP client for tests: one socket, bound to a chosen 127.0.0.x
 * source address, that sends lines (or bytes) and reads whole replies
 * (multi-line aware). Used where nodemailer would hide the protocol.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket, type ConnectionOptions } from 'node:tls';

export interface Reply {
  code: number;
  lines: string[];
  text: string;
}

export class SmtpDialog {
  socket: Socket | TLSSocket;
  private buf = '';
  private replies: Reply[] = [];
  private waiters: ((r: Reply | undefined) => void)[] = [];
  private current: string[] = [];
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.attach(socket);
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.on('data', (d: Buffer) => {
      this.buf += d.toString('utf8');
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl).replace(/\r$/, '');
        this.buf = this.buf.slice(nl + 1);
        this.current.push(line);
        if (!/^\d{3}-/.test(line)) {
          const lines = this.current;
          this.current = [];
          const r: Reply = { code: Number(line.slice(0, 3)), lines, text: lines.map((l) => l.slice(4)).join('\n') };
          const w = this.waiters.shift();
          if (w) w(r);
          else this.replies.push(r);
        }
      }
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w(undefined);
    });
    socket.on('error', () => undefined);
  }

  static open(port: number, localAddress = '127.0.0.1', host = '127.0.0.1'): Promise<SmtpDialog> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host, localAddress });
      socket.setNoDelay(true);
      socket.once('connect', () => resolve(new SmtpDialog(socket)));
      socket.once('error', reject);
    });
  }

  /** Next reply, or undefined when the server closed the connection. */
  read(timeoutMs = 5000): Promise<Reply | undefined> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timeout waiting for a reply')), timeoutMs);
      this.waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  async cmd(line: string): Promise<Reply> {
    this.write(`${line}\r\n`);
    const r = await this.read();
    if (!r) throw new Error(`connection closed after ${line}`);
    return r;
  }

  async startTls(options: ConnectionOptions = {}): Promise<void> {
    const r = await this.cmd('STARTTLS');
    if (r.code !== 220) throw new Error(`STARTTLS refused: ${r.code} ${r.text}`);
    const raw = this.socket;
    raw.removeAllListeners('data');
    const tls = tlsConnect({ socket: raw, rejectUnauthorized: false, ...options });
    await new Promise<void>((resolve, reject) => {
      tls.once('secureConnect', () => resolve());
      tls.once('error', reject);
    });
    this.socket = tls;
    this.attach(tls);
  }

  close(): void {
    this.socket.destroy();
  }

  /** Greeting, EHLO, MAIL FROM; returns the MAIL reply. */
  async begin(from = 'sender@origin.test', helo = 'client.test'): Promise<Reply> {
    const g = await this.read();
    if (!g || g.code !== 220) throw new Error(`no greeting: ${g?.code} ${g?.text}`);
    const e = await this.cmd(`EHLO ${helo}`);
    if (e.code !== 250) throw new Error(`EHLO refused: ${e.code}`);
    return this.cmd(`MAIL FROM:<${from}>`);
  }
}
