/**
 * ClamAV clamd client: INSTREAM over TCP or a Unix socket (zINSTREAM, 4-byte
 * big-endian length-prefixed chunks, a zero-length chunk to end), bounded by
 * maxScanSize and a timeout.
 *
 * scanWithClamd(address, data, opts) → { status: 'clean' } |
 * { status: 'infected' | 'encrypted', name } | { status: 'error', error }.
 * Never throws: a scanner that is down is an 'error' the caller decides on.
 */
import { connect, type Socket } from 'node:net';
import { bufferSource, type MessageSource } from '../spool/incoming.ts';

export type AvResult =
  | { status: 'clean' }
  | { status: 'infected' | 'encrypted'; name: string }
  | { status: 'error'; error: string };

/** Scans a message (streamed from its source in chunks, at most maxScanSize bytes) or a small buffer. */
export function scanWithClamd(address: string, input: MessageSource | Buffer, opts: { timeoutMs: number; maxScanSize: number }): Promise<AvResult> {
  const source = Buffer.isBuffer(input) ? bufferSource(input) : input;
  return new Promise((resolve) => {
    let socket: Socket;
    const m = /^tcp:\/\/(.+):(\d+)$/.exec(address);
    if (m) socket = connect({ host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) });
    else if (address.startsWith('unix:')) socket = connect({ path: address.slice(5) });
    else return resolve({ status: 'error', error: `bad clamd address ${address}` });
    let reply = '';
    let done = false;
    const finish = (r: AvResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ status: 'error', error: `clamd timed out after ${opts.timeoutMs} ms` }), opts.timeoutMs);
    socket.on('error', (err) => finish({ status: 'error', error: `clamd: ${err.message}` }));
    socket.on('data', (d: Buffer) => {
      reply += d.toString('utf8');
      if (reply.includes('\0')) socket.end();
    });
    socket.on('close', () => {
      const line = reply.replace(/\0.*$/s, '').trim();
      if (!line) return finish({ status: 'error', error: 'clamd closed the connection without an answer' });
      if (/^stream: OK$/.test(line)) return finish({ status: 'clean' });
      const found = /^stream: (\S+) FOUND$/.exec(line);
      if (found) {
        const name = found[1]!;
        return finish(/Encrypted/i.test(name) ? { status: 'encrypted', name } : { status: 'infected', name });
      }
      finish({ status: 'error', error: `clamd: ${line}` });
    });
    socket.on('connect', () => {
      socket.write('zINSTREAM\0');
      const send = async () => {
        // From the source with backpressure: one chunk in memory at a time.
        for await (const chunk of source.stream(0, Math.min(source.size, opts.maxScanSize)) as AsyncIterable<Buffer>) {
          if (done) return;
          const len = Buffer.alloc(4);
          len.writeUInt32BE(chunk.length);
          socket.write(len);
          if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
        }
        socket.write(Buffer.alloc(4));
      };
      send().catch((err: Error) => finish({ status: 'error', error: `clamd: reading the message: ${err.message}` }));
    });
  });
}
