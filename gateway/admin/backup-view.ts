/**
 * A backed-up message as the operations API shows it: its header fields
 * (decoded), its first text/plain part as text, and its other parts by name,
 * type and size — never the raw bytes, HTML or attachments, which a browser
 * could render or run. Pure; the console escapes whatever it shows.
 */
import { decode } from 'libmime/lib/charset.js';
import { headerFields } from '../mime/header-fields.ts';
import { decodeBody, leaves, parseMime } from '../mime/mime-parts.ts';

export interface BackupView {
  headers: [name: string, value: string][];
  /** The first text/plain part, decoded to UTF-8 (at most TEXT_LIMIT characters), or null when there is none. */
  text: string | null;
  textTruncated: boolean;
  parts: { contentType: string; filename: string | null; bytes: number }[];
}

export const TEXT_LIMIT = 64 * 1024;
const MAX_HEADERS = 200;

export function backupView(message: Buffer): BackupView {
  const headers: [string, string][] = [];
  for (const [name, values] of headerFields(message)) for (const v of values) if (headers.length < MAX_HEADERS) headers.push([name, v]);
  const root = parseMime(message);
  let text: string | null = null;
  let textTruncated = false;
  const parts: BackupView['parts'] = [];
  for (const p of leaves(root)) {
    const body = decodeBody(message, p);
    if (text === null && p.contentType === 'text/plain' && !p.filename) {
      const charset = /charset\s*=\s*"?([\w.:-]+)/i.exec(p.headers.get('content-type') ?? '')?.[1] ?? 'utf-8';
      let decoded: string;
      try {
        decoded = decode(body, charset);
      } catch {
        decoded = body.toString('utf8');
      }
      textTruncated = decoded.length > TEXT_LIMIT;
      text = decoded.slice(0, TEXT_LIMIT);
    } else parts.push({ contentType: p.contentType, filename: p.filename ?? null, bytes: body.length });
  }
  return { headers, text, textTruncated, parts };
}
