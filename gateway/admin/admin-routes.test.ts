import { it } from 'node:test';
import assert from 'node:assert/strict';
import { trafficQuery } from './admin-routes.ts';
import { TrafficQueryRefused } from '../traffic/traffic-log.ts';

it('trafficQuery: filters from URL parameters, times as ISO or milliseconds, bad ones refused by name', () => {
  assert.deepEqual(trafficQuery(new URLSearchParams('sender=*%40bank.test&status=failed&since=2026-12-08T09:00:00Z&until=1796720400000&limit=20&subject=')), {
    sender: '*@bank.test', status: 'failed', since: Date.parse('2026-12-08T09:00:00Z'), until: 1796720400000, limit: 20,
  });
  assert.throws(() => trafficQuery(new URLSearchParams('status=lost')), (e: Error) => e instanceof TrafficQueryRefused && /^status: one of/.test(e.message));
  assert.throws(() => trafficQuery(new URLSearchParams('since=yesterday')), /since: a time/);
  assert.throws(() => trafficQuery(new URLSearchParams('limit=-1')), /limit: a number/);
  assert.equal(trafficQuery(new URLSearchParams(`subject=${'w'.repeat(5000)}`)).subject!.length, 998);
});

it('permissionFor: view to look, operate for queue actions and deleting a backup, release to put a backup back; anything else is no request', async () => {
  const { permissionFor } = await import('./admin-routes.ts');
  const cases: [string, string, string | undefined][] = [
    ['GET', '/v1/traffic', 'view'], ['GET', '/v1/traffic/1M99PB361ACR0C32', 'view'], ['POST', '/v1/traffic', undefined],
    ['GET', '/v1/queue', 'view'], ['POST', '/v1/queue/flush', 'operate'], ['POST', '/v1/queue/ID/hold', 'operate'],
    ['POST', '/v1/queue/ID/release', 'operate'], ['POST', '/v1/queue/ID/flush', 'operate'], ['DELETE', '/v1/queue/ID', 'operate'],
    ['POST', '/v1/queue/ID/explode', undefined], ['GET', '/v1/queue/ID', undefined], ['DELETE', '/v1/queue', undefined],
    ['GET', '/v1/backup', 'view'], ['GET', '/v1/backup/ID', 'view'], ['POST', '/v1/backup/ID/release', 'release'],
    ['DELETE', '/v1/backup/ID', 'operate'], ['POST', '/v1/backup/ID', undefined], ['PUT', '/v1/queue/ID', undefined],
    ['GET', '/v1/status', 'view'], ['GET', '/v1/config', 'view'], ['POST', '/v1/config', undefined], ['GET', '/v1/status/x', undefined],
    ['GET', '/v2/queue', undefined], ['GET', '/v1/queue/a/b/c', undefined], ['GET', '/', undefined],
  ];
  for (const [method, path, want] of cases) assert.equal(permissionFor(method, path), want, `${method} ${path}`);
});
