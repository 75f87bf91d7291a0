/**
 * The disclaimer action (issue 15): text appended once to the message's
 * plain-text body and HTML to its HTML body, MIME-correctly, with mailsplit
 * (the maintained splitter/joiner mailparser uses): only the first
 * text/plain and the first text/html part that are not attachments and not
 * inside an attached message are rewritten; each is decoded (transfer
 * encoding and charset), extended, and written back as UTF-8,
 * quoted-printable unless it was base64. Everything else passes byte for
 * byte.
 *
 * Never added to a signed or encrypted message (multipart/signed,
 * multipart/encrypted, application/pkcs7-mime): it would break the
 * signature or could not be read. Memory: streamed, with only the last
 * 64 KiB of an HTML part held to find its `</body>`.
 */
import { Joiner, Rewriter, Splitter } from '@zone-eu/mailsplit';
import libmime from 'libmime';
import type { Writable } from 'node:stream';

export interface Disclaimer {
  text: string;
  html?: string | undefined;
}

export type Write = (data: Buffer) => Promise<void> | undefined;

const TAIL = 64 * 1024;
const SEALED = /^(multipart\/(signed|encrypted)|application\/(x-)?pkcs7-mime)$/;

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/\r?\n/g, '<br>\r\n');
}

type Node = { root: boolean; contentType: string | false; disposition: string | false; charset: string | false; parentNode: Node | false; setCharset(c: string): void };

/** mailsplit's typings name only its object events; the streams' own ('error', 'end', 'drain') are there too. */
const ev = (s: unknown) => s as NodeJS.EventEmitter;

function insideMessage(node: Node): boolean {
  for (let p = node.parentNode; p; p = p.parentNode) if (p.contentType === 'message/rfc822') return true;
  return false;
}

/**
 * A writer that passes the message through the disclaimer rewrite into `out`
 * (with out's backpressure); `end()` resolves once everything is written.
 * `added` tells afterwards whether a disclaimer went in.
 */
export function disclaimerWriter(d: Disclaimer, out: Write): { write: Write; end: () => Promise<void>; readonly added: boolean } {
  const splitter = new Splitter();
  let sealed = false;
  let doneText = false;
  let doneHtml = false;
  let added = false;
  const rewriter = new Rewriter((data) => {
    const node = data as unknown as Node;
    if (node.root && node.contentType && SEALED.test(node.contentType)) sealed = true;
    if (sealed || node.disposition === 'attachment' || insideMessage(node)) return false;
    if (node.contentType === 'text/plain' && !doneText) return (doneText = true);
    if (node.contentType === 'text/html' && !doneHtml) return (doneHtml = true);
    return false;
  });
  rewriter.on('node', ({ node, decoder, encoder }) => {
    const n = node as unknown as Node;
    const html = n.contentType === 'text/html';
    const addition = html ? `\r\n${d.html ?? `<p>${escapeHtml(d.text)}</p>`}\r\n` : `\r\n${d.text.replace(/\r?\n/g, '\r\n')}\r\n`;
    let last = 0x0a;
    const toUtf8 = libmime.createDecodeStream(n.charset || 'UTF-8');
    n.setCharset('utf-8');
    added = true;
    let tail = Buffer.alloc(0);
    toUtf8.on('data', (chunk: Buffer) => {
      if (chunk.length > 0) last = chunk[chunk.length - 1]!;
      if (!html) return void encoder.write(chunk);
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > 2 * TAIL) {
        encoder.write(tail.subarray(0, tail.length - TAIL));
        tail = Buffer.from(tail.subarray(tail.length - TAIL));
      }
    });
    toUtf8.on('end', () => {
      if (html) {
        const text = tail.toString('utf8');
        const at = text.toLowerCase().lastIndexOf('</body');
        encoder.end(Buffer.from(at >= 0 ? text.slice(0, at) + addition + text.slice(at) : text + addition, 'utf8'));
      } else {
        // One empty line between the body and the disclaimer.
        encoder.end(Buffer.from(last === 0x0a ? addition : `\r\n${addition}`, 'utf8'));
      }
    });
    (decoder as unknown as NodeJS.ReadableStream).pipe(toUtf8 as unknown as Writable);
  });
  const joiner = new Joiner();
  splitter.pipe(rewriter).pipe(joiner);
  const finished = new Promise<void>((resolve, reject) => {
    const fail = (err: Error) => reject(err);
    ev(splitter).on('error', fail);
    ev(rewriter).on('error', fail);
    ev(joiner).on('error', fail);
    joiner.on('data', (chunk: Buffer) => {
      const wait = out(chunk);
      if (wait) {
        joiner.pause();
        wait.then(() => joiner.resume(), fail);
      }
    });
    ev(joiner).on('end', () => resolve());
  });
  return {
    write: (data) => (splitter.write(data) ? undefined : new Promise<void>((r) => ev(splitter).once('drain', () => r()))),
    end: async () => {
      splitter.end();
      await finished;
    },
    get added() {
      return added;
    },
  };
}
