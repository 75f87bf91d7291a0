/**
 * A message head's header fields as rules and templates see them: by
 * lower-case name, unfolded, RFC 2047 encoded-words decoded (libmime). Pure.
 */
import libmime from 'libmime';

/** Header fields of a message head: lower-case name → unfolded, decoded values, in order. */
export function headerFields(head: Buffer): Map<string, string[]> {
  const end = head.indexOf('\r\n\r\n');
  const text = head.toString('utf8', 0, end < 0 ? head.length : end);
  const out = new Map<string, string[]>();
  for (const line of text.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    let value = line.slice(i + 1).trim();
    try {
      value = libmime.decodeWords(value);
    } catch {
      // an undecodable encoded-word stays as it is
    }
    out.set(name, [...(out.get(name) ?? []), value]);
  }
  return out;
}
