import { it } from 'node:test';
import assert from 'node:assert/strict';
import { trafficQuery } from './admin-server.ts';
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
