import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { GatewayConfig } from '../../api/index.ts';
import { DomainTable, type LocalDomainEntry } from '../tables/domain-table.ts';
import { routeFor } from './route-resolve.ts';

const domains = new DomainTable([
  { domain: 'example.com', includeSubdomains: true, routing: { host: '10.0.0.25', port: 2525, mxLookup: false }, source: 'LocalDomain/a' },
  { domain: 'dns.example', includeSubdomains: false, source: 'LocalDomain/b' },
] as unknown as LocalDomainEntry[]);
const outbound = { mode: 'Attempt' as const };
const direct = { relayHost: undefined, transports: [], tls: { outbound } } as unknown as GatewayConfig;
const behindEdge = { relayHost: { host: 'edge.example', port: 25, mxLookup: true }, transports: [], tls: { outbound } } as unknown as GatewayConfig;

it('a LocalDomain\'s routing first (its subdomains too), then the relay host, then the MX', () => {
  assert.deepEqual(routeFor('mx.example.com', direct, domains), { kind: 'hop', key: 'routing:[10.0.0.25]:2525', hops: [{ host: '10.0.0.25', port: 2525, mxLookup: false }], via: 'routing', tls: outbound });
  assert.equal(routeFor('dns.example', behindEdge, domains).key, 'relay:edge.example:25', 'a LocalDomain without routing goes where all other mail goes');
  assert.deepEqual(routeFor('dns.example', direct, domains), { kind: 'mx', key: 'mx:dns.example', domain: 'dns.example', tls: outbound });
  assert.deepEqual(routeFor('partner.test', direct, domains), { kind: 'mx', key: 'mx:partner.test', domain: 'partner.test', tls: outbound });
});

it('address literals go to the address (or the relay host); the same next hop is the same key', () => {
  assert.deepEqual(routeFor('[IPv6:2001:db8::1]', direct, domains), { kind: 'literal', key: 'literal:2001:db8::1', address: '2001:db8::1', tls: outbound });
  assert.deepEqual(routeFor('[192.0.2.1]', direct, domains), { kind: 'literal', key: 'literal:192.0.2.1', address: '192.0.2.1', tls: outbound });
  assert.equal(routeFor('[192.0.2.1]', behindEdge, domains).key, 'relay:edge.example:25');
  assert.equal(routeFor('a.example.com', direct, domains).key, routeFor('b.example.com', direct, domains).key);
});

it('transports carry any domain (exact first, then the nearest parent with includeSubdomains) before the relay host, after a LocalDomain\'s routing', () => {
  const verify = { mode: 'Verify' as const, caFile: '/s/partner-ca/ca.crt' };
  const auth = { usernameFile: '/s/a/username', passwordFile: '/s/a/password' };
  const hops = [{ host: 'mx1.partner.test', port: 25, mxLookup: false }, { host: 'mx2.partner.test', port: 2525, mxLookup: false }];
  const cfg = {
    ...behindEdge,
    transports: [
      { name: 'partner', domains: ['partner.test'], includeSubdomains: true, route: { hops, tls: verify, auth } },
      { name: 'exact-sub', domains: ['eu.partner.test'], includeSubdomains: false, route: { hops: [{ host: '192.0.2.7', port: 25, mxLookup: false }] } },
      { name: 'shadow', domains: ['example.com'], includeSubdomains: true, route: { hops: [{ host: '192.0.2.9', port: 25, mxLookup: false }] } },
    ],
    relay: { hops: [{ host: 'edge.example', port: 25, mxLookup: true }, { host: '192.0.2.99', port: 25, mxLookup: false }] },
  } as unknown as GatewayConfig;
  const p = routeFor('partner.test', cfg, domains);
  assert.deepEqual([p.kind, p.kind === 'hop' && p.via, p.kind === 'hop' && p.transport, p.tls, p.auth], ['hop', 'transport', 'partner', verify, auth]);
  assert.equal(p.kind === 'hop' && p.hops.length, 2, 'fallback hosts in order');
  assert.equal((routeFor('a.b.partner.test', cfg, domains) as { transport?: string }).transport, 'partner');
  assert.equal((routeFor('eu.partner.test', cfg, domains) as { transport?: string }).transport, 'exact-sub');
  assert.equal((routeFor('eu.partner.test', cfg, domains) as { tls: unknown }).tls, outbound, 'no policy of its own: tls.outbound');
  assert.equal(routeFor('mx.example.com', cfg, domains).key, 'routing:[10.0.0.25]:2525', 'a LocalDomain\'s routing comes first');
  assert.equal(routeFor('elsewhere.test', cfg, domains).key, 'relay:edge.example:25,[192.0.2.99]:25', 'the relay host, then its fallbacks');
  assert.notEqual(routeFor('partner.test', cfg, domains).key, routeFor('eu.partner.test', cfg, domains).key);
});
