/**
 * A raw MIME walker: finds the parts of a message by byte offsets (without
 * re-encoding anything) and decodes a part's body. Nesting is
 * bounded; anything it cannot parse is treated as one opaque leaf. The same
 * tree comes from a stream by mime-scan.ts.
 */
import { Readable } from 'node:stream';
import type { MessageSource } from '../spool/incoming.ts';
export interface MimePart {
  start: number;
  end: number;
  bodyStart: number;
  headers: Map<string, string>;
  contentType: string;
  filename?: string | undefined;
  encoding: string;
  children: MimePart[];
}

export const MAX_DEPTH = 20;
export const MAX_PARTS = 1000;

function headerEnd(buf: Buffer, start: number, end: number): number {
  const crlf = buf.indexOf('\r\n\r\n', start);
  if (crlf >= 0 && crlf < end) return crlf + 4;
  if (buf.subarray(start, start + 2).toString() === '\r\n') return start + 2; // no headers
  return end;
}

export function parseHeaders(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    if (!out.has(name)) out.set(name, line.slice(i + 1).trim());
  }
  return out;
}

function param(value: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|;)\\s*${name}\\*?=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]+))`, 'i').exec(value);
  if (!m) return undefined;
  const v = m[1] ?? m[2]!;
  const ext = /^[\w-]*'[\w-]*'(.*)$/.exec(v); // RFC 2231 charset'lang'value
  try {
    return ext ? decodeURIComponent(ext[1]!) : v;
  } catch {
    return v;
  }
}

/** A part from its offsets and parsed headers, with its multipart boundary if it has one. */
export function partOf(start: number, end: number, bodyStart: number, headers: Map<string, string>): MimePart & { boundary?: string | undefined } {
  const ct = headers.get('content-type') ?? 'text/plain';
  const contentType = ct.split(';')[0]!.trim().toLowerCase();
  const disposition = headers.get('content-disposition') ?? '';
  const filename = param(disposition, 'filename') ?? param(ct, 'name');
  const boundary = contentType.startsWith('multipart/') ? param(ct, 'boundary') : undefined;
  return { start, end, bodyStart, headers, contentType, filename, encoding: (headers.get('content-transfer-encoding') ?? '7bit').toLowerCase(), children: [], boundary };
}

export function parseMime(buf: Buffer, start = 0, end = buf.length, depth = 0, counter = { n: 0 }): MimePart {
  const bodyStart = headerEnd(buf, start, end);
  const { boundary, ...part } = partOf(start, end, bodyStart, parseHeaders(buf.toString('latin1', start, bodyStart)));
  counter.n++;
  if (!boundary || depth >= MAX_DEPTH || counter.n > MAX_PARTS) return part;
  const delim = Buffer.from(`--${boundary}`, 'latin1');
  const positions: number[] = [];
  let at = bodyStart;
  for (;;) {
    const i = buf.indexOf(delim, at);
    if (i < 0 || i >= end) break;
    const lineStart = i === bodyStart || buf.subarray(i - 2, i).toString() === '\r\n';
    if (lineStart) positions.push(i);
    at = i + delim.length;
  }
  for (let k = 0; k < positions.length; k++) {
    const p = positions[k]!;
    if (buf.subarray(p + delim.length, p + delim.length + 2).toString() === '--') break; // close delimiter
    const lineEnd = buf.indexOf('\r\n', p);
    if (lineEnd < 0) break;
    const next = positions[k + 1] ?? end;
    const partEnd = Math.max(lineEnd + 2, next - 2); // the CRLF before the next delimiter belongs to it
    part.children.push(parseMime(buf, lineEnd + 2, partEnd, depth + 1, counter));
  }
  return part;
}

export function leaves(p: MimePart): MimePart[] {
  return p.children.length === 0 ? [p] : p.children.flatMap(leaves);
}

export function decodeBody(buf: Buffer, p: MimePart): Buffer {
  return decodeRaw(buf.subarray(p.bodyStart, p.end), p);
}

/** A part's body decoded, read from a message source (one part in memory at a time). */
export async function decodePart(source: MessageSource, p: MimePart): Promise<Buffer> {
  return decodeRaw(await source.read(p.bodyStart, p.end), p);
}

/** Encoded bytes of a part read to find its true type (decodePartHead). */
export const PART_HEAD_BYTES = 64 * 1024;

/** The first bytes of a part's body, decoded (for its true type): at most `encodedBytes` are read. */
export async function decodePartHead(source: MessageSource, p: MimePart, encodedBytes = PART_HEAD_BYTES): Promise<Buffer> {
  const end = Math.min(p.end, p.bodyStart + encodedBytes);
  let raw = await source.read(p.bodyStart, end);
  if (end < p.end && p.encoding === 'quoted-printable') {
    const cut = raw.lastIndexOf(0x3d); // a '=' escape may be cut in two
    if (cut >= raw.length - 3 && cut >= 0) raw = raw.subarray(0, cut);
  }
  return decodeRaw(raw, p);
}

/**
 * A part's body decoded as a stream, chunk by chunk (base64 and
 * quoted-printable carried across chunk boundaries), at most `limit` bytes:
 * what a scanner reads without the part ever being in memory.
 */
export function decodedPartSource(source: MessageSource, p: MimePart, limit = Infinity): MessageSource {
  const stream = () => Readable.from((async function* () {
    let carry = '';
    let out = 0;
    for await (const chunk of source.stream(p.bodyStart, p.end) as AsyncIterable<Buffer>) {
      let piece: Buffer;
      if (p.encoding === 'base64') {
        const text = carry + chunk.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, '');
        const whole = text.length - (text.length % 4);
        carry = text.slice(whole);
        piece = Buffer.from(text.slice(0, whole), 'base64');
      } else if (p.encoding === 'quoted-printable') {
        let text = carry + chunk.toString('latin1');
        const eq = text.lastIndexOf('=');
        carry = eq >= 0 && eq >= text.length - 3 ? text.slice(eq) : '';
        if (carry) text = text.slice(0, eq);
        piece = Buffer.from(text.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
      } else piece = chunk;
      if (out + piece.length >= limit) {
        yield piece.subarray(0, limit - out);
        return;
      }
      out += piece.length;
      yield piece;
    }
    if (carry && p.encoding === 'base64') yield Buffer.from(carry, 'base64');
  })(), { objectMode: false });
  return {
    size: Math.min(limit, p.end - p.bodyStart),
    stream: () => stream(),
    read: async () => {
      throw new Error('a decoded part is read as a stream');
    },
  };
}

function decodeRaw(raw: Buffer, p: MimePart): Buffer {
  if (p.encoding === 'base64') return Buffer.from(raw.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (p.encoding === 'quoted-printable') {
    const text = raw.toString('latin1').replace(/=\r?\n/g, '');
    return Buffer.from(text.replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
  }
  return raw;
}
