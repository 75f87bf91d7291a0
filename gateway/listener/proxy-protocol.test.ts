import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseProxyHeader, startsWithProxyHeader, V2_SIGNATURE } from './proxy-protocol.ts';

describe('PROXY header parsing', () => {
  it('v1 TCP4, TCP6 and UNKNOWN, keeping the bytes after the header', () => {
    const r = parseProxyHeader(Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.2 5000 25\r\nEHLO x\r\n'));
    assert.ok('header' in r);
    assert.deepEqual(r.header, { version: 1, proxied: true, remoteAddress: '192.0.2.1', remotePort: 5000, localAddress: '198.51.100.2', localPort: 25 });
    assert.equal(r.rest.toString(), 'EHLO x\r\n');
    const v6 = parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 5000 25\r\n'));
    assert.ok('header' in v6 && v6.header.remoteAddress === '2001:db8::1');
    const unknown = parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'));
    assert.ok('header' in unknown && unknown.header.proxied === false);
  });

  it('v1: waits for more bytes, refuses malformed and over-long headers', () => {
    assert.deepEqual(parseProxyHeader(Buffer.from('PROXY TCP4 192.0')), { more: true });
    for (const bad of ['PROXY TCP4 300.0.0.1 1.2.3.4 1 2\r\n', 'PROXY TCP4 1.2.3.4 1.2.3.4 99999 2\r\n', 'PROXY TCP5 a b 1 2\r\n', 'PROXY TCP4 ::1 ::1 1 2\r\n', `PROXY ${'x'.repeat(120)}`]) {
      assert.ok('error' in parseProxyHeader(Buffer.from(bad)), bad);
    }
    assert.ok('error' in parseProxyHeader(Buffer.from('EHLO x\r\n')));
  });

  it('v2 PROXY over IPv4 and IPv6, LOCAL, TLVs skipped', () => {
    const v4 = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0, 15, 192, 0, 2, 1, 10, 0, 0, 1, 0x13, 0x88, 0, 25, 0x04, 0, 0]), Buffer.from('EHLO')]);
    const r = parseProxyHeader(v4);
    assert.ok('header' in r);
    assert.deepEqual(r.header, { version: 2, proxied: true, remoteAddress: '192.0.2.1', localAddress: '10.0.0.1', remotePort: 5000, localPort: 25 });
    assert.equal(r.rest.toString(), 'EHLO');
    const addr6 = Buffer.alloc(36);
    addr6[0] = 0x20; addr6[1] = 0x01; addr6[2] = 0x0d; addr6[3] = 0xb8; addr6[15] = 1;
    addr6.writeUInt16BE(6000, 32);
    const r6 = parseProxyHeader(Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x21, 0, 36]), addr6]));
    assert.ok('header' in r6 && r6.header.remoteAddress === '2001:db8::1' && r6.header.remotePort === 6000);
    const local = parseProxyHeader(Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0, 0])]));
    assert.ok('header' in local && local.header.proxied === false);
    assert.ok('error' in parseProxyHeader(Buffer.concat([V2_SIGNATURE, Buffer.from([0x31, 0x11, 0, 0])])));
    assert.ok('error' in parseProxyHeader(Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0, 4, 1, 2, 3, 4])])));
  });

  it('recognises a header at the start of a client stream', () => {
    assert.ok(startsWithProxyHeader(Buffer.from('PROXY TCP4 ...')));
    assert.ok(startsWithProxyHeader(Buffer.concat([V2_SIGNATURE, Buffer.from([0x21])])));
    assert.ok(!startsWithProxyHeader(Buffer.from('EHLO proxy.test\r\n')));
  });
});
