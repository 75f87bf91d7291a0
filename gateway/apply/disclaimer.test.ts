import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { disclaimerWriter } from './disclaimer.ts';

async function run(message: string, d = { text: 'Vertraulich: Grüße aus der Buchhaltung.', html: '<p class="d">Vertraulich: Grüße</p>' }): Promise<{ raw: string; added: boolean }> {
  const out: Buffer[] = [];
  const w = disclaimerWriter(d, (b) => void out.push(b));
  // In small pieces, as the spool hands it over.
  const bytes = Buffer.from(message.replace(/\n/g, '\r\n'), 'latin1');
  for (let i = 0; i < bytes.length; i += 7) await w.write(bytes.subarray(i, i + 7));
  await w.end();
  return { raw: Buffer.concat(out).toString('latin1'), added: w.added };
}

describe('disclaimer', () => {
  it('appends to a single text/plain body, converting its charset to UTF-8', async () => {
    const { raw, added } = await run('Subject: s\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\nHall\xf6chen\n');
    assert.equal(added, true);
    const p = await simpleParser(Buffer.from(raw, 'latin1'));
    assert.equal(p.text?.trim(), 'Hallöchen\n\nVertraulich: Grüße aus der Buchhaltung.');
    assert.match(raw, /charset=utf-8/i);
    assert.match(raw, /Content-Transfer-Encoding: quoted-printable/i);
  });

  it('adds once to each of text and HTML in multipart/alternative, HTML before </body>, attachments untouched', async () => {
    const msg = ['Subject: s', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=M', '', '--M',
      'Content-Type: multipart/alternative; boundary=A', '', '--A', 'Content-Type: text/plain', '', 'plain body', '--A',
      'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: base64', '', Buffer.from('<html><body><p>html body</p></body></html>').toString('base64'), '--A--',
      '--M', 'Content-Type: text/plain; name=notes.txt', 'Content-Disposition: attachment; filename=notes.txt', '', 'attached text', '--M--', ''].join('\n');
    const { raw } = await run(msg);
    const p = await simpleParser(Buffer.from(raw, 'latin1'));
    assert.equal(p.text?.trim(), 'plain body\n\nVertraulich: Grüße aus der Buchhaltung.');
    assert.match(String(p.html), /<p>html body<\/p>\s*<p class="d">Vertraulich: Grüße<\/p>\s*<\/body><\/html>/);
    assert.equal(p.attachments.length, 1);
    assert.equal(p.attachments[0]!.content.toString(), 'attached text', 'an attachment is not a body');
    assert.equal(p.text?.match(/Vertraulich/g)?.length, 1, 'once in the text');
    assert.equal(String(p.html).match(/Vertraulich/g)?.length, 1, 'once in the HTML');
  });

  it('leaves a signed message alone, byte for byte', async () => {
    const msg = ['Subject: s', 'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary=S', '', '--S', 'Content-Type: text/plain', '', 'signed text', '--S',
      'Content-Type: application/pkcs7-signature', '', 'MIAGCSqGSIb3DQEHAqCAMIACAQEx', '--S--', ''].join('\n');
    const { raw, added } = await run(msg);
    assert.equal(added, false);
    assert.equal(raw, msg.replace(/\n/g, '\r\n'));
  });

  it('does not touch a text part of an attached message', async () => {
    const msg = ['Subject: s', 'Content-Type: multipart/mixed; boundary=M', '', '--M', 'Content-Type: message/rfc822', '', 'Subject: inner', 'Content-Type: text/plain', '', 'inner text', '--M--', ''].join('\n');
    const { raw, added } = await run(msg);
    assert.equal(added, false);
    assert.doesNotMatch(raw, /Vertraulich/);
  });
});
