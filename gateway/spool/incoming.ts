/**
 * Where a message waits while it is judged (scanned) before it is queued:
 * a private file in `<state-dir>/incoming/`, written as DATA streams in (with
 * backpressure) and read back by the scanners and the writer of the final
 * message, so no stage holds a whole message in memory. Not fsynced: nothing
 * in it is acknowledged; the spool commit is. Files left by a crash are
 * removed at the next start.
 *
 * MessageSource is what the decide stage reads: a size, range reads and
 * range streams; bufferSource() wraps a Buffer (bounces, tests).
 */
import { createReadStream, type WriteStream, createWriteStream } from 'node:fs';
import { open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { PRIVATE_FILE_MODE, privateDir } from '../private-fs.ts';

export interface MessageSource {
  readonly size: number;
  /** Bytes [start, end) as a stream of chunks (at most 64 KiB each). */
  stream(start?: number, end?: number): Readable;
  /** Bytes [start, end) in memory: callers keep ranges small or reserve them in the memory budget. */
  read(start: number, end: number): Promise<Buffer>;
}

export function bufferSource(buf: Buffer): MessageSource {
  return {
    size: buf.length,
    stream: (start = 0, end = buf.length) => Readable.from((function* () {
      for (let at = start; at < end; at += 64 * 1024) yield buf.subarray(at, Math.min(end, at + 64 * 1024));
    })(), { objectMode: false }),
    read: async (start, end) => buf.subarray(start, Math.min(end, buf.length)),
  };
}

export class IncomingFile implements MessageSource {
  readonly path: string;
  private out: WriteStream | undefined;
  private written = 0;
  private failure: Error | undefined;

  private constructor(path: string) {
    this.path = path;
  }

  static async create(dir: string, id: string): Promise<IncomingFile> {
    const f = new IncomingFile(join(dir, id));
    f.out = createWriteStream(f.path, { flags: 'wx', mode: PRIVATE_FILE_MODE, highWaterMark: 256 * 1024 });
    f.out.on('error', (err) => {
      f.failure ??= err;
    });
    return f;
  }

  /** Empties the incoming directory (what a crash left) and makes sure it exists. */
  static async prepare(dir: string): Promise<void> {
    await privateDir(dir);
    for (const name of await readdir(dir)) await rm(join(dir, name), { force: true });
  }

  get size(): number {
    return this.written;
  }

  /** Resolves when the caller may write again (the file keeps up: backpressure to the socket). */
  write(data: Buffer): Promise<void> | undefined {
    if (!this.out || data.length === 0) return undefined;
    if (this.failure) return Promise.reject(this.failure);
    this.written += data.length;
    if (this.out.write(data)) return undefined;
    return new Promise((resolve, reject) => {
      const out = this.out!;
      const done = () => {
        out.off('drain', done);
        out.off('error', fail);
        resolve();
      };
      const fail = (err: Error) => {
        out.off('drain', done);
        reject(err);
      };
      out.once('drain', done);
      out.once('error', fail);
    });
  }

  /** Everything written is in the file (readable by others). */
  async finish(): Promise<void> {
    const out = this.out;
    if (!out) return;
    this.out = undefined;
    await new Promise<void>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      out.once('error', reject);
      out.end(() => resolve());
    });
  }

  stream(start = 0, end = this.written): Readable {
    if (end <= start) return Readable.from([]);
    return createReadStream(this.path, { start, end: end - 1, highWaterMark: 64 * 1024 });
  }

  async read(start: number, end: number): Promise<Buffer> {
    const length = Math.max(0, Math.min(end, this.written) - start);
    const buf = Buffer.allocUnsafe(length);
    if (length === 0) return buf;
    const fh = await open(this.path, 'r');
    try {
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, start + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done === length ? buf : buf.subarray(0, done);
    } finally {
      await fh.close();
    }
  }

  async remove(): Promise<void> {
    if (this.out) {
      const out = this.out;
      this.out = undefined;
      out.destroy();
    }
    await rm(this.path, { force: true });
  }
}
