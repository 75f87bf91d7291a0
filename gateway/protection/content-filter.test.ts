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
