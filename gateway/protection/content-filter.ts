/**
 * Content filtering: message size, attachment names (masks) and true types
 * (magic bytes), also inside zip archives — nested up to archiveDepth, and
 * reading at most archiveMaxBytes of uncompressed data and 10,000 entries
 * per message, so a zip bomb costs bounded time and memory and yields a
 * verdict (an archive that exceeds the bounds matches as 'archive-limit').
 */
import yauzl from 'yauzl';
import type { GatewayConfig } from '../../api/index.ts';
import { detectType, maskToRegExp, type FileType } from './file-type.ts';
import { decodeBody, leaves, type MimePart } from './mime-parts.ts';

export interface ContentResult {
  matched: boolean;
  reasons: string[];
  /** Leaf parts that matched (for DeleteAttachment). */
  parts: MimePart[];
}

type Filter = GatewayConfig['protection']['contentFilter'];

interface Budget { bytes: number; entries: number }

function readZip(data: Buffer, budget: Budget): Promise<{ name: string; head: Buffer; data: Buffer | undefined }[] | 'limit'> {
  return new Promise((resolve) => {
    yauzl.fromBuffer(data, { lazyEntries: true, validateEntrySizes: true }, (err, zip) => {
      if (err || !zip) return resolve([]);
      const out: { name: string; head: Buffer; data: Buffer | undefined }[] = [];
      let over = false;
      zip.on('error', () => resolve(out));
      zip.on('end', () => resolve(over ? 'limit' : out));
      zip.on('entry', (entry: yauzl.Entry) => {
        if (--budget.entries < 0) {
          over = true;
          zip.close();
          return resolve('limit');
        }
        if (entry.fileName.endsWith('/')) return zip.readEntry();
        if (entry.uncompressedSize > budget.bytes) {
          over = true;
          out.push({ name: entry.fileName, head: Buffer.alloc(0), data: undefined });
          zip.close();
          return resolve('limit');
        }
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return zip.readEntry();
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => {
            budget.bytes -= c.length;
            if (budget.bytes < 0) {
              over = true;
              stream.destroy();
              return;
            }
            chunks.push(c);
          });
          const next = () => {
            const d = Buffer.concat(chunks);
            out.push({ name: entry.fileName, head: d.subarray(0, 16), data: d });
            if (over) {
              zip.close();
              resolve('limit');
            } else zip.readEntry();
          };
          stream.on('end', next);
          stream.on('close', () => {
            if (over) next();
          });
          stream.on('error', next);
        });
      });
      zip.readEntry();
    });
  });
}

async function inspect(name: string | undefined, data: Buffer, f: Filter, depth: number, budget: Budget, masks: RegExp[], path: string): Promise<string[]> {
  const reasons: string[] = [];
  const base = name?.split(/[\\/]/).pop();
  if (base && masks.some((m) => m.test(base))) reasons.push(`${path}: file name ${JSON.stringify(base)} matches a blocked mask`);
  const type: FileType | undefined = detectType(data);
  let effective = type;
  if (type === 'archive' && data[0] === 0x50) {
    // Nested deeper than we open: what is inside is unknown, which must not be a way past the filter
    // (archiveDepth 0 means archives are not opened at all, and then none is flagged for it).
    if (depth > 0 && depth >= f.archiveDepth) {
      reasons.push(`${path}: archive nested deeper than archiveDepth (${f.archiveDepth}), not inspected`);
      return reasons;
    }
    const entries = depth < f.archiveDepth ? await readZip(data, budget) : [];
    if (entries === 'limit') {
      reasons.push(`${path}: archive exceeds the inspection limits (zip bomb?)`);
      return reasons;
    }
    if (entries.some((e) => /(^|\/)vbaProject\.bin$/i.test(e.name))) effective = 'office-macro';
    for (const e of entries) if (e.data) reasons.push(...(await inspect(e.name, e.data, f, depth + 1, budget, masks, `${path}/${e.name}`)));
  }
  if (effective && f.fileTypes.includes(effective)) reasons.push(`${path}: true type ${effective}${base ? ` (named ${JSON.stringify(base)})` : ''}`);
  return reasons;
}

export async function checkContent(message: Buffer, root: MimePart, f: Filter): Promise<ContentResult> {
  const result: ContentResult = { matched: false, reasons: [], parts: [] };
  if (f.maxMessageSize !== undefined && message.length > f.maxMessageSize) result.reasons.push(`message size ${message.length} exceeds ${f.maxMessageSize}`);
  const masks = f.fileNames.map(maskToRegExp);
  const budget: Budget = { bytes: f.archiveMaxBytes, entries: 10_000 };
  for (const part of leaves(root)) {
    if (part === root && !part.filename) continue; // a single-part message body
    if (!part.filename && part.contentType.startsWith('text/')) continue;
    const reasons = await inspect(part.filename, decodeBody(message, part), f, 0, budget, masks, part.filename ?? part.contentType);
    if (reasons.length > 0) {
      result.reasons.push(...reasons);
      result.parts.push(part);
    }
  }
  result.matched = result.reasons.length > 0;
  return result;
}
