import { it } from 'node:test';
import assert from 'node:assert/strict';
import { NetworkTable, normalizeClientAddress } from './network-table.ts';

it('matches IPv4, IPv6 and IPv4-mapped IPv6 clients against the right prefixes', () => {
  const t = new NetworkTable(['10.0.0.0/8', '192.0.2.7/32', '2001:db8::/32']);
  assert.ok(t.contains('10.1.2.3'));
  assert.ok(t.contains('::ffff:10.1.2.3'), 'IPv4-mapped matches the IPv4 prefix');
  assert.ok(t.contains('::FFFF:192.0.2.7'));
  assert.ok(!t.contains('11.0.0.1'));
  assert.ok(!t.contains('::ffff:11.0.0.1'));
  assert.ok(t.contains('2001:db8:1::5'));
  assert.ok(!t.contains('2001:db9::1'));
  assert.ok(!t.contains('garbage'));
  assert.equal(normalizeClientAddress('::ffff:127.0.0.2'), '127.0.0.2');
  assert.ok(!new NetworkTable([]).contains('127.0.0.1'), 'no trusted networks: nobody is trusted');
});
