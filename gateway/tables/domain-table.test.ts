import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DomainTable, type LocalDomainEntry } from './domain-table.ts';

const entry = (domain: string, includeSubdomains = false) => ({ domain, includeSubdomains, routing: { host: '10.0.0.1', port: 25, mxLookup: false }, source: `LocalDomain/${domain}` }) as unknown as LocalDomainEntry;

describe('domain table', () => {
  it('exact domains, and subdomains only where includeSubdomains says so, by whole labels', () => {
    const t = new DomainTable([entry('example.com'), entry('corp.example', true)]);
    assert.equal(t.lookup('example.com')?.domain, 'example.com');
    assert.equal(t.lookup('mail.example.com'), undefined, 'no subdomains without includeSubdomains');
    assert.equal(t.lookup('a.b.corp.example')?.domain, 'corp.example');
    assert.equal(t.lookup('corp.example')?.domain, 'corp.example');
    assert.equal(t.lookup('evilcorp.example'), undefined, 'a suffix is not a parent domain');
    assert.equal(t.lookup('example'), undefined);
  });

  it('the nearest parent wins; the first of a duplicate is kept', () => {
    const t = new DomainTable([entry('corp.example', true), entry('eu.corp.example', true), entry('eu.corp.example')]);
    assert.equal(t.lookup('mx.eu.corp.example')?.source, 'LocalDomain/eu.corp.example');
    assert.equal(t.size, 2);
  });

  it('100,000 domains: any of them, and a subdomain of the last, found by a probe per label', () => {
    const entries = Array.from({ length: 100_000 }, (_, i) => entry(`customer${i}.example`, i === 99_999));
    const t = new DomainTable(entries);
    assert.equal(t.size, 100_000);
    assert.equal(t.lookup('customer99999.example')?.domain, 'customer99999.example');
    assert.equal(t.lookup('a.b.c.customer99999.example')?.domain, 'customer99999.example');
    assert.equal(t.lookup('a.customer99998.example'), undefined);
  });
});
