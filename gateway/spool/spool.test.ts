import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool } from './spool.ts';
import { segmentName } from './spool-log.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'mailgw-spool-'));
const envelope = (id: string) => ({
  id, receivedAt: new Date(0).toISOString(), sessionId: 's', client: { address: '127.0.0.1', port: 1, helo: 'h', tls: false },
  mailFrom: 'a@b.test', mailParams: {}, rcptTo: [{ address: 'u@example.com', domain: 'example.com', route: 'local' as const }],
});

async function store(spool: Spool, id: string, parts: string[]): Promise<void> {
  const w = spool.begin(id);
  for (const p of parts) await w.write(Buffer.from(p));
  await w.commit(envelope(id));
}

describe('spool', () => {
  it('stores, recovers after reopening, and reads back byte-identical (chunks across records)', async () => {
    const d = dir();
    const s1 = await Spool.open(d, { chunkSize: 8 });
    await store(s1, 'AAAAAAAAAAAAAAA1', ['hello ', 'world, ', 'this spans several chunk records']);
    await store(s1, 'AAAAAAAAAAAAAAA2', ['second']);
    await s1.close();
    const s2 = await Spool.open(d);
    assert.equal(s2.size, 2);
    assert.equal((await s2.read('AAAAAAAAAAAAAAA1')).toString(), 'hello world, this spans several chunk records');
    assert.deepEqual(s2.get('AAAAAAAAAAAAAAA2')?.envelope.rcptTo[0]?.domain, 'example.com');
    await s2.close();
  });

  it('concurrent commits share fsyncs and all succeed', async () => {
    const s = await Spool.open(dir());
    await Promise.all(Array.from({ length: 50 }, (_, i) => store(s, `C${String(i).padStart(15, '0')}`, [`message ${i}`])));
    assert.equal(s.size, 50);
    await s.close();
  });

  it('ignores a torn tail and an uncommitted message, moving their bytes aside', async () => {
    const d = dir();
    const s1 = await Spool.open(d);
    await store(s1, 'GOOD000000000001', ['kept']);
    const w = s1.begin('HALF000000000001');
    await w.write(Buffer.alloc(70 * 1024, 'h')); // flushed as a CHUNK, never committed
    await store(s1, 'GOOD000000000002', ['also kept']);
    await s1.close();
    const seg = join(d, 'segments', segmentName(1));
    appendFileSync(seg, Buffer.from('MGW1\x02\x10\x00\x00\x00\x00\x00\x50garbage-torn-record'));
    const s2 = await Spool.open(d);
    assert.deepEqual([...s2.messages()].map((m) => m.id).sort(), ['GOOD000000000001', 'GOOD000000000002']);
    assert.equal(s2.recovery.partials.length, 1);
    assert.equal(s2.recovery.damagedRanges.length, 1);
    const corrupt = readdirSync(join(d, 'corrupt'));
    assert.ok(corrupt.includes('HALF000000000001.partial.eml'));
    assert.equal(statSync(join(d, 'corrupt', 'HALF000000000001.partial.eml')).size, 70 * 1024);
    assert.ok(corrupt.some((f) => f.startsWith('seg-1-')));
    await s2.close();
  });

  it('drops a message whose data does not match its COMMIT (truncated inside the message)', async () => {
    const d = dir();
    const s1 = await Spool.open(d, { chunkSize: 4 });
    await store(s1, 'FIRST00000000001', ['abcdefgh']);
    await s1.close();
    const seg = join(d, 'segments', segmentName(1));
    const size = readFileSync(seg).length;
    truncateSync(seg, size - 3);
    const s2 = await Spool.open(d);
    assert.equal(s2.size, 0);
    assert.equal(s2.recovery.damagedRanges.length, 1);
    await s2.close();
  });

  it('remove() is durable and segments with nothing live are collected in order', async () => {
    const d = dir();
    const s1 = await Spool.open(d);
    await store(s1, 'R000000000000001', ['one']);
    await store(s1, 'R000000000000002', ['two']);
    await s1.remove('R000000000000001');
    await s1.close();
    const s2 = await Spool.open(d);
    assert.deepEqual([...s2.messages()].map((m) => m.id), ['R000000000000002']);
    await s2.remove('R000000000000002');
    await s2.close();
    const s3 = await Spool.open(d);
    assert.equal(s3.size, 0);
    await store(s3, 'R000000000000003', ['three']);
    assert.deepEqual(readdirSync(join(d, 'segments')), [segmentName(3)], 'segments 1 and 2 held nothing live and were deleted');
    await s3.close();
  });
});
