/**
 * A minimal SMTP client for recipient verification callouts: greeting, EHLO
 * (HELO if refused), MAIL FROM:<>, RCPT TO, QUIT. No DATA is ever sent.
 *
 * probeRecipient(target, rcpt, opts) → { code, text } of the RCPT reply, or
 * of the first command that failed before it. Throws on connection errors
 * and timeouts (the caller answers those with a 4xx).
 */
import { connect, type Socket } from 'node:net';

export interface ProbeResult {
  code: number;
  text: string;
  stage: 'greeting' | 'ehlo' | 'mail' | 'rcpt';
}

export interface ProbeOptions {
  helo: string;
  timeoutMs: number;
}

class ReplyReader {
  private buf = '';
  private waiting: ((r: { code: number; text: string }) => void) | undefined;
  private failed: ((err: Error) => void) | undefined;
  private lines: string[] = [];

  constructor(socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buf += chunk;
      if (this.buf.length > 64 * 1024) return this.fail(new Error('reply too long'));
      this.parse();
    });
  }

  fail(err: Error): void {
    const f = this.failed;
    this.waiting = undefined;
    this.failed = undefined;
    f?.(err);
  }

  private parse(): void {
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).replace(/\r$/, '');
      this.buf = this.buf.slice(nl + 1);
      this.lines.push(line);
      if (!/^\d{3}-/.test(line)) {
        const lines = this.lines;
        this.lines = [];
        const code = Number(lines[lines.length - 1]!.slice(0, 3));
        const text = lines.map((l) => l.slice(4)).join(' ').trim();
        const w = this.waiting;
        this.waiting = undefined;
        this.failed = undefined;
        if (!w || !Number.isInteger(code)) return this.fail(new Error(`unexpected reply: ${line}`));
        w({ code, text });
      }
    }
  }

  next(): Promise<{ code: number; text: string }> {
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failed = reject;
      this.parse();
    });
  }
}

export async function probeRecipient(host: string, port: number, rcpt: string, opts: ProbeOptions): Promise<ProbeResult> {
  const socket = connect({ host, port });
  socket.setNoDelay(true);
  const reader = new ReplyReader(socket);
  const timer = setTimeout(() => {
    reader.fail(new Error(`timeout after ${opts.timeoutMs} ms`));
    socket.destroy();
  }, opts.timeoutMs);
  socket.on('error', (err) => reader.fail(err));
  socket.on('close', () => reader.fail(new Error('connection closed')));
  const command = async (line: string) => {
    socket.write(`${line}\r\n`);
    return reader.next();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const greeting = await reader.next();
    if (greeting.code !== 220) return { ...greeting, stage: 'greeting' };
    let hello = await command(`EHLO ${opts.helo}`);
    const utf8 = hello.code === 250 && /\bSMTPUTF8\b/i.test(hello.text);
    if (hello.code >= 500) hello = await command(`HELO ${opts.helo}`);
    if (hello.code !== 250) return { ...hello, stage: 'ehlo' };
    const needsUtf8 = /[^\x00-\x7f]/.test(rcpt);
    const mail = await command(`MAIL FROM:<>${needsUtf8 && utf8 ? ' SMTPUTF8' : ''}`);
    if (mail.code !== 250) return { ...mail, stage: 'mail' };
    const result = await command(`RCPT TO:<${rcpt}>`);
    socket.write('QUIT\r\n');
    return { ...result, stage: 'rcpt' };
  } finally {
    clearTimeout(timer);
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}
