import { it } from 'node:test';
import assert from 'node:assert/strict';
import { receivedHeader } from './received-header.ts';

const base = { helo: 'mx.partner.test', clientHostname: 'mx.partner.test', clientAddress: '192.0.2.7', hostname: 'gw.example', qid: 'ABC123', esmtp: true, tls: false, utf8: false, date: new Date(Date.UTC(2026, 11, 2, 7, 5, 9)) };

it('Received: protocol names by RFC 3848 / 6531, the recipient only when there is one, IPv6 tagged', () => {
  assert.equal(receivedHeader(base), 'Received: from mx.partner.test (mx.partner.test [192.0.2.7])\r\n\tby gw.example (mailgw) with ESMTP id ABC123;\r\n\tWed, 2 Dec 2026 07:05:09 +0000\r\n');
  assert.match(receivedHeader({ ...base, tls: true }), / with ESMTPS id /);
  assert.match(receivedHeader({ ...base, esmtp: false }), / with SMTP id /);
  assert.match(receivedHeader({ ...base, utf8: true, tls: true }), / with UTF8SMTPS id /);
  assert.match(receivedHeader({ ...base, recipient: 'alice@example.com' }), /id ABC123\r\n\tfor <alice@example\.com>;\r\n/);
  assert.match(receivedHeader({ ...base, clientAddress: '2001:db8::7', clientHostname: '' }), /\(\[IPv6:2001:db8::7\]\)/);
  assert.match(receivedHeader({ ...base, clientHostname: 'rdns.partner.test' }), /\(rdns\.partner\.test \[192\.0\.2\.7\]\)/);
});

it('a hostile HELO cannot break the header: no spaces, controls, parentheses or backslashes, at most 255', () => {
  const h = receivedHeader({ ...base, helo: 'evil\r\nX-Injected: yes (x)\\' + 'a'.repeat(400) });
  assert.equal(h.split('\r\n').length, 4, 'three lines and the final CRLF');
  assert.doesNotMatch(h, /X-Injected: /);
  const from = /^Received: from (\S+) /.exec(h)![1]!;
  assert.ok(from.length <= 255);
  assert.equal(receivedHeader({ ...base, helo: '' }).startsWith('Received: from unknown '), true);
});
