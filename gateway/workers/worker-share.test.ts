import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { GatewayConfig } from '../../api/index.ts';
import { workerShare } from './worker-share.ts';

const config = { hostname: 'mx.example', limits: { connectionsTotal: 10_000, memoryBudget: 256 * 1024 * 1024, connectionsPerClient: 50 } } as unknown as GatewayConfig;

it('workerShare: each of N workers gets 1/N of the pod-wide limits; per-client limits and the rest as they are', () => {
  assert.equal(workerShare(config, 1), config);
  const half = workerShare(config, 2);
  assert.equal(half.limits.connectionsTotal, 5000);
  assert.equal(half.limits.memoryBudget, 128 * 1024 * 1024);
  assert.equal(half.limits.connectionsPerClient, 50);
  assert.equal(half.hostname, 'mx.example');
  assert.equal(config.limits.connectionsTotal, 10_000, 'the pod config is not changed');
  const thirds = workerShare({ ...config, limits: { ...config.limits, connectionsTotal: 10 } }, 3);
  assert.equal(thirds.limits.connectionsTotal, 4, 'rounded up: the pod may hold one or two more, never none');
  assert.equal(workerShare({ ...config, limits: { ...config.limits, connectionsTotal: 0 } }, 4).limits.connectionsTotal, 0, '0 stays unlimited');
});
