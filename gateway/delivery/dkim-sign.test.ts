import { it } from 'node:test';
import assert from 'node:assert/strict';
import { fromDomain, keysFor } from './dkim-sign.ts';

it('takes the From: address\'s domain, with display names, comments and encoded words around it', () => {
  assert.equal(fromDomain(Buffer.from('Subject: x\r\nFrom: "Doe, John" <john@Mail.Corp.Example>\r\n\r\n')), 'mail.corp.example');
  assert.equal(fromDomain(Buffer.from('From: =?UTF-8?Q?J=C3=B6rg?= <j@corp.example>\r\n\r\n')), 'corp.example');
  assert.equal(fromDomain(Buffer.from('From: plain@corp.example\r\n\r\n')), 'corp.example');
  assert.equal(fromDomain(Buffer.from('Subject: no from\r\n\r\n')), undefined);
});

it('signs with the keys of the domain and of its parents, every selector of it', () => {
  const dkim = { headers: [], keys: [
    { domain: 'corp.example', selector: 'jan', keyFile: '/a', selectorFile: '/as' }, { domain: 'corp.example', selector: 'feb', keyFile: '/b', selectorFile: '/bs' },
    { domain: 'other.example', selector: 's', keyFile: '/c', selectorFile: '/cs' },
  ] };
  assert.deepEqual(keysFor(dkim, 'mail.corp.example').map((k) => k.selector), ['jan', 'feb']);
  assert.deepEqual(keysFor(dkim, 'corp.example').map((k) => k.selector), ['jan', 'feb']);
  assert.deepEqual(keysFor(dkim, 'evilcorp.example'), []);
  assert.deepEqual(keysFor(dkim, undefined), []);
});
