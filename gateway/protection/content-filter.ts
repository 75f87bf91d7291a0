/**
 * Content filtering: message size, attachment names (masks) and true types
 * (magic bytes), also inside archives — zip, tar, gzip (so tar.gz too);
 * 7z and rar are recognised but cannot be opened here, so they count as
 * unscannable — nested up to archiveDepth, and
 * reading at most archiveMaxBytes of uncompressed data and 10,000 entries
 * per message, so a zip bomb costs bounded time and memory and yields a
 * verdict (an archive that exceeds the bounds is a finding). What cannot be
 * looked into — nested deeper than archiveDepth, damaged, encrypted — is a
 * finding too, unless blockUnscannableArchives is off.
 */
import yauzl from 'yauzl';
import { gunzip } from 'node:zlib';
import { extract as tarExtract } from 'tar-stream';
import type { GatewayConfig } from '../../api/index.ts';
import { detectType, type FileType } from './file-type.ts';
import { compilePattern, type UserPattern } from '../../api/patterns.ts';
import { decodePart, decodePartHead, leaves, PART_HEAD_BYTES, type MimePart } from '../mime/mime-parts.ts';
import type { MessageSource } from '../spool/incoming.ts';

/** Runs `fn` while `bytes` of memory are reserved (the gateway's memory budget). */
export type PartMemory = <T>(bytes: number, fn: () => Promise<T>) => Promise<T>;
const unbounded: PartMemory = (_bytes, fn) => fn();

export interface ContentResult {
  matched: boolean;
  reasons: string[];
  /** Leaf parts that matched (for DeleteAttachment). */
  parts: MimePart[];
}

type Filter = GatewayConfig['protection']['contentFilter'];

interface Budget { bytes: number; entries: number }

type ZipEntry = { name: string; head: Buffer; data: Buffer | undefined };
/** What opening an archive gave: its entries (and the names of encrypted ones), a blown budget, or damage. */
type ZipRead = { kind: 'ok'; entries: ZipEntry[]; encrypted: string[] } | { kind: 'limit' } | { kind: 'damaged'; why: string };

function readZip(data: Buffer, budget: Budget): Promise<ZipRead> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: ZipRead) => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    yauzl.fromBuffer(data, { lazyEntries: true, validateEntrySizes: true }, (err, zip) => {
      if (err || !zip) return done({ kind: 'damaged', why: err?.message ?? 'unreadable' });
      const out: ZipEntry[] = [];
      const encrypted: string[] = [];
      let over = false;
      zip.on('error', (e: Error) => done({ kind: 'damaged', why: e.message }));
      zip.on('end', () => done(over ? { kind: 'limit' } : { kind: 'ok', entries: out, encrypted }));
      zip.on('entry', (entry: yauzl.Entry) => {
        if (--budget.entries < 0) {
          over = true;
          zip.close();
          return done({ kind: 'limit' });
        }
        if (entry.fileName.endsWith('/')) return zip.readEntry();
        if (entry.uncompressedSize > budget.bytes) {
          over = true;
          zip.close();
          return done({ kind: 'limit' });
        }
        if (entry.isEncrypted()) {
          encrypted.push(entry.fileName);
          out.push({ name: entry.fileName, head: Buffer.alloc(0), data: undefined });
          return zip.readEntry();
        }
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) {
            zip.close();
            return done({ kind: 'damaged', why: e?.message ?? `cannot read ${entry.fileName}` });
          }
          const chunks: Buffer[] = [];
          let failed: Error | undefined;
          stream.on('data', (c: Buffer) => {
            budget.bytes -= c.length;
            if (budget.bytes < 0) {
              over = true;
              stream.destroy();
              return;
            }
            chunks.push(c);
          });
          let finished = false;
          const next = () => {
            if (finished) return;
            finished = true;
            if (over) {
              zip.close();
              return done({ kind: 'limit' });
            }
            if (failed) {
              zip.close();
              return done({ kind: 'damaged', why: failed.message });
            }
            const d = Buffer.concat(chunks);
            out.push({ name: entry.fileName, head: d.subarray(0, 16), data: d });
            zip.readEntry();
          };
          stream.on('end', next);
          stream.on('close', () => {
            if (over) next();
          });
          stream.on('error', (e2: Error) => {
            failed = e2;
            next();
          });
        });
      });
      zip.readEntry();
    });
  });
}

/** What kind of archive the bytes start: openable (zip, tar, gzip) or only recognised (7z, rar). */
export type ArchiveKind = 'zip' | 'tar' | 'gzip' | '7z' | 'rar';

export function archiveKind(b: Buffer): ArchiveKind | undefined {
  if (b[0] === 0x50 && b[1] === 0x4b && (b[2] === 0x03 || b[2] === 0x05)) return 'zip';
  if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 262 && b.toString('latin1', 257, 262) === 'ustar') return 'tar';
  if (b.subarray(0, 6).equals(Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]))) return '7z';
  if (b.toString('latin1', 0, 6) === 'Rar!\x1a\x07') return 'rar';
  return undefined;
}

/** A gzip stream holds one file: its name is the archive's without .gz (a .tgz holds a .tar). */
function readGzip(data: Buffer, name: string | undefined, budget: Budget): Promise<ZipRead> {
  return new Promise((resolve) => {
    gunzip(data, { maxOutputLength: Math.max(1, budget.bytes + 1) }, (err, out) => {
      if (err) return resolve((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ? { kind: 'limit' } : { kind: 'damaged', why: err.message });
      budget.bytes -= out.length;
      if (budget.bytes < 0 || --budget.entries < 0) return resolve({ kind: 'limit' });
      const base = (name ?? 'data').split(/[\\/]/).pop()!;
      const inner = /\.tgz$/i.test(base) ? base.replace(/\.tgz$/i, '.tar') : base.replace(/\.gz$/i, '');
      resolve({ kind: 'ok', entries: [{ name: inner, head: out.subarray(0, 16), data: out }], encrypted: [] });
    });
  });
}

async function readTar(data: Buffer, budget: Budget): Promise<ZipRead> {
  const ex = tarExtract();
  const out: ZipEntry[] = [];
  ex.end(data);
  try {
    for await (const entry of ex) {
      if (--budget.entries < 0) return { kind: 'limit' };
      if (entry.header.type !== 'file' && entry.header.type !== 'contiguous-file') {
        entry.resume();
        continue;
      }
      if (entry.header.size > budget.bytes) return { kind: 'limit' };
      const chunks: Buffer[] = [];
      for await (const c of entry as AsyncIterable<Buffer>) chunks.push(c);
      const d = Buffer.concat(chunks);
      budget.bytes -= d.length;
      out.push({ name: entry.header.name, head: d.subarray(0, 16), data: d });
    }
  } catch (err) {
    return { kind: 'damaged', why: (err as Error).message };
  }
  return { kind: 'ok', entries: out, encrypted: [] };
}

function nameFinding(name: string | undefined, masks: UserPattern[], path: string): string[] {
  const base = name?.split(/[\\/]/).pop();
  return base && masks.some((m) => m.test(base)) ? [`${path}: file name ${JSON.stringify(base)} matches a blocked mask`] : [];
}

/**
 * What is inside a zip: findings of its entries (recursively), and whether it carries VBA macros. What cannot be
 * looked into (nested deeper than archiveDepth, damaged, encrypted) must not be a way past the filter: each is a
 * finding unless blockUnscannableArchives is off.
 */
async function inspectArchive(kind: ArchiveKind, name: string | undefined, data: Buffer, f: Filter, depth: number, budget: Budget, masks: UserPattern[], path: string): Promise<{ reasons: string[]; macro: boolean }> {
  const unscannable = (why: string) => ({ reasons: f.blockUnscannableArchives ? [`${path}: ${why}, not inspected`] : [], macro: false });
  if (depth >= f.archiveDepth) return unscannable(`archive nested deeper than archiveDepth (${f.archiveDepth})`);
  if (kind === '7z' || kind === 'rar') return unscannable(`${kind} archive (recognised, cannot be opened here)`);
  const read = kind === 'zip' ? await readZip(data, budget) : kind === 'tar' ? await readTar(data, budget) : await readGzip(data, name, budget);
  if (read.kind === 'limit') return { reasons: [`${path}: archive exceeds the inspection limits (zip bomb?)`], macro: false };
  if (read.kind === 'damaged') return unscannable(`damaged archive (${read.why})`);
  const reasons = read.encrypted.length > 0 ? unscannable(`encrypted archive entry ${JSON.stringify(read.encrypted[0])}`).reasons : [];
  for (const e of read.entries) {
    const at = `${path}/${e.name}`;
    // An encrypted entry has no data to look at, but its name still counts.
    reasons.push(...(e.data ? await inspect(e.name, e.data, f, depth + 1, budget, masks, at) : nameFinding(e.name, masks, at)));
  }
  return { reasons, macro: read.entries.some((e) => /(^|\/)vbaProject\.bin$/i.test(e.name)) };
}

async function inspect(name: string | undefined, data: Buffer, f: Filter, depth: number, budget: Budget, masks: UserPattern[], path: string): Promise<string[]> {
  const reasons = nameFinding(name, masks, path);
  let type: FileType | undefined = detectType(data);
  const kind = archiveKind(data);
  // archiveDepth 0: archives are not opened at all.
  if (kind && f.archiveDepth > 0) {
    const inside = await inspectArchive(kind, name, data, f, depth, budget, masks, path);
    reasons.push(...inside.reasons);
    if (inside.macro) type = 'office-macro';
  }
  const base = name?.split(/[\\/]/).pop();
  if (type && f.fileTypes.includes(type)) reasons.push(`${path}: true type ${type}${base ? ` (named ${JSON.stringify(base)})` : ''}`);
  return reasons;
}

/**
 * Inspects each attachment of a message read from its source: one decoded
 * part in memory at a time, taken from `memory` (the pod's budget) while it
 * is looked at.
 */
export async function checkContent(message: MessageSource, root: MimePart, f: Filter, memory: PartMemory = unbounded): Promise<ContentResult> {
  const result: ContentResult = { matched: false, reasons: [], parts: [] };
  if (f.maxMessageSize !== undefined && message.size > f.maxMessageSize) result.reasons.push(`message size ${message.size} exceeds ${f.maxMessageSize}`);
  const masks = f.fileNames.map(compilePattern);
  const budget: Budget = { bytes: f.archiveMaxBytes, entries: 10_000 };
  for (const part of leaves(root)) {
    if (part === root && !part.filename) continue; // a single-part message body
    if (!part.filename && part.contentType.startsWith('text/')) continue;
    // The true type needs only the first bytes; only an archive that will be opened is decoded whole (under the budget).
    const head = await decodePartHead(message, part);
    const kind = archiveKind(head);
    const whole = f.archiveDepth > 0 && (kind === 'zip' || kind === 'tar' || kind === 'gzip') && part.end - part.bodyStart > PART_HEAD_BYTES;
    const path = part.filename ?? part.contentType;
    const reasons = whole
      ? await memory(2 * (part.end - part.bodyStart), async () => inspect(part.filename, await decodePart(message, part), f, 0, budget, masks, path))
      : await inspect(part.filename, head, f, 0, budget, masks, path);
    if (reasons.length > 0) {
      result.reasons.push(...reasons);
      result.parts.push(part);
    }
  }
  result.matched = result.reasons.length > 0;
  return result;
}
