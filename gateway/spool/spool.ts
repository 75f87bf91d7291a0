/**
 * The durable spool: messages are appended to a segment log (spool-log.ts)
 * as CHUNK records while DATA streams in, then a COMMIT record with the
 * envelope; commit() resolves only after the COMMIT is fsynced (group commit
 * shared by every session committing at that moment). That is the moment a
 * session may answer 250.
 *
 * Interface: Spool.open(dir) recovers what an earlier run acknowledged;
 * begin(id) → MessageWriter (write, commit, abort); messages(), get(id),
 * read(id) and remove(id) serve the delivery side. A segment file is deleted
 * once no live message has bytes in it and every older segment is gone (so a
 * REMOVE record is never deleted before the COMMIT it cancels).
 *
 * Errors: commit() rejects with SpoolError when anything on the way failed
 * (write, fsync, a segment the message touched broke); the session turns that
 * into 452 4.3.1.
 */
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { privateDir } from '../private-fs.ts';
import { accessSync, constants } from 'node:fs';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { SpoolLog, fsyncDir, segmentName, type Location } from './spool-log.ts';
import { encodeRecord, RecordType } from './spool-record.ts';
import { readRanges, recoverSpool, type RecoveryReport } from './spool-recover.ts';
import type { ChunkRef, DeliveryState, Envelope, StoredMessage } from './spool-types.ts';

export class SpoolError extends Error {
  readonly code = 'ESPOOL';
}

export interface SpoolOptions {
  /** fsync before acknowledging (default true). Only tests of other stages turn it off. */
  durable?: boolean;
  segmentSize?: number;
  /** Bytes of CHUNK data a message buffers before appending (default 64 KiB). */
  chunkSize?: number;
}

const BACKLOG_LIMIT = 16 * 1024 * 1024;

export class Spool {
  readonly dir: string;
  readonly recovery: RecoveryReport;
  private readonly log: SpoolLog;
  private readonly live = new Map<string, StoredMessage>();
  private readonly refs = new Map<number, number>();
  private readonly segments: number[];
  private readonly chunkSize: number;
  private collecting = false;
  /** Read handles on segments, shared by the deliveries reading them; closed when unused and the segment is gone. */
  private readonly readers = new Map<number, { fh: Promise<FileHandle>; users: number; deleted: boolean }>();

  private constructor(dir: string, recovery: RecoveryReport, options: SpoolOptions) {
    this.dir = dir;
    this.recovery = recovery;
    this.segments = [...recovery.segments];
    this.chunkSize = options.chunkSize ?? 64 * 1024;
    const next = (recovery.segments.at(-1) ?? 0) + 1;
    this.log = new SpoolLog(this.segmentsDir, next, options);
    for (const msg of recovery.messages.values()) {
      this.live.set(msg.id, msg);
      for (const s of segmentsOf(msg)) this.ref(s, 1);
    }
    // Evidence that could not be copied aside: its segments stay until a start with space copies it.
    for (const s of recovery.pinned) this.ref(s, 1);
  }

  static async open(dir: string, options: SpoolOptions = {}): Promise<Spool> {
    await privateDir(dir);
    await privateDir(join(dir, 'segments'));
    await privateDir(join(dir, 'corrupt'));
    const recovery = await recoverSpool(join(dir, 'segments'), join(dir, 'corrupt'), (n) => join(dir, 'segments', segmentName(n)));
    if (options.durable !== false) fsyncDir(join(dir, 'corrupt'));
    const spool = new Spool(dir, recovery, options);
    await spool.collect();
    return spool;
  }

  get segmentsDir(): string {
    return join(this.dir, 'segments');
  }

  private segPath = (n: number): string => join(this.segmentsDir, segmentName(n));

  begin(id: string): MessageWriter {
    return new MessageWriter(this, id, this.chunkSize);
  }

  messages(): IterableIterator<StoredMessage> {
    return this.live.values();
  }

  get(id: string): StoredMessage | undefined {
    return this.live.get(id);
  }

  get size(): number {
    return this.live.size;
  }

  async read(id: string): Promise<Buffer> {
    const msg = this.live.get(id);
    if (!msg) throw new SpoolError(`no message ${id} in the spool`);
    return readRanges(this.segPath, msg.chunks);
  }

  /** The first `n` bytes of a message (a DSN needs no more than its head). */
  async readHead(id: string, n: number): Promise<Buffer> {
    const msg = this.live.get(id);
    if (!msg) throw new SpoolError(`no message ${id} in the spool`);
    const chunks: ChunkRef[] = [];
    let left = n;
    for (const c of msg.chunks) {
      if (left <= 0) break;
      chunks.push(c.length <= left ? c : { ...c, length: left });
      left -= c.length;
    }
    return readRanges(this.segPath, chunks);
  }

  /** A stream of the message's stored bytes (read from the segments, never buffered whole). */
  createReadStream(id: string): Readable {
    const msg = this.live.get(id);
    if (!msg) throw new SpoolError(`no message ${id} in the spool`);
    const chunks = [...msg.chunks];
    const acquire = (segment: number) => this.acquireReader(segment);
    const release = (segment: number) => this.releaseReader(segment);
    return Readable.from((async function* () {
      for (const c of chunks) {
        const fh = await acquire(c.segment);
        try {
          let done = 0;
          while (done < c.length) {
            const n = Math.min(256 * 1024, c.length - done);
            const part = Buffer.allocUnsafe(n);
            const { bytesRead } = await fh.read(part, 0, n, c.offset + done);
            if (bytesRead === 0) throw new SpoolError(`spool segment ${c.segment} is shorter than expected`);
            done += bytesRead;
            yield bytesRead === n ? part : part.subarray(0, bytesRead);
          }
        } finally {
          release(c.segment);
        }
      }
    })(), { objectMode: false });
  }

  private acquireReader(segment: number): Promise<FileHandle> {
    let r = this.readers.get(segment);
    if (!r) {
      r = { fh: open(this.segPath(segment), 'r'), users: 0, deleted: false };
      r.fh.catch(() => this.readers.delete(segment));
      this.readers.set(segment, r);
    }
    r.users++;
    return r.fh;
  }

  private releaseReader(segment: number): void {
    const r = this.readers.get(segment);
    if (!r) return;
    r.users--;
    if (r.users === 0 && r.deleted) this.closeReader(segment);
  }

  private closeReader(segment: number): void {
    const r = this.readers.get(segment);
    if (!r) return;
    this.readers.delete(segment);
    r.fh.then((fh) => fh.close()).catch(() => undefined);
  }

  /** Records a message's delivery state; durable before it resolves. */
  async setState(id: string, state: DeliveryState): Promise<void> {
    const msg = this.live.get(id);
    if (!msg) return;
    const at = await this.log.append(encodeRecord(RecordType.State, id, Buffer.from(JSON.stringify(state), 'utf8')));
    await this.log.sync({ segment: at.segment, offset: at.offset + 1 });
    if (!this.live.has(id)) return; // removed meanwhile
    const before = segmentsOf(msg);
    msg.state = state;
    msg.stateSegment = at.segment;
    const after = segmentsOf(msg);
    for (const s of after) if (!before.has(s)) this.ref(s, 1);
    for (const s of before) if (!after.has(s)) this.ref(s, -1);
    await this.collect();
  }

  /** Removes a message (delivered, bounced or deleted by an admin); durable before it resolves. */
  async remove(id: string): Promise<void> {
    const msg = this.live.get(id);
    if (!msg) return;
    const at = await this.log.append(encodeRecord(RecordType.Remove, id));
    await this.log.sync({ segment: at.segment, offset: at.offset + 1 });
    this.live.delete(id);
    this.ref(at.segment, 0); // known, so collect() keeps it until everything older is gone
    for (const s of segmentsOf(msg)) this.ref(s, -1);
    await this.collect();
  }

  /** Undefined when the spool can take mail, else why not (readiness). */
  health(): string | undefined {
    const current = this.log.currentSegment;
    if (current !== undefined && this.log.isBroken(current)) return `spool segment ${current} failed; the next write opens a new one`;
    try {
      accessSync(this.segmentsDir, constants.W_OK);
    } catch (err) {
      return `spool not writable: ${(err as Error).message}`;
    }
    return undefined;
  }

  /** @internal used by MessageWriter */
  appendRecord(type: typeof RecordType[keyof typeof RecordType], id: string, payload?: Buffer): Promise<Location> {
    return this.log.append(encodeRecord(type, id, payload));
  }

  /** @internal */
  backlogHigh(): boolean {
    return this.log.backlog > BACKLOG_LIMIT;
  }

  /** @internal */
  syncThrough(at: Location): Promise<void> {
    return this.log.sync(at);
  }

  /** @internal */
  isBroken(segment: number): boolean {
    return this.log.isBroken(segment);
  }

  /** @internal */
  ref(segment: number, delta: number): void {
    if (!this.segments.includes(segment)) this.segments.push(segment);
    this.refs.set(segment, (this.refs.get(segment) ?? 0) + delta);
  }

  /** @internal */
  register(msg: StoredMessage): void {
    this.live.set(msg.id, msg);
  }

  /** Deletes leading segments that hold nothing live; never the one being written. */
  async collect(): Promise<void> {
    if (this.collecting) return;
    this.collecting = true;
    try {
      this.segments.sort((a, b) => a - b);
      let removed = 0;
      while (this.segments.length > 0) {
        const first = this.segments[0]!;
        if ((this.refs.get(first) ?? 0) > 0 || first >= (this.log.currentSegment ?? Infinity)) break;
        await unlink(this.segPath(first)).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
        this.segments.shift();
        this.refs.delete(first);
        const reader = this.readers.get(first);
        if (reader) {
          reader.deleted = true;
          if (reader.users === 0) this.closeReader(first);
        }
        removed++;
      }
      if (removed > 0) fsyncDir(this.segmentsDir);
    } finally {
      this.collecting = false;
    }
  }

  async close(): Promise<void> {
    for (const segment of [...this.readers.keys()]) this.closeReader(segment);
    await this.log.close();
  }
}

/** Segments a live message needs: its data, its COMMIT and its latest STATE. */
function segmentsOf(msg: StoredMessage): Set<number> {
  const set = new Set(msg.chunks.map((c) => c.segment));
  set.add(msg.commitSegment);
  if (msg.stateSegment !== undefined) set.add(msg.stateSegment);
  return set;
}

/**
 * One message being received. write() appends CHUNK records as data arrives
 * (returning a promise only when the log is behind, for backpressure);
 * commit() appends the COMMIT and resolves once it is durable.
 */
export class MessageWriter {
  readonly id: string;
  private readonly spool: Spool;
  private readonly chunkSize: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private size = 0;
  private crc = 0;
  private readonly chunks: ChunkRef[] = [];
  private readonly segments = new Set<number>();
  private appends: Promise<void>[] = [];
  private failure: Error | undefined;
  private done = false;

  constructor(spool: Spool, id: string, chunkSize: number) {
    this.spool = spool;
    this.id = id;
    this.chunkSize = chunkSize;
  }

  get bytes(): number {
    return this.size;
  }

  write(data: Buffer): Promise<void> | undefined {
    if (this.done || data.length === 0) return undefined;
    this.pending.push(data);
    this.pendingBytes += data.length;
    this.size += data.length;
    this.crc = crc32(data, this.crc);
    if (this.pendingBytes < this.chunkSize) return undefined;
    const p = this.flushChunk();
    return this.spool.backlogHigh() ? p : undefined;
  }

  private flushChunk(): Promise<void> {
    const payload = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    const p = this.spool.appendRecord(RecordType.Chunk, this.id, payload).then(
      (at) => {
        const headerLength = 16 + this.id.length;
        this.chunks.push({ segment: at.segment, offset: at.offset + headerLength, length: payload.length });
        this.track(at.segment);
      },
      (err: Error) => {
        this.failure ??= err;
      },
    );
    this.appends.push(p);
    return p;
  }

  private track(segment: number): void {
    if (this.segments.has(segment)) return;
    this.segments.add(segment);
    this.spool.ref(segment, 1);
  }

  /** Appends the COMMIT record and waits until it is on stable storage. */
  async commit(envelope: Omit<Envelope, 'size' | 'crc'>): Promise<StoredMessage> {
    if (this.done) throw new SpoolError('message already finished');
    if (this.pendingBytes > 0) this.flushChunk();
    const full: Envelope = { ...envelope, size: this.size, crc: this.crc };
    try {
      const commitAt = this.spool.appendRecord(RecordType.Commit, this.id, Buffer.from(JSON.stringify(full), 'utf8'));
      await Promise.all(this.appends);
      const at = await commitAt;
      this.track(at.segment);
      if (this.failure) throw this.failure;
      // Chunks are appended in order, so they sit before the COMMIT: syncing through it covers them.
      await this.spool.syncThrough({ segment: at.segment, offset: at.offset + 1 });
      for (const s of this.segments) if (this.spool.isBroken(s)) throw new SpoolError(`spool segment ${s} failed`);
      // Chunk refs arrive in append order, which is also file order.
      const msg: StoredMessage = { id: this.id, envelope: full, chunks: this.chunks, commitSegment: at.segment };
      this.done = true;
      this.spool.register(msg);
      return msg;
    } catch (err) {
      this.release();
      throw err instanceof SpoolError ? err : new SpoolError(`spool write failed: ${(err as Error).message}`);
    }
  }

  /** Gives up on the message (size exceeded, session lost, rejected). */
  abort(): void {
    if (this.done) return;
    this.pending = [];
    void Promise.all(this.appends).then(() => this.release());
  }

  private release(): void {
    if (this.done) return;
    this.done = true;
    for (const s of this.segments) this.spool.ref(s, -1);
    void this.spool.collect();
  }
}
