import { it } from 'node:test';
import assert from 'node:assert/strict';
import { isReply, parseMailbox } from './rcpt-address.ts';

const code = (r: unknown) => (isReply(r) ? `${r.responseCode} ${r.enhanced}` : 'ok');

it('dot-atoms and quoted local parts; the domain as a lower-case A-label', () => {
  assert.deepEqual(parseMailbox('Alice.B@Example.COM', false), { localPart: 'Alice.B', domain: 'example.com', literal: false, address: 'Alice.B@example.com' });
  assert.equal((parseMailbox('"a b"@example.com', false) as { localPart: string }).localPart, '"a b"');
  assert.equal((parseMailbox('x@bücher.example', false) as { domain: string }).domain, 'xn--bcher-kva.example');
});

it('address literals, IPv4 and IPv6 (normalized)', () => {
  assert.deepEqual(parseMailbox('x@[192.0.2.1]', false), { localPart: 'x', domain: '[192.0.2.1]', literal: true, address: 'x@[192.0.2.1]' });
  assert.equal((parseMailbox('x@[IPv6:2001:DB8:0::1]', false) as { domain: string }).domain, '[IPv6:2001:db8::1]');
  assert.equal(code(parseMailbox('x@[300.1.1.1]', false)), '501 5.1.3');
  assert.equal(code(parseMailbox('x@[192.0.2.1', false)), '501 5.1.3');
});

it('routing characters, bad syntax and non-ASCII without SMTPUTF8 are refused with their own codes', () => {
  for (const a of ['a%b@example.com', 'a!b@example.com', '"a@b"@example.com']) assert.equal(code(parseMailbox(a, false)), '553 5.1.3', a);
  for (const a of ['@example.com', 'a@', 'a..b@example.com', 'a b@example.com', 'a@exa mple.com', 'a\uFFFD@example.com']) assert.equal(code(parseMailbox(a, false)), '501 5.1.3', a);
  assert.equal(code(parseMailbox('jörg@example.com', false)), '553 5.6.7');
  assert.equal(code(parseMailbox('jörg@example.com', true)), 'ok');
});
