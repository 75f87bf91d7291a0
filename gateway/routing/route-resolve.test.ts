import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { GatewayConfig } from '../../api/index.ts';
import { DomainTable, type LocalDomainEntry } from '../tables/domain-table.ts';
import { routeFor } from './route-resolve.ts';

const domains = new DomainTable([
  { domain: 'example.com', includeSubdomains: true, routing: { host: '10.0.0.25', port: 2525, mxLookup: false }, source: 'LocalDomain/a' },
  { domain: 'dns.example', includeSubdomains: false, source: 'LocalDomain/b' },
] as unknown as LocalDomainEntry[]);
const direct = { relayHost: undefined } as unknown as GatewayConfig;
const behindEdge = { relayHost: { host: 'edge.example', port: 25, mxLookup: true } } as unknown as GatewayConfig;

it('a LocalDomain\'s routing first (its subdomains too), then the relay host, then the MX', () => {
  assert.deepEqual(routeFor('mx.example.com', direct, domains), { kind: 'hop', key: 'routing:[10.0.0.25]:2525', hop: { host: '10.0.0.25', port: 2525, mxLookup: false }, via: 'routing' });
  assert.equal(routeFor('dns.example', behindEdge, domains).key, 'relay:edge.example:25', 'a LocalDomain without routing goes where all other mail goes');
  assert.deepEqual(routeFor('dns.example', direct, domains), { kind: 'mx', key: 'mx:dns.example', domain: 'dns.example' });
  assert.deepEqual(routeFor('partner.test', direct, domains), { kind: 'mx', key: 'mx:partner.test', domain: 'partner.test' });
});

it('address literals go to the address (or the relay host); the same next hop is the same key', () => {
  assert.deepEqual(routeFor('[IPv6:2001:db8::1]', direct, domains), { kind: 'literal', key: 'literal:2001:db8::1', address: '2001:db8::1' });
  assert.deepEqual(routeFor('[192.0.2.1]', direct, domains), { kind: 'literal', key: 'literal:192.0.2.1', address: '192.0.2.1' });
  assert.equal(routeFor('[192.0.2.1]', behindEdge, domains).key, 'relay:edge.example:25');
  assert.equal(routeFor('a.example.com', direct, domains).key, routeFor('b.example.com', direct, domains).key);
});
