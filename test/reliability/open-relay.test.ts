/**
 * Open-relay battery: probes that try to make the gateway relay for an
 * untrusted client — address tricks, IPv6 and IPv4-mapped sources, PROXY
 * headers from untrusted sources, PROXY claims through the balancer,
 * pipelined RCPTs mixing local and foreign, after STARTTLS, after RSET,
 * XCLIENT, AUTH, the null sender. A recipient accepted as local (a trick
 * that names example.com) is sent and must reach the internal server as
 * that local address. Zero relayed means: the edge gateway (relayHost, a
 * real SMTP peer) receives nothing, no recipient is ever queued with route
 * "relay" for an untrusted client, and the queue drains.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { renderLocal } from '../../cli/cmd-up.ts';
import { startGateway, tempDir, type Running } from '../helpers/config.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { makePki } from '../helpers/certs.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { eventually } from '../helpers/wait.ts';
import { V2_SIGNATURE } from '../../gateway/listener/proxy-protocol.ts';
import { record } from './mode.ts';

const TRUSTED = '127.0.0.1';
const UNTRUSTED = '127.0.0.2';
const BALANCER = '127.0.0.10';

interface Probe { name: string; run(): Promise<void> }

describe('open-relay battery', () => {
  let gw: Running;
  let internal: Sink;
  let edge: Sink;
  /** RCPT replies to foreign addresses from untrusted clients (must all be refusals). */
  const foreignReplies: { probe: string; rcpt: string; code: number }[] = [];
  let current = '';

  before(async () => {
    internal = await startSink();
    edge = await startSink();
    const pki = makePki();
    const dir = tempDir('mailgw-relay-battery-');
    const docs = [
      {
        apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw', namespace: 'mail' },
        spec: {
          hostname: 'mx.gateway.test', integration: 'BehindEdgeGatewayNoRecipientVerification',
          relayHost: { host: '127.0.0.1', port: edge.port },
          authentication: { spf: false, dkim: false, dmarc: false }, resolver: { servers: ['127.0.0.1:9'], timeout: '1s' },
          tls: { inbound: { mode: 'Attempt', certificate: { secretName: 'gw-tls' } }, outbound: { mode: 'None' } },
          proxyProtocol: { trustedLoadBalancers: [`${BALANCER}/32`] },
          limits: { connectionsPerClient: 0 },
        },
      },
      { apiVersion: 'mailgw.io/v1alpha1', kind: 'LocalDomain', metadata: { name: 'd', namespace: 'mail' }, spec: { gatewayRef: { name: 'gw' }, domain: 'example.com', routing: { host: '127.0.0.1', port: internal.port } } },
      { apiVersion: 'mailgw.io/v1alpha1', kind: 'TrustedNetwork', metadata: { name: 'n', namespace: 'mail' }, spec: { gatewayRef: { name: 'gw' }, cidrs: [`${TRUSTED}/32`, '2001:db8::/32', '10.20.0.0/16'] } },
      { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'gw-tls', namespace: 'mail' }, data: { 'tls.crt': pki.serverCert.toString('base64'), 'tls.key': pki.serverKey.toString('base64') } },
    ];
    writeFileSync(join(dir, 'gw.yaml'), docs.map((d) => stringify(d)).join('---\n'));
    const r = await renderLocal([join(dir, 'gw.yaml')], undefined, join(dir, 'state'));
    assert.ok('config' in r, JSON.stringify(r));
    // Dual stack: IPv4 clients arrive as IPv4-mapped IPv6 addresses.
    gw = await startGateway(r.config, join(dir, 'state'), '::', { deliver: true });
  });
  after(async () => {
    await gw.close();
    await internal.close();
    await edge.close();
  });

  const open = async (source = UNTRUSTED, host = '127.0.0.1'): Promise<SmtpDialog> => SmtpDialog.open(gw.port, source, host);

  /** RCPT to a foreign address: recorded, and the reply code returned. */
  async function foreign(c: SmtpDialog, rcpt: string): Promise<number> {
    const r = await c.cmd(`RCPT TO:${rcpt}`);
    foreignReplies.push({ probe: current, rcpt, code: r.code });
    return r.code;
  }

  /** A whole transaction with one RCPT argument; sends the message when the RCPT is accepted. */
  async function attempt(c: SmtpDialog, rcpt: string, from = '<sender@origin.test>'): Promise<number> {
    assert.equal((await c.cmd(`MAIL FROM:${from}`)).code, 250);
    const code = await foreign(c, rcpt);
    if (code === 250) {
      assert.equal((await c.cmd('DATA')).code, 354);
      assert.equal((await c.cmd(`Subject: probe ${current}\r\n\r\nrelay probe\r\n.`)).code, 250);
    } else {
      await c.cmd('RSET');
    }
    return code;
  }

  async function session(fn: (c: SmtpDialog) => Promise<void>, source = UNTRUSTED, host = '127.0.0.1'): Promise<void> {
    const c = await open(source, host);
    try {
      assert.equal((await c.read())?.code, 220);
      assert.equal((await c.cmd('EHLO client.test')).code, 250);
      await fn(c);
    } finally {
      c.close();
    }
  }

  const TRICKS = [
    '<friend@elsewhere.test>', '<FRIEND@ELSEWHERE.TEST>', 'friend@elsewhere.test', '<friend@elsewhere.test.>',
    '<friend%elsewhere.test@example.com>', '<elsewhere.test!friend@example.com>', '<@example.com:friend@elsewhere.test>',
    '<@example.com,@elsewhere.test:friend@elsewhere.test>', '<friend@elsewhere.test@example.com>', '<friend@example.com@elsewhere.test>',
    '<"friend@elsewhere.test"@example.com>', '<"friend@elsewhere.test">', '<friend@elsewhere.test%example.com>',
    '<friend@[192.0.2.1]>', '<friend@[IPv6:2001:db8::1]>', '<friend@[127.0.0.1]>', '<friend@example.com.elsewhere.test>',
    '<friend@sub.example.com>', '<friend@localhost>', '<postmaster@elsewhere.test>', '<friend@elsewhere.test> NOTIFY=NEVER',
    '<friend@elsewhere.test>\tx', '<friend@xn--bcher-kva.test>', '<friend@bücher.test>', '<friend@example.com:25>',
    '<friend@example.com\x00.elsewhere.test>',
  ];

  const probes: Probe[] = [
    ...TRICKS.map((rcpt) => ({ name: `address trick ${JSON.stringify(rcpt)}`, run: () => session(async (c) => void (await attempt(c, rcpt))) })),
    { name: 'IPv6 source ::1', run: () => session(async (c) => void (await attempt(c, '<friend@elsewhere.test>')), '::1', '::1') },
    // An IPv6 socket with IPv4-mapped addresses at both ends (the others reach the dual-stack listener over IPv4).
    { name: 'IPv4-mapped source ::ffff:127.0.0.2', run: () => session(async (c) => void (await attempt(c, '<friend@elsewhere.test>')), `::ffff:${UNTRUSTED}`, '::ffff:127.0.0.1') },
    { name: 'IPv4-mapped source ::ffff:127.0.0.3', run: () => session(async (c) => void (await attempt(c, '<friend@elsewhere.test>')), '::ffff:127.0.0.3', '::ffff:127.0.0.1') },
    {
      name: 'PROXY v1 from an untrusted source claiming a trusted address',
      run: async () => {
        const c = await open();
        c.write(`PROXY TCP4 ${TRUSTED} 10.0.0.1 40000 25\r\n`);
        const replies = [await c.read(), await c.read(2000)];
        if (!c.closed && replies.every((r) => !r || r.code !== 421)) {
          await c.cmd('EHLO client.test');
          await attempt(c, '<friend@elsewhere.test>').catch(() => undefined);
        }
        c.close();
      },
    },
    {
      name: 'PROXY v2 from an untrusted source claiming a trusted address',
      run: async () => {
        const c = await open();
        const body = Buffer.alloc(12);
        [127, 0, 0, 1, 10, 0, 0, 1].forEach((o, i) => body.writeUInt8(o, i));
        body.writeUInt16BE(40000, 8);
        body.writeUInt16BE(25, 10);
        c.write(Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0, 12]), body]));
        await c.read(2000);
        if (!c.closed) {
          await c.cmd('EHLO client.test').catch(() => undefined);
          if (!c.closed) await attempt(c, '<friend@elsewhere.test>').catch(() => undefined);
        }
        c.close();
      },
    },
    {
      name: 'PROXY from the balancer claiming an untrusted client',
      run: async () => {
        const c = await open(BALANCER);
        c.write('PROXY TCP4 192.0.2.7 10.0.0.1 40000 25\r\n');
        assert.equal((await c.read())?.code, 220);
        await c.cmd('EHLO client.test');
        await attempt(c, '<friend@elsewhere.test>');
        c.close();
      },
    },
    {
      name: 'PROXY UNKNOWN from the balancer (its own address is not trusted)',
      run: async () => {
        const c = await open(BALANCER);
        c.write('PROXY UNKNOWN\r\n');
        const greet = await c.read();
        if (greet?.code === 220) {
          await c.cmd('EHLO client.test');
          await attempt(c, '<friend@elsewhere.test>');
        }
        c.close();
      },
    },
    {
      name: 'PROXY from the balancer claiming an untrusted IPv6 client',
      run: async () => {
        const c = await open(BALANCER);
        c.write('PROXY TCP6 2001:db9::7 2001:db9::1 40000 25\r\n');
        assert.equal((await c.read())?.code, 220);
        await c.cmd('EHLO client.test');
        await attempt(c, '<friend@elsewhere.test>');
        c.close();
      },
    },
    {
      name: 'a second PROXY line inside the session claiming a trusted address',
      run: async () => {
        const c = await open(BALANCER);
        c.write('PROXY TCP4 192.0.2.7 10.0.0.1 40000 25\r\n');
        assert.equal((await c.read())?.code, 220);
        const r = await c.cmd(`PROXY TCP4 ${TRUSTED} 10.0.0.1 40001 25`);
        assert.ok(r.code >= 500, `a PROXY command mid-session is refused (${r.code})`);
        await c.cmd('EHLO client.test');
        await attempt(c, '<friend@elsewhere.test>');
        c.close();
      },
    },
    {
      name: 'pipelined RCPTs: foreign between two local',
      run: () => session(async (c) => {
        current = 'pipelined RCPTs: foreign between two local';
        c.write('MAIL FROM:<sender@origin.test>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<friend@elsewhere.test>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n');
        const codes = [];
        for (let i = 0; i < 5; i++) codes.push((await c.read())!.code);
        foreignReplies.push({ probe: current, rcpt: '<friend@elsewhere.test>', code: codes[2]! });
        assert.deepEqual([codes[0], codes[1], codes[3], codes[4]], [250, 250, 250, 354]);
        assert.equal((await c.cmd('Subject: pipelined\r\n\r\nmixed\r\n.')).code, 250);
      }),
    },
    {
      name: 'pipelined RCPTs: foreign first, local after',
      run: () => session(async (c) => {
        current = 'pipelined RCPTs: foreign first, local after';
        c.write('MAIL FROM:<sender@origin.test>\r\nRCPT TO:<friend@elsewhere.test>\r\nRCPT TO:<friend@elsewhere.test>\r\nRCPT TO:<c@example.com>\r\nDATA\r\nSubject: pipelined\r\n\r\nmixed\r\n.\r\n');
        const codes = [];
        for (let i = 0; i < 6; i++) codes.push((await c.read())!.code);
        foreignReplies.push({ probe: current, rcpt: '<friend@elsewhere.test>', code: codes[1]! }, { probe: current, rcpt: '<friend@elsewhere.test>', code: codes[2]! });
        assert.deepEqual([codes[0], codes[3], codes[4], codes[5]], [250, 250, 354, 250]);
      }),
    },
    {
      name: 'after STARTTLS',
      run: () => session(async (c) => {
        await c.startTls({ rejectUnauthorized: false, servername: 'mx.gateway.test' });
        await c.cmd('EHLO client.test');
        await attempt(c, '<friend@elsewhere.test>');
        await attempt(c, '<friend%elsewhere.test@example.com>');
      }),
    },
    {
      name: 'after RSET following an accepted local recipient',
      run: () => session(async (c) => {
        await c.cmd('MAIL FROM:<sender@origin.test>');
        assert.equal((await c.cmd('RCPT TO:<d@example.com>')).code, 250);
        await c.cmd('RSET');
        await attempt(c, '<friend@elsewhere.test>');
      }),
    },
    {
      name: 'RCPT after RSET without a new MAIL',
      run: () => session(async (c) => {
        await c.cmd('MAIL FROM:<sender@origin.test>');
        await c.cmd('RSET');
        const code = await foreign(c, '<friend@elsewhere.test>');
        assert.ok(code >= 500, `no transaction after RSET (${code})`);
      }),
    },
    {
      name: 'a second transaction after a local one in the same session',
      run: () => session(async (c) => {
        await attempt(c, '<e@example.com>');
        await attempt(c, '<friend@elsewhere.test>');
      }),
    },
    {
      name: 'EHLO claiming to be localhost or the gateway itself',
      run: async () => {
        for (const helo of ['localhost', 'mx.gateway.test', '[127.0.0.1]']) {
          const c = await open();
          await c.read();
          await c.cmd(`EHLO ${helo}`);
          await attempt(c, '<friend@elsewhere.test>');
          c.close();
        }
      },
    },
    {
      name: 'XCLIENT and XFORWARD claiming a trusted address',
      run: () => session(async (c) => {
        assert.ok((await c.cmd(`XCLIENT ADDR=${TRUSTED}`)).code >= 500);
        assert.ok((await c.cmd(`XFORWARD ADDR=${TRUSTED}`)).code >= 500);
        await attempt(c, '<friend@elsewhere.test>');
      }),
    },
    {
      name: 'AUTH without credentials configured',
      run: () => session(async (c) => {
        assert.ok((await c.cmd('AUTH PLAIN AGFkbWluAGFkbWlu')).code >= 500);
        await attempt(c, '<friend@elsewhere.test>');
      }),
    },
    { name: 'null sender to a foreign address', run: () => session(async (c) => void (await attempt(c, '<friend@elsewhere.test>', '<>'))) },
    { name: 'sender in a local domain to a foreign address', run: () => session(async (c) => void (await attempt(c, '<friend@elsewhere.test>', '<boss@example.com>'))) },
    { name: 'sender from the trusted network\'s name to a foreign address', run: () => session(async (c) => void (await attempt(c, '<friend@elsewhere.test>', '<postmaster@[127.0.0.1]>'))) },
  ];

  it(`has at least 40 probes (${probes.length})`, () => {
    assert.ok(probes.length >= 40);
  });

  it('relays nothing for untrusted clients', { timeout: 120_000 }, async () => {
    for (const p of probes) {
      current = p.name;
      await p.run();
    }
    // Control: the trusted network does relay, through the same edge peer (so the check below can see relaying).
    await session(async (c) => {
      assert.equal((await c.cmd('MAIL FROM:<sender@origin.test>')).code, 250);
      assert.equal((await c.cmd('RCPT TO:<control@elsewhere.test>')).code, 250);
      assert.equal((await c.cmd('DATA')).code, 354);
      assert.equal((await c.cmd('Subject: control\r\n\r\ntrusted relay\r\n.')).code, 250);
    }, TRUSTED);
    await eventually('queue drained', () => gw.gateway.runtime.spool.size === 0, 30_000);

    const accepted = foreignReplies.filter((r) => r.code < 400);
    const relayedRcpts = gw.log.lines.filter((l) => l.event === 'rcpt' && l.route === 'relay' && l.trusted !== true);
    const atEdge = edge.messages.filter((m) => !m.to.includes('control@elsewhere.test'));
    const internalForeign = internal.messages.flatMap((m) => m.to).filter((a) => !/@example\.com$/i.test(a));
    record('open-relay', { probes: probes.length, foreignRcpts: foreignReplies.length, relayed: atEdge.length + relayedRcpts.length + internalForeign.length, acceptedAsLocal: internal.messages.length });
    // Tricks that name example.com as the domain are local mail: they went to the internal server as that address.
    for (const r of accepted) assert.match(r.rcpt, /@example\.com>$/, `${r.probe}: ${r.rcpt} accepted only as a local address`);
    assert.deepEqual(atEdge, [], 'the edge gateway received nothing from untrusted clients');
    assert.deepEqual(relayedRcpts, [], 'no recipient was queued for relay from an untrusted client');
    assert.deepEqual(internalForeign, [], 'the internal server got only example.com addresses');
    assert.equal(edge.messages.length, 1, 'the trusted control message was relayed');
  });
});
