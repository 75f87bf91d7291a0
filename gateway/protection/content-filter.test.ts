import { it } from 'node:test';
import assert from 'node:assert/strict';
import { checkContent } from './content-filter.ts';
import { parseMime } from '../mime/mime-parts.ts';
import { bufferSource } from '../spool/incoming.ts';
import { makeZip } from '../../test/helpers/zip.ts';

const EXE = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(200, 1)]);
const filter = (o: Record<string, unknown> = {}) => ({
  enabled: true, action: 'Reject' as const, fileNames: ['*.exe'], fileTypes: ['executable' as const],
  archiveDepth: 3, archiveMaxBytes: 10 * 1024 * 1024, blockUnscannableArchives: true, ...o,
});

function message(name: string, data: Buffer): Buffer {
  const b64 = data.toString('base64').replace(/(.{76})/g, '$1\r\n');
  return Buffer.from(`Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/zip; name="${name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n--b--\r\n`, 'latin1');
}

async function reasons(name: string, data: Buffer, o: Record<string, unknown> = {}): Promise<string[]> {
  const buf = message(name, data);
  return (await checkContent(bufferSource(buf), parseMime(buf), filter(o))).reasons;
}

function nested(levels: number, inner: Buffer): Buffer {
  let z = inner;
  for (let i = 0; i < levels; i++) z = makeZip([[`level${i}.zip`, z]]);
  return z;
}

it('finds an executable inside nested archives within archiveDepth', async () => {
  const r = await reasons('a.zip', nested(2, makeZip([['tool.bin', EXE]])));
  assert.ok(r.some((x) => /true type executable/.test(x)), r.join('; '));
});

it('an archive nested deeper than archiveDepth is a finding, not a way past the filter', async () => {
  const r = await reasons('deep.zip', nested(5, makeZip([['tool.bin', EXE]])));
  assert.ok(r.some((x) => /nested deeper than archiveDepth \(3\), not inspected/.test(x)), r.join('; '));
  assert.deepEqual(await reasons('deep.zip', nested(5, makeZip([['tool.bin', EXE]])), { blockUnscannableArchives: false }), []);
});

it('a damaged archive is a finding', async () => {
  const r = await reasons('broken.zip', Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(5000, 0xff)]));
  assert.ok(r.some((x) => /damaged archive/.test(x)), r.join('; '));
  assert.deepEqual(await reasons('broken.zip', Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(5000, 0xff)]), { blockUnscannableArchives: false }), []);
});

it('an encrypted entry is a finding, and its name is still checked against the masks', async () => {
  const r = await reasons('secret.zip', makeZip([['readme.txt', 'hello'], ['invoice.exe', EXE, false, true]]));
  assert.ok(r.some((x) => /encrypted archive entry "invoice\.exe"/.test(x)), r.join('; '));
  assert.ok(r.some((x) => /invoice\.exe: file name "invoice\.exe" matches a blocked mask/.test(x)), r.join('; '));
  const allowed = await reasons('secret.zip', makeZip([['notes.txt', 'x', false, true]]), { blockUnscannableArchives: false });
  assert.deepEqual(allowed, []);
});

it('archiveDepth 0 opens no archive and flags none for it, but still knows a zip by its type', async () => {
  assert.deepEqual(await reasons('a.zip', makeZip([['tool.bin', EXE]]), { archiveDepth: 0 }), []);
  assert.deepEqual(await reasons('a.zip', makeZip([['tool.bin', EXE]]), { archiveDepth: 0, fileTypes: ['archive'] }), ['a.zip: true type archive (named "a.zip")']);
});

it('an archive that cannot be looked into is still matched by its type', async () => {
  const r = await reasons('deep.zip', nested(5, makeZip([['tool.bin', EXE]])), { fileTypes: ['archive'], blockUnscannableArchives: false });
  assert.ok(r.includes('deep.zip: true type archive (named "deep.zip")'), r.join('; '));
});

it('a clean archive passes', async () => {
  assert.deepEqual(await reasons('docs.zip', makeZip([['a.txt', 'plain text'], ['b.txt', 'more']])), []);
});

/** A tar archive made with tar-stream's packer (a maintained implementation of the format). */
async function makeTar(files: [string, Buffer][]): Promise<Buffer> {
  const { pack } = await import('tar-stream');
  const p = pack();
  for (const [name, data] of files) p.entry({ name, size: data.length }, data);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

it('opens tar, gzip and tar.gz: names and true types inside are found', async () => {
  const { gzipSync } = await import('node:zlib');
  const tar = await makeTar([['docs/readme.txt', Buffer.from('hi')], ['docs/setup.bin', EXE]]);
  assert.ok((await reasons('docs.tar', tar)).some((x) => /docs\.tar\/docs\/setup\.bin: true type executable/.test(x)));
  assert.ok((await reasons('tool.exe.gz', gzipSync(Buffer.from('plain text')))).some((x) => /file name "tool\.exe" matches a blocked mask/.test(x)), 'the name inside a .gz is the name without .gz');
  const r = await reasons('docs.tar.gz', gzipSync(await makeTar([['a/run.exe', Buffer.from('x')]])));
  assert.ok(r.some((x) => /docs\.tar\.gz\/docs\.tar\/a\/run\.exe: file name "run\.exe" matches a blocked mask/.test(x)), r.join('; '));
  assert.deepEqual(await reasons('clean.tgz', gzipSync(await makeTar([['notes.txt', Buffer.from('fine')]]))), []);
});

it('a gzip bomb is a finding in bounded memory', async () => {
  const { gzipSync } = await import('node:zlib');
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
  const r = await reasons('zeros.gz', bomb, { archiveMaxBytes: 1024 * 1024 });
  assert.ok(r.some((x) => /exceeds the inspection limits/.test(x)), r.join('; '));
});

it('7z and rar are recognised and count as unscannable (unless blockUnscannableArchives is off)', async () => {
  const sevenZip = Buffer.concat([Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0x00, 0x04]), Buffer.alloc(100)]);
  const rar = Buffer.concat([Buffer.from('Rar!\x1a\x07\x01\x00', 'latin1'), Buffer.alloc(100)]);
  assert.ok((await reasons('a.7z', sevenZip)).some((x) => /a\.7z: 7z archive \(recognised, cannot be opened here\), not inspected/.test(x)));
  assert.ok((await reasons('b.rar', rar)).some((x) => /b\.rar: rar archive/.test(x)));
  assert.deepEqual(await reasons('a.7z', sevenZip, { blockUnscannableArchives: false }), []);
});
