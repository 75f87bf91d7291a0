/**
 * The canonical form of every message the gateway queues (Postfix
 * cleanup(8)'s job), applied as the bytes stream in, in O(line) memory:
 *
 * - Line ends: CRLF stays; a bare LF becomes CRLF; a bare CR becomes a
 *   space (as Postfix does). So no next hop ever receives a bare CR or LF,
 *   and fake end-of-data sequences such as `\r.\r` or `\n.\n` reach it as
 *   harmless text (smuggling).
 * - Line length: RFC 5322 allows 998 octets before CRLF. A longer header
 *   line is folded (CRLF SPACE inserted, so it stays the same field); a
 *   longer body line is broken with CRLF (Postfix smtp_line_length_limit).
 *   A 10 MB line therefore never exists, in memory or on disk.
 * - Forged verdicts: header fields named `X-Mailgw-*` and
 *   `Authentication-Results` fields whose authserv-id is our hostname are
 *   removed: only the gateway itself says what it checked.
 * - Hops: `Received` and `Delivered-To` fields of the header section are
 *   counted (loop detection, limits.maxHops).
 * - The first `Subject` and `Message-ID` are kept as they came (unfolded,
 *   at most MAX_LINE bytes each), for the log and the traffic log.
 *
 * Interface: `new MessageNormalizer(hostname)`, then `push(chunk)` →
 * output bytes for each input chunk and `end()` → the rest; `hops` when done.
 * `normalizeStream(source, normalizer)` wraps an async iterable of chunks.
 */

const CR = 0x0d;
const LF = 0x0a;
const CRLF = Buffer.from('\r\n');
const SPACE = Buffer.from(' ');
/** Longest line content (without CRLF), RFC 5322 section 2.1.1. */
export const MAX_LINE = 998;
/** How much of an Authentication-Results field is read to find its authserv-id. */
const AUTHSERV_LOOKAHEAD = 4096;

type FieldFate = 'keep' | 'drop' | 'undecided';

export class MessageNormalizer {
  /** Received and Delivered-To fields seen in the header section. */
  hops = 0;
  /** Header fields removed as forged. */
  readonly removed: string[] = [];
  /** The first Subject and Message-ID field bodies, raw (possibly RFC 2047 encoded), unfolded, cut at MAX_LINE bytes. */
  subject: string | undefined;
  messageId: string | undefined;
  private capturing: 'subject' | 'messageId' | undefined;
  private readonly hostname: string;
  private inHeader = true;
  private pendingCR = false;
  /** Bytes of the current line so far (content only). */
  private lineLen = 0;
  /** Header section: the current line's parts (at most MAX_LINE bytes). */
  private headerLine: Buffer[] = [];
  /** The current header field: its fate and, while undecided, its lines. */
  private fieldFate: FieldFate = 'keep';
  private fieldName = '';
  private held: Buffer[] = [];
  private heldBytes = 0;
  private out: Buffer[] = [];

  constructor(hostname: string) {
    this.hostname = hostname.toLowerCase();
  }

  /** Normalized bytes for one input chunk (possibly empty; may share memory with the chunk). */
  push(chunk: Buffer): Buffer {
    let i = 0;
    const len = chunk.length;
    if (this.pendingCR) {
      this.pendingCR = false;
      if (len > 0 && chunk[0] === LF) {
        this.endLine(CRLF, 0, 2);
        i = 1;
      } else this.content(SPACE, 0, 1);
    }
    let nextCR = chunk.indexOf(CR, i);
    let nextLF = chunk.indexOf(LF, i);
    while (i < len) {
      if (nextCR >= 0 && nextCR < i) nextCR = chunk.indexOf(CR, i);
      if (nextLF >= 0 && nextLF < i) nextLF = chunk.indexOf(LF, i);
      const j = nextCR < 0 ? nextLF : nextLF < 0 ? nextCR : Math.min(nextCR, nextLF);
      if (j < 0) {
        this.content(chunk, i, len);
        break;
      }
      if (j > i) this.content(chunk, i, j);
      if (chunk[j] === LF) {
        this.endLine(CRLF, 0, 2); // bare LF
        i = j + 1;
      } else if (j + 1 >= len) {
        this.pendingCR = true; // decided by the next chunk
        i = len;
      } else if (chunk[j + 1] === LF) {
        this.endLine(chunk, j, j + 2);
        i = j + 2;
      } else {
        this.content(SPACE, 0, 1); // bare CR
        i = j + 1;
      }
    }
    return this.take();
  }

  /** The rest, at the end of the message; the result always ends with CRLF. */
  end(): Buffer {
    if (this.pendingCR) {
      this.pendingCR = false;
      this.content(SPACE, 0, 1);
    }
    if (this.lineLen > 0 || this.headerLine.length > 0) this.endLine(CRLF, 0, 2);
    this.flushField();
    return this.take();
  }

  private take(): Buffer {
    this.closeRun();
    const out = this.out;
    this.out = [];
    if (out.length === 0) return Buffer.alloc(0);
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  /**
   * Output is collected as runs: bytes [start, end) of one buffer. Adjacent
   * pieces of the same input extend the run, so a chunk that needs no change
   * comes out as one view of itself, without copying.
   */
  private run: Buffer | undefined;
  private runStart = 0;
  private runEnd = 0;

  private emit(b: Buffer, start: number, end: number): void {
    if (end <= start) return;
    if (this.run === b && this.runEnd === start) {
      this.runEnd = end;
      return;
    }
    this.closeRun();
    this.run = b;
    this.runStart = start;
    this.runEnd = end;
  }

  private closeRun(): void {
    if (!this.run) return;
    this.out.push(this.runStart === 0 && this.runEnd === this.run.length ? this.run : this.run.subarray(this.runStart, this.runEnd));
    this.run = undefined;
  }

  /** Line content [start, end) of b (no CR or LF in it). */
  private content(b: Buffer, start: number, end: number): void {
    while (this.lineLen + (end - start) > MAX_LINE) {
      const cut = start + (MAX_LINE - this.lineLen);
      this.content(b, start, cut);
      start = cut;
      this.endLine(CRLF, 0, 2);
      if (this.inHeader) this.content(SPACE, 0, 1); // folded: the rest continues the same field
    }
    if (end <= start) return;
    this.lineLen += end - start;
    if (this.inHeader) this.headerLine.push(b.subarray(start, end));
    else this.emit(b, start, end);
  }

  private endLine(b: Buffer, start: number, end: number): void {
    this.lineLen = 0;
    if (!this.inHeader) return this.emit(b, start, end);
    const line = this.headerLine.length === 1 ? this.headerLine[0]! : Buffer.concat(this.headerLine);
    this.headerLine = [];
    this.headerLineDone(line);
  }

  private headerLineDone(line: Buffer): void {
    if (line.length === 0) {
      // The empty line: the header section ends, the body follows as it is.
      this.flushField();
      this.inHeader = false;
      this.emit(CRLF, 0, 2);
      return;
    }
    const first = line[0];
    if (first === 0x20 || first === 0x09) {
      // Continuation of the current field.
      if (this.capturing) this.capture(line, 0);
      if (this.fieldFate === 'drop') return;
      if (this.fieldFate === 'keep') return this.emitLine(line);
      this.hold(line);
      this.decideAuthResults(false);
      return;
    }
    this.flushField();
    const colon = line.indexOf(0x3a);
    const name = colon > 0 ? line.toString('latin1', 0, colon).trim().toLowerCase() : '';
    this.fieldName = name;
    this.capturing = undefined;
    if (name === 'received' || name === 'delivered-to') this.hops++;
    if ((name === 'subject' && this.subject === undefined) || (name === 'message-id' && this.messageId === undefined)) {
      this.capturing = name === 'subject' ? 'subject' : 'messageId';
      this[this.capturing] = '';
      this.capture(line, colon + 1);
    }
    if (name.startsWith('x-mailgw-')) {
      this.fieldFate = 'drop';
      this.removed.push(name);
      return;
    }
    if (name === 'authentication-results') {
      this.fieldFate = 'undecided';
      this.hold(line);
      this.decideAuthResults(false);
      return;
    }
    this.fieldFate = 'keep';
    this.emitLine(line);
  }

  private capture(line: Buffer, from: number): void {
    const field = this.capturing!;
    const have = this[field]!;
    if (have.length >= MAX_LINE) return;
    const text = line.toString('utf8', from, Math.min(line.length, from + MAX_LINE - have.length + 1));
    this[field] = (have + (have === '' ? text.trimStart() : text.replace(/^[ \t]+/, ' '))).slice(0, MAX_LINE);
  }

  private emitLine(line: Buffer): void {
    this.emit(line, 0, line.length);
    this.emit(CRLF, 0, 2);
  }

  private hold(line: Buffer): void {
    this.held.push(line);
    this.heldBytes += line.length + 2;
  }

  /**
   * An Authentication-Results field is ours if its authserv-id (the first
   * token after the colon, RFC 8601) is our hostname. Decided as soon as the
   * token is complete, or with what there is at the end of the field or
   * after AUTHSERV_LOOKAHEAD bytes.
   */
  private decideAuthResults(final: boolean): void {
    const text = this.held.map((l) => l.toString('latin1')).join('');
    const value = text.slice(text.indexOf(':') + 1).replace(/\([^()]*\)/g, ' ').trimStart();
    const m = /^([^\s;]+)[\s;]/.exec(value);
    if (!m && !final && this.heldBytes < AUTHSERV_LOOKAHEAD) return;
    const id = (m?.[1] ?? value.trim()).toLowerCase().replace(/\.$/, '');
    const forged = id === this.hostname;
    if (forged) this.removed.push(this.fieldName);
    else for (const l of this.held) this.emitLine(l);
    this.fieldFate = forged ? 'drop' : 'keep';
    this.held = [];
    this.heldBytes = 0;
  }

  private flushField(): void {
    if (this.fieldFate === 'undecided') this.decideAuthResults(true);
    this.fieldFate = 'keep';
  }
}

/** Normalizes an async stream of chunks. */
export async function* normalizeStream(source: AsyncIterable<Buffer>, n: MessageNormalizer): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    const out = n.push(chunk);
    if (out.length > 0) yield out;
  }
  const rest = n.end();
  if (rest.length > 0) yield rest;
}

/** Normalizes a whole message in memory (bounces, released backups, tests). */
export function normalizeMessage(message: Buffer, hostname: string): { bytes: Buffer; hops: number } {
  const n = new MessageNormalizer(hostname);
  const bytes = Buffer.concat([n.push(message), n.end()]);
  return { bytes, hops: n.hops };
}
