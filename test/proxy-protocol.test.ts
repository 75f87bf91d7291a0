/**
 * PROXY protocol: honoured from a listed load balancer (v1 and v2, policy
 * applied to the address inside), refused from anyone else.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig, startGateway, type Running } from './helpers/config.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';
import { V2_SIGNATURE } from '../gateway/listener/proxy-protocol.ts';

const BALANCER = '127.0.0.10';

function v2Header(src: string, dst: string, sport: number, dport: number): Buffer {
  const body = Buffer.alloc(12);
  src.split('.').forEach((o, i) => body.writeUInt8(Number(o), i));
  dst.split('.').forEach((o, i) => body.writeUInt8(Number(o), 4 + i));
  body.writeUInt16BE(sport, 8);
  body.writeUInt16BE(dport, 10);
  const head = Buffer.from([0x21, 0x11, 0x00, 12]);
  return Buffer.concat([V2_SIGNATURE, head, body]);
}

describe('PROXY protocol', () => {
  let gw: Running;
  before(async () => {
    gw = await startGateway(buildConfig({
      spec: { integration: 'BehindEdgeGateway', proxyProtocol: { trustedLoadBalancers: [`${BALANCER}/32`] } },
      domains: ['example.com'],
      networks: ['10.20.0.0/16'],
    }));
  });
  after(() => gw.close());

  async function viaBalancer(header: string | Buffer): Promise<SmtpDialog> {
    const c = await SmtpDialog.open(gw.port, BALANCER);
    c.write(header);
    return c;
  }

  it('v1 from the balancer: a trusted client inside may relay', async () => {
    const c = await viaBalancer('PROXY TCP4 10.20.1.2 10.0.0.1 40000 25\r\n');
    await c.begin();
    const r = await c.cmd('RCPT TO:<friend@elsewhere.test>');
    assert.equal(r.code, 250);
    const line = gw.log.lines.filter((l) => l.event === 'rcpt').at(-1)!;
    assert.equal(line.client, '10.20.1.2');
    assert.equal(line.trusted, true);
    c.close();
  });

  it('v1 from the balancer: an untrusted client inside may not relay', async () => {
    const c = await viaBalancer('PROXY TCP4 192.0.2.7 10.0.0.1 40000 25\r\n');
    await c.begin();
    assert.equal((await c.cmd('RCPT TO:<friend@elsewhere.test>')).code, 554);
    assert.equal((await c.cmd('RCPT TO:<user@example.com>')).code, 250);
    assert.equal(gw.log.lines.filter((l) => l.event === 'rcpt').at(-1)!.client, '192.0.2.7');
    c.close();
  });

  it('v2 from the balancer is honoured the same way', async () => {
    const c = await viaBalancer(v2Header('10.20.3.4', '10.0.0.1', 40001, 25));
    await c.begin();
    assert.equal((await c.cmd('RCPT TO:<friend@elsewhere.test>')).code, 250);
    assert.equal(gw.log.lines.filter((l) => l.event === 'rcpt').at(-1)!.client, '10.20.3.4');
    c.close();
  });

  it('a malformed header from the balancer closes the connection', async () => {
    const c = await viaBalancer('PROXY TCP4 not-an-address\r\n');
    const r = await c.read();
    assert.equal(r?.code, 421);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await c.read(), undefined);
  });

  for (const [name, header] of [
    ['v1', 'PROXY TCP4 10.20.1.2 10.0.0.1 40000 25\r\n'],
    ['v2', v2Header('10.20.1.2', '10.0.0.1', 40000, 25)],
  ] as const) {
    it(`a ${name} header claiming a trusted address from a non-balancer is refused and the connection closed`, async () => {
      const c = await SmtpDialog.open(gw.port, '127.0.0.11');
      c.write(header);
      const r = await c.read();
      assert.equal(r?.code, 554);
      assert.match(r!.text, /^5\.7\.1 PROXY protocol header not accepted/);
      assert.equal(await c.read(), undefined, 'connection closed');
      assert.ok(gw.log.find((l) => l.reason === 'proxy-not-allowed' && l.client === '127.0.0.11'));
    });
  }

  it('a PROXY line after the greeting from a non-balancer is refused too', async () => {
    const c = await SmtpDialog.open(gw.port, '127.0.0.12');
    assert.equal((await c.read())?.code, 220);
    c.write('PROXY TCP4 10.20.1.2 10.0.0.1 40000 25\r\n');
    assert.equal((await c.read())?.code, 554);
    assert.equal(await c.read(), undefined);
  });

  it('a balancer\'s own connection (PROXY UNKNOWN) is never trusted, even when its address is in a trusted network', async () => {
    const g = await startGateway(buildConfig({
      spec: { integration: 'BehindEdgeGateway', proxyProtocol: { trustedLoadBalancers: [`${BALANCER}/32`] } },
      domains: ['example.com'],
      networks: [`${BALANCER}/32`],
    }));
    try {
      const c = await SmtpDialog.open(g.port, BALANCER);
      c.write('PROXY UNKNOWN\r\n');
      await c.begin();
      assert.equal((await c.cmd('RCPT TO:<friend@elsewhere.test>')).code, 554);
      c.close();
    } finally {
      await g.close();
    }
  });
});

