import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from './work-queue.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('work queue', () => {
  it('coalesces a key added while it runs into one more run', async () => {
    const runs: string[] = [];
    const q = new WorkQueue(async (k) => {
      runs.push(k);
      await sleep(20);
    });
    q.add('a');
    await sleep(5);
    q.add('a');
    q.add('a');
    await sleep(80);
    await q.idle();
    assert.deepEqual(runs, ['a', 'a']);
    q.stop();
  });

  it('addSettled: a burst becomes one run after it settles; a long burst runs by the max wait', async () => {
    const runs: number[] = [];
    const q = new WorkQueue(async () => {
      runs.push(Date.now());
    });
    const start = Date.now();
    for (let i = 0; i < 10; i++) {
      q.addSettled('gw', 40, 10_000);
      await sleep(5);
    }
    await sleep(120);
    assert.equal(runs.length, 1, 'one run for the burst');
    assert.ok(runs[0]! - start >= 40 + 45, 'after the burst went quiet');
    // Calls every 20 ms for 300 ms with a 100 ms cap: runs while the burst goes on.
    runs.length = 0;
    for (let i = 0; i < 15; i++) {
      q.addSettled('gw', 40, 100);
      await sleep(20);
    }
    await sleep(120);
    assert.ok(runs.length >= 2, `${runs.length} runs: the cap bounds the delay`);
    q.stop();
  });
});

describe('work queue, paused', () => {
  it('holds every key until resume', async () => {
    const runs: string[] = [];
    const q = new WorkQueue(async (k) => {
      runs.push(k);
    }, { paused: true });
    q.add('a');
    q.add('b');
    await sleep(20);
    assert.deepEqual(runs, []);
    q.resume();
    await q.idle();
    assert.deepEqual(runs.sort(), ['a', 'b']);
    q.stop();
  });
});
