import { it } from 'node:test';
import assert from 'node:assert/strict';
import { podStatus } from './pod-admin.ts';

const worker = (index: number, deferred: number, oldest: number, generation: number, ready = 'ready') => ({
  index, status: 200,
  body: { hostname: 'mx.example', ready, queue: { byState: { active: 1, deferred }, oldestSeconds: oldest }, memoryBudget: { used: 10, limit: 100 }, configGeneration: generation, trafficLog: index === 1 },
});

it('podStatus: queue and memory added up, the oldest age and the least config generation, ready only when every worker is', () => {
  const s = podStatus([worker(0, 2, 30, 3), worker(1, 5, 90, 2)]);
  assert.deepEqual(s.queue, { byState: { active: 2, deferred: 7 }, oldestSeconds: 90 });
  assert.deepEqual(s.memoryBudget, { used: 20, limit: 200 });
  assert.equal(s.configGeneration, 2, 'a worker that has not applied the newest config yet');
  assert.equal(s.ready, 'ready');
  assert.equal(s.trafficLog, true);
  assert.equal(s.hostname, 'mx.example');
  assert.equal((s.workers as unknown[]).length, 2);
});

it('podStatus: a worker not ready, or not answering, makes the pod not ready and is named', () => {
  assert.equal(podStatus([worker(0, 0, 0, 1), worker(1, 0, 0, 1, 'spool not writable')]).ready, 'worker 1: spool not writable');
  const down = podStatus([worker(0, 1, 5, 1), { index: 1, status: 503, body: { error: 'worker 1 is not running' } }]);
  assert.equal(down.ready, 'worker 1: worker 1 is not running');
  assert.deepEqual(down.queue, { byState: { active: 1, deferred: 1 }, oldestSeconds: 5 }, 'what the answering workers hold');
});
