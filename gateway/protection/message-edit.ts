/**
 * Header edits on a raw message, leaving the body bytes alone: drop
 * Authentication-Results that claim our hostname (spoofing), prepend our own
 * headers, tag the Subject, and replace removed attachments with a notice.
 */
import type { MimePart } from './mime-parts.ts';
import { replaceParts } from './mime-parts.ts';

export interface Edit {
  hostname: string;
  /** Complete header lines (with CRLF) to put on top. */
  prepend: string;
  subjectTag?: string | undefined;
  removeParts?: MimePart[] | undefined;
  notice?: string | undefined;
}

function splitHeader(buf: Buffer): [string, Buffer] {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return [buf.toString('latin1'), Buffer.alloc(0)];
  return [buf.toString('latin1', 0, end + 2), buf.subarray(end + 2)];
}

export function editMessage(buf: Buffer, e: Edit): Buffer {
  let body = buf;
  if (e.removeParts && e.removeParts.length > 0) {
    body = replaceParts(buf, e.removeParts, (p) => `${e.notice ?? 'An attachment was removed by the mail gateway.'} (${p.filename ?? p.contentType})`);
  }
  const [head, rest] = splitHeader(body);
  const fields = head.split(/\r\n(?![ \t])/).filter((f) => f.length > 0);
  const host = e.hostname.toLowerCase();
  const kept = fields.filter((f) => {
    const m = /^authentication-results:\s*([^;\s]+)/i.exec(f);
    return !(m && m[1]!.toLowerCase() === host);
  }).map((f) => {
    if (!e.subjectTag || !/^subject:/i.test(f)) return f;
    return f.replace(/^(subject:[ \t]*)/i, `$1${e.subjectTag} `);
  });
  if (e.subjectTag && !fields.some((f) => /^subject:/i.test(f))) kept.push(`Subject: ${e.subjectTag}`);
  // Our trace header (Received) stays first; the new headers go right after it.
  const receivedFirst = kept.length > 0 && /^received:/i.test(kept[0]!) ? [kept.shift()!] : [];
  const added = e.prepend ? e.prepend.replace(/\r\n$/, '').split(/\r\n(?![ \t])/) : [];
  const out = [...receivedFirst, ...added, ...kept].join('\r\n');
  return Buffer.concat([Buffer.from(`${out}\r\n`, 'latin1'), rest]);
}
