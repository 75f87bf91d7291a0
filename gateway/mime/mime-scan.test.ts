import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseMime, type MimePart } from './mime-parts.ts';
import { scanMime } from './mime-scan.ts';
import { bufferSource } from '../spool/incoming.ts';

const shape = (p: MimePart): unknown => ({ start: p.start, end: p.end, bodyStart: p.bodyStart, type: p.contentType, name: p.filename, enc: p.encoding, children: p.children.map(shape) });

const MESSAGES: Record<string, string> = {
  plain: 'Subject: x\r\n\r\nhello\r\n',
  'no headers': '\r\nbody only\r\n',
  'headers only': 'Subject: x\r\nFrom: a@b\r\n',
  nested: [
    'Content-Type: multipart/mixed; boundary="outer"', 'Subject: nested', '', 'preamble', '--outer',
    'Content-Type: multipart/alternative; boundary=inner', '', '--inner', 'Content-Type: text/plain', '', 'plain text', '--inner',
    'Content-Type: text/html', '', '<p>html</p>', '--inner--', '', '--outer',
    'Content-Type: application/zip; name="a.zip"', 'Content-Transfer-Encoding: base64', 'Content-Disposition: attachment; filename="a.zip"', '',
    'UEsDBAoAAAAAAA==', '--outer--', 'epilogue', '',
  ].join('\r\n'),
  'unclosed inner': [
    'Content-Type: multipart/mixed; boundary=b1', '', '--b1', 'Content-Type: multipart/mixed; boundary=b2', '', '--b2',
    'Content-Type: text/plain', '', 'never closed', '--b1', 'Content-Type: application/pdf; name=x.pdf', '', '%PDF-1.4', '--b1--', '',
  ].join('\r\n'),
  'delimiter look-alikes': ['Content-Type: multipart/mixed; boundary=zz', '', '--zz', '', '--zzz not a delimiter', '--zz extra', '--zz  ', '', 'second', '--zz--', ''].join('\r\n'),
};

describe('scanMime (streaming) finds the same parts as parseMime', () => {
  for (const [name, text] of Object.entries(MESSAGES)) {
    it(name, async () => {
      const buf = Buffer.from(text, 'latin1');
      assert.deepEqual(shape(await scanMime(bufferSource(buf))), shape(parseMime(buf)));
    });
  }

  it('a large message in small chunks: same parts', async () => {
    const body = 'A'.repeat(76);
    const parts = Array.from({ length: 30 }, (_, i) => `--big\r\nContent-Type: application/octet-stream; name="f${i}.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n${`${body}\r\n`.repeat(200)}`).join('');
    const buf = Buffer.from(`Content-Type: multipart/mixed; boundary=big\r\n\r\n${parts}--big--\r\n`);
    const scanned = await scanMime(bufferSource(buf));
    assert.equal(scanned.children.length, 30);
    assert.deepEqual(shape(scanned), shape(parseMime(buf)));
  });
});

describe('decodedPartSource', () => {
  it('decodes base64 and quoted-printable across chunk boundaries exactly like decodeBody', async () => {
    const { decodeBody, decodedPartSource } = await import('./mime-parts.ts');
    const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 256));
    const b64 = data.toString('base64').replace(/.{76}/g, '$&\r\n');
    const qp = 'caf=C3=A9 =\r\nsoft break, '.repeat(20_000);
    for (const [enc, body] of [['base64', b64], ['quoted-printable', qp]] as const) {
      const msg = Buffer.from(`Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Transfer-Encoding: ${enc}\r\n\r\n${body}\r\n--q--\r\n`, 'latin1');
      const part = parseMime(msg).children[0]!;
      const chunks: Buffer[] = [];
      for await (const c of decodedPartSource(bufferSource(msg), part).stream() as AsyncIterable<Buffer>) chunks.push(c);
      assert.ok(Buffer.concat(chunks).equals(decodeBody(msg, part)), enc);
    }
  });
});
