import { it } from 'node:test';
import assert from 'node:assert/strict';
import { DomainTable, type LocalDomainEntry } from '../tables/domain-table.ts';
import { isReply, parseMailbox, type ParsedAddress } from './rcpt-address.ts';
import { decideRelay } from './relay-check.ts';

const domains = new DomainTable([
  { domain: 'example.com', includeSubdomains: false, source: 'LocalDomain/a' },
  { domain: 'corp.example', includeSubdomains: true, source: 'LocalDomain/b' },
] as unknown as LocalDomainEntry[]);
const rcpt = (a: string) => parseMailbox(a, false) as ParsedAddress;
const decide = (a: string, trusted: boolean) => {
  const d = decideRelay(rcpt(a), trusted, domains);
  return isReply(d) ? `${d.responseCode} ${d.enhanced}` : d.route;
};

it('local domains from anyone, the rest only for trusted networks, 554 5.7.1 otherwise', () => {
  assert.equal(decide('a@example.com', false), 'local');
  assert.equal(decide('a@mx.corp.example', false), 'local');
  assert.equal(decide('a@mail.example.com', false), '554 5.7.1', 'no subdomains without includeSubdomains');
  assert.equal(decide('a@elsewhere.test', false), '554 5.7.1');
  assert.equal(decide('a@elsewhere.test', true), 'relay');
});

it('an address literal is never local, even of a local address', () => {
  assert.equal(decide('a@[192.0.2.1]', false), '554 5.7.1');
  assert.equal(decide('a@[192.0.2.1]', true), 'relay');
});
