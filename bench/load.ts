/**
 * A load generator for what smtp-source cannot send: recipients spread over
 * several domains in one transaction (smtp-source's -r numbers the local
 * part of a single address). It behaves like smtp-source otherwise: `sessions`
 * connections in parallel, one message per connection, every reply awaited
 * (no pipelining), a body of `size` bytes. Bounded: exactly `count`
 * messages; a refused command or a lost connection rejects.
 */
import { connect, type Socket } from 'node:net';

export interface LoadSpec {
  port: number;
  count: number;
  sessions: number;
  size: number;
  recipients: number;
  domains: string[];
  from: string;
}

class Lines {
  private buf = '';
  private waiters: ((line: string) => void)[] = [];
  private failed: Error | undefined;
  private rejecters: ((err: Error) => void)[] = [];

  constructor(socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\r\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 2);
        if (line[3] === '-') continue; // continuation of a multi-line reply
        this.rejecters.shift();
        this.waiters.shift()?.(line);
      }
    });
    const fail = (err: Error) => {
      this.failed ??= err;
      for (const r of this.rejecters.splice(0)) r(err);
      this.waiters = [];
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
  }

  reply(): Promise<string> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiters.push(resolve);
      this.rejecters.push(reject);
    });
  }
}

async function oneMessage(spec: LoadSpec, n: number, body: string): Promise<void> {
  const socket = connect({ port: spec.port, host: '127.0.0.1', noDelay: true });
  const lines = new Lines(socket);
  const expect = async (code: string, what: string) => {
    const line = await lines.reply();
    if (!line.startsWith(code)) throw new Error(`${what}: ${line}`);
  };
  const send = (cmd: string, code: string) => {
    const p = expect(code, cmd.split('\r\n')[0]!);
    socket.write(`${cmd}\r\n`);
    return p;
  };
  try {
    await expect('220', 'greeting');
    await send('EHLO load.bench.test', '250');
    await send(`MAIL FROM:<${spec.from}>`, '250');
    for (let r = 0; r < spec.recipients; r++) await send(`RCPT TO:<u${n}.${r}@${spec.domains[r % spec.domains.length]}>`, '250');
    await send('DATA', '354');
    await send(`From: <${spec.from}>\r\nSubject: load ${n}\r\n\r\n${body}\r\n.`, '250');
    await send('QUIT', '221');
  } finally {
    socket.destroy();
  }
}

/** Sends spec.count messages over spec.sessions parallel connections; resolves with the elapsed milliseconds. */
export async function runLoad(spec: LoadSpec): Promise<number> {
  const line = `${'x'.repeat(76)}\r\n`;
  const body = line.repeat(Math.max(1, Math.floor(spec.size / line.length))).slice(0, -2);
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(spec.sessions, spec.count) }, async () => {
    while (next < spec.count) await oneMessage(spec, next++, body);
  }));
  return performance.now() - start;
}
