import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildEnvelope, domainOf, recipientOf } from './envelope-build.ts';
import { DomainTable } from '../tables/domain-table.ts';

describe('envelope builder', () => {
  it('takes the domain as a lower-case A-label', () => {
    assert.equal(domainOf('User@Example.COM'), 'example.com');
    assert.equal(domainOf('ana@bücher.example'), 'xn--bcher-kva.example');
    assert.equal(domainOf('x@host.example.'), 'host.example');
  });

  it('routes an added recipient local or relay by the domain table', () => {
    const domains = new DomainTable([{ domain: 'corp.test', includeSubdomains: false }] as never);
    assert.deepEqual(recipientOf('a@CORP.test', domains), { address: 'a@CORP.test', domain: 'corp.test', route: 'local' });
    assert.equal(recipientOf('b@elsewhere.test', domains).route, 'relay');
  });

  it('stamps the arrival time and keeps hops only when known', () => {
    const at = new Date('2026-12-02T10:00:00Z');
    const e = buildEnvelope({ id: 'Q1', sessionId: 's', client: { address: '127.0.0.1', port: 0, helo: 'h', tls: false }, mailFrom: '', rcptTo: [], receivedAt: at });
    assert.equal(e.receivedAt, '2026-12-02T10:00:00.000Z');
    assert.deepEqual(e.mailParams, {});
    assert.equal('hops' in e, false);
    assert.equal(buildEnvelope({ ...e, receivedAt: at, hops: 3 }).hops, 3);
  });
});
