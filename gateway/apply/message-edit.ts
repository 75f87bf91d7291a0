/**
 * The message as delivered, written from its source: our headers prepended
 * (after our Received), the Subject tagged, removed attachments replaced by a
 * notice. Only the header section is held in memory. Forged
 * Authentication-Results and X-Mailgw-* fields are already gone: the
 * normalizer removed them on the way in (inject/message-normalize.ts).
 */
import type { MimePart } from '../mime/mime-parts.ts';
import type { MessageSource } from '../spool/incoming.ts';

export interface Edit {
  /** Complete header lines (with CRLF) to put on top. */
  prepend: string;
  subjectTag?: string | undefined;
  /** Header fields removed (case-insensitive names); our own Received stays. */
  removeHeaders?: readonly string[] | undefined;
  removeParts?: MimePart[] | undefined;
  notice?: string | undefined;
}

/** The header section (ending in CRLF, with or without its empty line) with the header edits applied. */
export function editHeader(head: Buffer, e: Edit): Buffer {
  const end = head.indexOf('\r\n\r\n');
  const text = head.toString('latin1', 0, end < 0 ? head.length : end + 2);
  const removed = new Set((e.removeHeaders ?? []).map((n) => n.toLowerCase()));
  const nameOf = (f: string) => f.slice(0, Math.max(0, f.indexOf(':'))).trim().toLowerCase();
  const fields = text.split(/\r\n(?![ \t])/).filter((f, i) => f.length > 0 && (i === 0 && /^received:/i.test(f) ? true : !removed.has(nameOf(f))));
  const kept = fields.map((f) => (e.subjectTag && /^subject:/i.test(f) ? f.replace(/^(subject:[ \t]*)/i, `$1${e.subjectTag} `) : f));
  if (e.subjectTag && !fields.some((f) => /^subject:/i.test(f))) kept.push(`Subject: ${e.subjectTag}`);
  // Our trace header (Received) stays first; the new headers go right after it.
  const receivedFirst = kept.length > 0 && /^received:/i.test(kept[0]!) ? [kept.shift()!] : [];
  const added = e.prepend ? e.prepend.replace(/\r\n$/, '').split(/\r\n(?![ \t])/) : [];
  return Buffer.concat([Buffer.from(`${[...receivedFirst, ...added, ...kept].join('\r\n')}\r\n`, 'latin1'), end < 0 ? Buffer.alloc(0) : Buffer.from('\r\n')]);
}

/** The header section is read whole for editing, up to this size; beyond it only complete lines are edited. */
const MAX_HEADER_SECTION = 1024 * 1024;

/** Offset just after the header section's empty line (or after the last CRLF within the cap when there is none). */
async function headerSectionEnd(source: MessageSource): Promise<number> {
  let offset = 0;
  let tail = Buffer.alloc(0);
  let lastCrlf = 0;
  for await (const chunk of source.stream(0, Math.min(source.size, MAX_HEADER_SECTION)) as AsyncIterable<Buffer>) {
    const buf = Buffer.concat([tail, chunk]);
    const base = offset - tail.length;
    if (base === 0 && buf.subarray(0, 2).toString('latin1') === '\r\n') return 2;
    const i = buf.indexOf('\r\n\r\n');
    if (i >= 0) return base + i + 4;
    const crlf = buf.lastIndexOf('\r\n');
    if (crlf >= 0) lastCrlf = base + crlf + 2;
    tail = buf.subarray(Math.max(0, buf.length - 3));
    offset += chunk.length;
  }
  return source.size <= MAX_HEADER_SECTION ? source.size : lastCrlf;
}

/**
 * Reads the message from its source and writes the edited message through `write` (which may ask to wait: backpressure), with
 * only the header section in memory (taken from `memory`). Removed parts are
 * skipped by offset and replaced by the notice.
 */
export async function writeEdited(source: MessageSource, e: Edit, write: (b: Buffer) => Promise<void> | undefined, memory: <T>(n: number, fn: () => Promise<T>) => Promise<T> = (_n, fn) => fn()): Promise<void> {
  const headEnd = await headerSectionEnd(source);
  await memory(headEnd * 3, async () => {
    const head = await source.read(0, headEnd);
    await write(editHeader(head, e));
  });
  const copy = async (start: number, end: number) => {
    for await (const chunk of source.stream(start, end) as AsyncIterable<Buffer>) {
      const wait = write(chunk);
      if (wait) await wait;
    }
  };
  let at = headEnd;
  for (const p of [...(e.removeParts ?? [])].sort((a, b) => a.start - b.start)) {
    if (p.end <= at) continue;
    const start = Math.max(p.start, at);
    await copy(at, start);
    const notice = `${e.notice ?? 'An attachment was removed by the mail gateway.'} (${p.filename ?? p.contentType})`;
    // A part that begins inside the header section (a single-part message) keeps the headers; its body becomes the notice.
    await write(Buffer.from(p.start >= headEnd ? `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${notice}\r\n` : `${notice}\r\n`, 'utf8'));
    at = p.end;
  }
  await copy(at, source.size);
}
