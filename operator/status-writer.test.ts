import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { StatusWriter } from './status-writer.ts';

describe('status writer', () => {
  it('writes a few at a time, the newest status per object, and drains', async () => {
    let inFlight = 0;
    let most = 0;
    const written: string[] = [];
    const w = new StatusWriter(async (plural, ns, name, status) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 2));
      written.push(`${name}=${String(status.v)}`);
      inFlight--;
    }, pino({ level: 'silent' }), 3);
    for (let i = 0; i < 20; i++) w.enqueue('localdomains', 'mail', `d${i}`, { v: 1 }, undefined);
    // Queued again before their turn: only the newest is written.
    for (let i = 10; i < 20; i++) w.enqueue('localdomains', 'mail', `d${i}`, { v: 2 }, undefined);
    await w.drained();
    assert.equal(most, 3);
    assert.equal(written.length, 20);
    assert.ok(written.filter((x) => x.startsWith('d1') && x.length === 5).every((x) => x.endsWith('=2')), written.join(' '));
    assert.equal(w.depth, 0);
  });

  it('a failed write is dropped (the next reconcile asks again), the others go on', async () => {
    const written: string[] = [];
    const w = new StatusWriter(async (_p, _n, name) => {
      if (name === 'bad') throw Object.assign(new Error('conflict'), { code: 409 });
      written.push(name);
    }, pino({ level: 'silent' }), 2);
    for (const n of ['a', 'bad', 'b']) w.enqueue('localdomains', 'mail', n, {}, undefined);
    await w.drained();
    assert.deepEqual(written.sort(), ['a', 'b']);
  });
});
