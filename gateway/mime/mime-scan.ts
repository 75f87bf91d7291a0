/**
 * The MIME structure of a message read as a stream (from the incoming file),
 * in one pass and O(line) memory: the same MimePart tree as parseMime
 * (byte offsets of each part, its headers, type, file name and encoding),
 * without holding the message. Bodies are read later by range, one part at
 * a time (decodePart).
 */
import { parseHeaders, partOf, MAX_DEPTH, MAX_PARTS, type MimePart } from './mime-parts.ts';
import type { MessageSource } from '../spool/incoming.ts';

/** Bytes of one part's header section kept for parsing; a longer one is cut (its body still counts). */
const MAX_HEADER_BYTES = 64 * 1024;
/** Bytes of a body line looked at for a delimiter (a boundary is at most 70 characters). */
const LINE_PREFIX = 200;
const CRLF = Buffer.from('\r\n');

interface Open {
  part: MimePart;
  delim: Buffer;
}

export async function scanMime(source: MessageSource): Promise<MimePart> {
  let parts = 1;
  const root: MimePart = { start: 0, end: source.size, bodyStart: source.size, headers: new Map(), contentType: 'text/plain', encoding: '7bit', children: [] };
  /** The parts open now, from the root down to the one being read. */
  const path: MimePart[] = [root];
  /** Open multiparts whose delimiters are looked for, with their depth. */
  let stack: Open[] = [];
  let inHeaders = true;
  let headerText: Buffer[] = [];
  let headerBytes = 0;
  const cur = () => path[path.length - 1]!;

  const endHeaders = (bodyStart: number) => {
    const part = cur();
    const parsed = partOf(part.start, part.end, bodyStart, parseHeaders(Buffer.concat(headerText).toString('latin1')));
    Object.assign(part, { bodyStart, headers: parsed.headers, contentType: parsed.contentType, filename: parsed.filename, encoding: parsed.encoding });
    headerText = [];
    headerBytes = 0;
    inHeaders = false;
    if (parsed.boundary && path.length - 1 < MAX_DEPTH && parts <= MAX_PARTS) stack.push({ part, delim: Buffer.from(`--${parsed.boundary}`, 'latin1') });
  };

  const line = (start: number, end: number, text: Buffer) => {
    // text: the line without CRLF (its first bytes only, for a body line).
    // A delimiter of an open multipart counts anywhere below it, even where a part's headers are expected (as parseMime).
    if (text.length >= 2 && text[0] === 0x2d && text[1] === 0x2d && delimiter(start, end, text)) return;
    if (!inHeaders) return;
    if (text.length === 0) return endHeaders(end);
    if (headerBytes < MAX_HEADER_BYTES) {
      headerText.push(text, CRLF);
      headerBytes += text.length + 2;
    }
  };

  const delimiter = (start: number, end: number, text: Buffer): boolean => {
    for (let k = stack.length - 1; k >= 0; k--) {
      const o = stack[k]!;
      if (!text.subarray(0, o.delim.length).equals(o.delim)) continue;
      // Like parseMime (and lenient MUAs), any line that starts with the delimiter is one; "--" after it closes.
      const rest = text.subarray(o.delim.length, o.delim.length + 2).toString('latin1');
      const at = path.indexOf(o.part);
      closeBelow(at, start - 2);
      path.length = at + 1;
      stack = stack.filter((x) => path.includes(x.part));
      inHeaders = false;
      if (rest.startsWith('--')) {
        stack = stack.filter((x) => x.part !== o.part); // closed: the rest is its epilogue
        return true;
      }
      if (++parts > MAX_PARTS) {
        stack = stack.filter((x) => x.part !== o.part); // too many parts: the rest is opaque
        return true;
      }
      const child: MimePart = { start: end, end: o.part.end, bodyStart: end, headers: new Map(), contentType: 'text/plain', encoding: '7bit', children: [] };
      o.part.children.push(child);
      path.push(child);
      inHeaders = true;
      return true;
    }
    return false;
  };

  /**
   * Ends the parts open below path[at]: its open child just before the
   * delimiter's CRLF, each deeper one (never closed) 2 bytes before its
   * parent's end, as parseMime does.
   */
  const closeBelow = (at: number, endAt: number) => {
    for (let i = at + 1; i < path.length; i++) {
      const p = path[i]!;
      p.end = Math.max(p.start, i === at + 1 ? endAt : path[i - 1]!.end - 2);
      if (inHeaders && i === path.length - 1) endHeaders(p.end);
    }
  };

  let offset = 0;
  let lineStart = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const chunk of source.stream() as AsyncIterable<Buffer>) {
    let at = 0;
    while (at < chunk.length) {
      const nl = chunk.indexOf(0x0a, at);
      const stop = nl < 0 ? chunk.length : nl + 1;
      const keep = (inHeaders ? MAX_HEADER_BYTES : LINE_PREFIX) - pendingBytes;
      if (keep > 0) {
        const piece = chunk.subarray(at, Math.min(stop, at + keep));
        pending.push(piece);
        pendingBytes += piece.length;
      }
      if (nl < 0) break;
      const lineEnd = offset + nl + 1;
      let text = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
      if (text.length > 0 && text[text.length - 1] === 0x0a) text = text.subarray(0, text.length - 1);
      if (text.length > 0 && text[text.length - 1] === 0x0d) text = text.subarray(0, text.length - 1);
      line(lineStart, lineEnd, text);
      pending = [];
      pendingBytes = 0;
      lineStart = lineEnd;
      at = nl + 1;
    }
    offset += chunk.length;
  }
  if (pendingBytes > 0) line(lineStart, source.size, Buffer.concat(pending));
  if (inHeaders && path.length === 1) endHeaders(root.end);
  closeBelow(0, root.end - 2);
  return root;
}
