/**
 * Spool recovery: scans every segment in order and rebuilds the set of
 * acknowledged messages (a COMMIT whose CHUNKs are all present and match its
 * size and CRC, not followed by a REMOVE).
 *
 * Nothing is deleted here. Damaged byte ranges (torn tails, garbage) and the
 * data of messages that were never committed are copied into `corrupt/`
 * for inspection before their segments can ever be collected. When a copy
 * cannot be written because the filesystem is full, the gateway still
 * starts (a crash loop on a full disk helps nobody): the segment holding
 * those bytes is pinned instead, so the next start with space copies them.
 */
import { open, readFile, readdir, writeFile } from 'node:fs/promises';
import { PRIVATE_FILE_MODE } from '../private-fs.ts';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { decodeRecord, resync, RecordType } from './spool-record.ts';
import type { ChunkRef, DeliveryState, Envelope, StoredMessage } from './spool-types.ts';

export interface RecoveryReport {
  messages: Map<string, StoredMessage>;
  segments: number[];
  damagedRanges: { segment: number; from: number; to: number }[];
  partials: string[];
  mismatched: string[];
  /** Segments kept from collection because their evidence could not be copied aside (filesystem full). */
  pinned: number[];
}

const isNoSpace = (err: unknown): boolean => ['ENOSPC', 'EDQUOT'].includes((err as NodeJS.ErrnoException).code ?? '');

interface Partial {
  chunks: ChunkRef[];
  size: number;
  crc: number;
}

export async function listSegments(dir: string): Promise<number[]> {
  return (await readdir(dir))
    .map((name) => /^seg-(\d+)\.log$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

export async function recoverSpool(segmentsDir: string, corruptDir: string, segPath: (n: number) => string): Promise<RecoveryReport> {
  const report: RecoveryReport = { messages: new Map(), segments: await listSegments(segmentsDir), damagedRanges: [], partials: [], mismatched: [], pinned: [] };
  const partial = new Map<string, Partial>();
  const pinned = new Set<number>();
  /** Copies evidence into corrupt/; on a full filesystem pins the segments it came from instead. */
  const keepAside = async (name: string, data: Buffer | string | (() => Promise<Buffer>), segments: readonly number[]): Promise<void> => {
    try {
      await writeFile(join(corruptDir, name), typeof data === 'function' ? await data() : data, { mode: PRIVATE_FILE_MODE });
    } catch (err) {
      if (!isNoSpace(err)) throw err;
      for (const s of segments) pinned.add(s);
    }
  };
  const segmentsOfChunks = (chunks: readonly ChunkRef[]): number[] => [...new Set(chunks.map((c) => c.segment))];
  const readChunks = (chunks: ChunkRef[]): Promise<Buffer> => readRanges(segPath, chunks);
  for (const segment of report.segments) {
    // One segment in memory at a time (segments are bounded, 64 MiB by default).
    const buf = await readFile(segPath(segment));
    let offset = 0;
    while (offset < buf.length) {
      const rec = decodeRecord(buf, offset);
      if (!rec) {
        const next = resync(buf, offset);
        const to = next < 0 ? buf.length : next;
        // A run of zeros at the very end is a preallocated or torn tail: nothing to keep.
        const damaged = buf.subarray(offset, to);
        if (damaged.some((b) => b !== 0)) {
          await keepAside(`seg-${segment}-${offset}-${to}.bin`, damaged, [segment]);
          report.damagedRanges.push({ segment, from: offset, to });
        }
        if (next < 0) break;
        offset = next;
        continue;
      }
      offset += rec.length;
      if (rec.type === RecordType.Chunk) {
        const p = partial.get(rec.id) ?? { chunks: [], size: 0, crc: 0 };
        p.chunks.push({ segment, offset: rec.payloadOffset, length: rec.payloadLength });
        p.size += rec.payloadLength;
        p.crc = crc32(buf.subarray(rec.payloadOffset, rec.payloadOffset + rec.payloadLength), p.crc);
        partial.set(rec.id, p);
      } else if (rec.type === RecordType.Commit) {
        const p = partial.get(rec.id) ?? { chunks: [], size: 0, crc: 0 };
        partial.delete(rec.id);
        let envelope: Envelope;
        try {
          envelope = JSON.parse(buf.toString('utf8', rec.payloadOffset, rec.payloadOffset + rec.payloadLength)) as Envelope;
        } catch {
          report.mismatched.push(rec.id);
          continue;
        }
        if (envelope.size !== p.size || envelope.crc !== p.crc) {
          report.mismatched.push(rec.id);
          await keepAside(`${rec.id}.envelope.json`, JSON.stringify(envelope), [segment]);
          await keepAside(`${rec.id}.eml`, () => readChunks(p.chunks), segmentsOfChunks(p.chunks));
          continue;
        }
        report.messages.set(rec.id, { id: rec.id, envelope, chunks: p.chunks, commitSegment: segment });
      } else if (rec.type === RecordType.Remove) {
        report.messages.delete(rec.id);
        partial.delete(rec.id);
      } else if (rec.type === RecordType.State) {
        const msg = report.messages.get(rec.id);
        if (!msg) continue;
        try {
          msg.state = JSON.parse(buf.toString('utf8', rec.payloadOffset, rec.payloadOffset + rec.payloadLength)) as DeliveryState;
          msg.stateSegment = segment;
        } catch {
          report.damagedRanges.push({ segment, from: rec.payloadOffset, to: rec.payloadOffset + rec.payloadLength });
        }
      }
    }
  }
  // Never acknowledged (the sender saw no 250): kept aside, not delivered.
  for (const [id, p] of partial) {
    if (p.size === 0) continue;
    report.partials.push(id);
    await keepAside(`${id}.partial.eml`, () => readChunks(p.chunks), segmentsOfChunks(p.chunks));
  }
  report.pinned = [...pinned].sort((a, b) => a - b);
  return report;
}

/** Reads the given byte ranges of segments, in order, into one buffer. */
export async function readRanges(segPath: (n: number) => string, chunks: readonly ChunkRef[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const c of chunks) {
    const fh = await open(segPath(c.segment), 'r');
    try {
      const part = Buffer.alloc(c.length);
      await fh.read(part, 0, c.length, c.offset);
      parts.push(part);
    } finally {
      await fh.close();
    }
  }
  return Buffer.concat(parts);
}
