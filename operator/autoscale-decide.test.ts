import { it } from 'node:test';
import assert from 'node:assert/strict';
import { decide, prune, recommend, type AutoscaleSpec, type Recommendation } from './autoscale-decide.ts';

const spec: AutoscaleSpec = { minReplicas: 1, maxReplicas: 4, targetQueueAgeMs: 10_000, targetCPUUtilization: 70, scaleUpStabilizationMs: 30_000, scaleDownStabilizationMs: 300_000 };
const idle = { backlogSeconds: 0, cpuUtilization: 5, connections: 0, queued: 0, sampledPods: 2 };

it('recommend: backlog over its target scales in proportion (at most doubling), CPU like the HPA, within min and max', () => {
  assert.equal(recommend(2, { ...idle, backlogSeconds: 15 }, spec, 0).replicas, 3);
  assert.equal(recommend(2, { ...idle, backlogSeconds: 100 }, spec, 0).replicas, 4, 'doubling at most, then maxReplicas');
  assert.match(recommend(3, { ...idle, backlogSeconds: 100 }, spec, 0).reason, /^backlog 100\.0 s \(target 10 s\).*\(maxReplicas 4\)$/);
  assert.equal(recommend(2, { ...idle, cpuUtilization: 140 }, spec, 0).replicas, 4);
  assert.equal(recommend(2, { ...idle, cpuUtilization: 75 }, spec, 0).replicas, 2, 'within the 10 % tolerance');
  assert.equal(recommend(3, idle, spec, 0).replicas, 1, 'idle: down to minReplicas');
  assert.equal(recommend(2, { ...idle, cpuUtilization: undefined }, spec, 0).replicas, 1, 'no CPU yet and no backlog: no reason for more');
});

it('decide: up only after the load asked for it through the window, to the least it asked', () => {
  const up = (at: number, replicas: number): Recommendation => ({ at, replicas, reason: 'busy' });
  assert.equal(decide(2, [up(0, 4)], undefined, true, spec, 0).changed, false, 'the window is not covered yet');
  assert.deepEqual(decide(2, [up(0, 4), up(15_000, 3), up(30_000, 4)], undefined, true, spec, 30_000).replicas, 3);
  assert.equal(decide(2, [up(0, 4), up(15_000, 2), up(30_000, 4)], undefined, true, spec, 30_000).changed, false, 'one sample in the window did not ask');
  assert.equal(decide(2, [up(0, 4), up(30_000, 4)], 10_000, true, spec, 30_000).changed, false, 'too soon after the last change');
  assert.equal(decide(2, [up(0, 3)], undefined, true, { ...spec, scaleUpStabilizationMs: 0 }, 0).replicas, 3, 'no window: at once');
});

it('decide: down one pod at a time, after the whole window asked for fewer and the last change settled', () => {
  const down = (at: number): Recommendation => ({ at, replicas: 1, reason: 'idle' });
  const h = [down(0), down(150_000), down(300_000)];
  assert.deepEqual(decide(4, h, undefined, true, spec, 300_000), { replicas: 3, changed: true, reason: 'scaled down by one: idle' });
  assert.equal(decide(4, h, undefined, false, spec, 300_000).changed, false, 'a retiring pod still hands its queue over');
  assert.equal(decide(4, h.slice(1), undefined, true, spec, 300_000).changed, false, 'the window is not covered');
  assert.equal(decide(4, [down(0), { at: 100_000, replicas: 4, reason: 'busy' }, down(300_000)], undefined, true, spec, 300_000).changed, false);
  assert.equal(decide(4, h, 100_000, true, spec, 300_000).changed, false, 'too soon after the last change');
  assert.equal(decide(2, [{ at: 0, replicas: 2, reason: 'ok' }], undefined, true, spec, 0).reason, 'steady: ok');
  assert.deepEqual(decide(6, h, undefined, true, spec, 300_000).replicas, 4, 'above maxReplicas (the spec changed): to the bound at once');
});

it('prune: keeps the longer window and one sample before it', () => {
  const h = [0, 100_000, 200_000, 400_000, 500_000].map((at) => ({ at, replicas: 1, reason: '' }));
  assert.deepEqual(prune(h, spec, 500_000).map((r) => r.at), [100_000, 200_000, 400_000, 500_000]);
});
