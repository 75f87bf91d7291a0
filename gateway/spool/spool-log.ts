/**
 * Append-only segment log with group commit.
 *
 * append(buffers) writes records at the end of the current segment (one
 * writev for everything queued while the previous write ran) and resolves
 * with where they landed. sync() resolves once everything appended before
 * the call is on stable storage: one fdatasync serves every caller that
 * waited while the previous one ran (group commit).
 *
 * Segments are named seg-<number>.log in `dir`; a new one is created at open
 * and when the current one reaches `segmentSize`. Creating a segment fsyncs
 * the directory before anything in it is acknowledged; leaving one fsyncs it.
 *
 * Errors: a failed write or fsync rejects the callers concerned and retires
 * the segment ("broken"): nothing more is appended to it, the next append
 * opens a new one. isBroken(segment) lets the spool refuse messages that
 * have bytes there.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { openSync, fsyncSync, closeSync } from 'node:fs';
import { PRIVATE_FILE_MODE } from '../private-fs.ts';
import { join } from 'node:path';

export interface Location {
  segment: number;
  offset: number;
}

interface PendingAppend {
  buffers: Buffer[];
  length: number;
  resolve: (loc: Location) => void;
  reject: (err: Error) => void;
}

interface Segment {
  number: number;
  fh: FileHandle;
  size: number;
  synced: number;
}

interface SyncWaiter {
  segment: number;
  offset: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export function segmentName(n: number): string {
  return `seg-${String(n).padStart(10, '0')}.log`;
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class SpoolLog {
  readonly dir: string;
  private readonly segmentSize: number;
  private readonly durable: boolean;
  private current: Segment | undefined;
  private nextNumber: number;
  private queue: PendingAppend[] = [];
  private writing = false;
  private syncing = false;
  private waiters: SyncWaiter[] = [];
  private broken = new Set<number>();
  /** Every segment numbered up to this one has been left: synced or broken. */
  private leftThrough = -1;
  private closed = false;

  constructor(dir: string, firstSegment: number, options: { segmentSize?: number; durable?: boolean } = {}) {
    this.dir = dir;
    this.nextNumber = firstSegment;
    this.segmentSize = options.segmentSize ?? 64 * 1024 * 1024;
    this.durable = options.durable ?? true;
  }

  isBroken(segment: number): boolean {
    return this.broken.has(segment);
  }

  get currentSegment(): number | undefined {
    return this.current?.number;
  }

  append(buffers: Buffer[]): Promise<Location> {
    if (this.closed) return Promise.reject(new Error('spool is closed'));
    let length = 0;
    for (const b of buffers) length += b.length;
    return new Promise((resolve, reject) => {
      this.queue.push({ buffers, length, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  /** Bytes queued and not yet written: callers use it for backpressure. */
  get backlog(): number {
    let n = 0;
    for (const p of this.queue) n += p.length;
    return n;
  }

  sync(location?: Location): Promise<void> {
    const seg = this.current;
    const target = location ?? (seg ? { segment: seg.number, offset: seg.size } : undefined);
    if (!target || !this.durable) return Promise.resolve();
    if (this.broken.has(target.segment)) return Promise.reject(new Error('spool segment failed earlier; message not durable'));
    if (target.segment <= this.leftThrough) return Promise.resolve(); // synced when it was left
    if (seg && seg.number === target.segment && seg.synced >= target.offset) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ segment: target.segment, offset: target.offset, resolve, reject });
      if (!this.syncing) void this.syncLoop();
    });
  }

  private async openSegment(): Promise<Segment> {
    const number = this.nextNumber++;
    const fh = await open(join(this.dir, segmentName(number)), 'wx', PRIVATE_FILE_MODE);
    if (this.durable) fsyncDir(this.dir);
    return { number, fh, size: 0, synced: 0 };
  }

  private async leaveSegment(seg: Segment): Promise<void> {
    // Everything in it must be durable before anything in the next segment is acknowledged.
    try {
      if (this.durable && !this.broken.has(seg.number) && seg.synced < seg.size) await seg.fh.datasync();
      seg.synced = seg.size;
      this.leftThrough = seg.number;
      this.settleWaiters(seg.number, seg.size);
    } catch (err) {
      this.leftThrough = seg.number;
      this.markBroken(seg, err as Error);
    } finally {
      await seg.fh.close().catch(() => undefined);
    }
  }

  private markBroken(seg: Segment, err: Error): void {
    this.broken.add(seg.number);
    const waiting = this.waiters.filter((w) => w.segment === seg.number);
    this.waiters = this.waiters.filter((w) => w.segment !== seg.number);
    for (const w of waiting) w.reject(err);
  }

  private settleWaiters(segment: number, offset: number): void {
    const done = this.waiters.filter((w) => w.segment < segment || (w.segment === segment && w.offset <= offset));
    if (done.length === 0) return;
    this.waiters = this.waiters.filter((w) => !done.includes(w));
    for (const w of done) w.resolve();
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        let seg: Segment;
        try {
          let cur = this.current;
          if (cur && (this.broken.has(cur.number) || (cur.size > 0 && cur.size >= this.segmentSize))) {
            this.current = undefined;
            await this.leaveSegment(cur);
            cur = undefined;
          }
          seg = cur ?? (this.current = await this.openSegment());
        } catch (err) {
          for (const p of batch) p.reject(err as Error);
          continue;
        }
        const start = seg.size;
        const buffers: Buffer[] = [];
        for (const p of batch) buffers.push(...p.buffers);
        try {
          let written = 0;
          let total = 0;
          for (const p of batch) total += p.length;
          // writev may write less than asked (disk full part way): finish or fail.
          while (written < total) {
            const { bytesWritten } = await seg.fh.writev(sliceBuffers(buffers, written), start + written);
            if (bytesWritten === 0) throw Object.assign(new Error('short write'), { code: 'ENOSPC' });
            written += bytesWritten;
          }
          seg.size = start + total;
          let at = start;
          for (const p of batch) {
            p.resolve({ segment: seg.number, offset: at });
            at += p.length;
          }
        } catch (err) {
          this.markBroken(seg, err as Error);
          for (const p of batch) p.reject(err as Error);
        }
      }
    } finally {
      this.writing = false;
    }
  }

  private async syncLoop(): Promise<void> {
    this.syncing = true;
    try {
      while (this.waiters.length > 0) {
        const seg = this.current;
        // No current segment: one is being left, and leaving it settles its waiters.
        if (!seg) break;
        const upTo = seg.size;
        try {
          await seg.fh.datasync();
          seg.synced = Math.max(seg.synced, upTo);
          this.settleWaiters(seg.number, upTo);
        } catch (err) {
          this.markBroken(seg, err as Error);
        }
      }
    } finally {
      this.syncing = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.writing || this.syncing) await new Promise((r) => setTimeout(r, 1));
    const seg = this.current;
    this.current = undefined;
    if (seg) await this.leaveSegment(seg);
  }
}

function sliceBuffers(buffers: Buffer[], skip: number): Buffer[] {
  if (skip === 0) return buffers;
  const out: Buffer[] = [];
  let left = skip;
  for (const b of buffers) {
    if (left >= b.length) {
      left -= b.length;
      continue;
    }
    out.push(left > 0 ? b.subarray(left) : b);
    left = 0;
  }
  return out;
}
