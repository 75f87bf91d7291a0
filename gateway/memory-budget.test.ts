import { it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBudget } from './memory-budget.ts';

it('grants within the limit, makes others wait, refuses after the wait, and wakes waiters in order', async () => {
  const seen: number[] = [];
  const b = new MemoryBudget(100, (used) => seen.push(used));
  const a = await b.acquire(60, 10);
  assert.ok(a);
  assert.equal(await b.acquire(60, 20), undefined, 'no room within the wait');
  const waiting = b.acquire(60, 1000);
  a();
  const c = await waiting;
  assert.ok(c, 'granted once the first released');
  assert.equal(b.used, 60);
  c();
  a(); // a second release changes nothing
  assert.equal(b.used, 0);
  assert.ok(Math.max(...seen) <= 100);
});

it('a piece larger than the whole budget runs alone rather than never', async () => {
  const b = new MemoryBudget(10);
  assert.equal(await b.run(50, async () => b.used), 10);
  assert.equal(b.used, 0);
});
