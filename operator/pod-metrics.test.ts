import { it } from 'node:test';
import assert from 'node:assert/strict';
import { cpuCores, parseReading } from './pod-metrics.ts';
import { GatewayMetrics } from '../gateway/metrics.ts';

it('parseReading: the signals summed over labels; the supervisor\'s CPU counted with its workers\'', () => {
  // The names a gateway exports (prom-client's default metrics under the gateway's prefix), not a copy of them.
  const exported = new GatewayMetrics().registry.getMetricsAsArray().map((m) => m.name);
  for (const n of ['mailgw_gateway_process_process_cpu_seconds_total', 'mailgw_gateway_queue_backlog_seconds', 'mailgw_gateway_connections_open', 'mailgw_gateway_queue_messages']) assert.ok(exported.includes(n), n);
  const text = [
    '# HELP mailgw_gateway_queue_backlog_seconds x', '# TYPE mailgw_gateway_queue_backlog_seconds gauge',
    'mailgw_gateway_queue_backlog_seconds 12.5',
    'mailgw_gateway_process_process_cpu_seconds_total 3.25',
    'mailgw_gateway_supervisor_process_process_cpu_seconds_total 0.75',
    'mailgw_gateway_connections_open 7',
    'mailgw_gateway_queue_messages{state="active"} 2', 'mailgw_gateway_queue_messages{state="deferred"} 5',
    'mailgw_gateway_queue_messages_other 100',
  ].join('\n');
  assert.deepEqual(parseReading(text), { backlogSeconds: 12.5, cpuSeconds: 4, connections: 7, queued: 7 });
  assert.equal(parseReading('up 1\n'), undefined, 'not a gateway');
});

it('cpuCores: millicores and cores; nonsense is no answer', () => {
  assert.equal(cpuCores('500m'), 0.5);
  assert.equal(cpuCores('2'), 2);
  assert.equal(cpuCores('1.5'), 1.5);
  assert.equal(cpuCores(undefined), undefined);
  assert.equal(cpuCores('lots'), undefined);
  assert.equal(cpuCores('0'), undefined);
});
