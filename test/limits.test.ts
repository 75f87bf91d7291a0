/**
 * Size, recipient, connection and rate limits over real sockets, each with
 * its enhanced status code; oversized messages leave nothing in the spool.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig, startGateway } from './helpers/config.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';

const base = { spec: { integration: 'BehindEdgeGateway' }, domains: ['example.com'] };

describe('limits', () => {
  it('refuses a declared SIZE over the limit at MAIL and a real overflow at end of data, queuing nothing', async () => {
    const gw = await startGateway(buildConfig({ ...base, spec: { ...base.spec, limits: { messageSize: 1000 } } }));
    try {
      const c = await SmtpDialog.open(gw.port, '127.0.0.2');
      assert.equal((await c.read())?.lines[0], '220 mx.gateway.test ESMTP mailgw');
      const ehlo = await c.cmd('EHLO client.test');
      assert.ok(ehlo.lines.some((l) => /SIZE 1000$/.test(l)), 'SIZE advertised with the limit');
      for (const ext of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'DSN']) {
        assert.ok(ehlo.lines.some((l) => l.slice(4) === ext), `${ext} advertised`);
      }
      const big = await c.cmd('MAIL FROM:<a@sender.test> SIZE=5000');
      assert.equal(big.code, 552);
      assert.match(big.text, /^5\.3\.4 /);
      assert.equal((await c.cmd('MAIL FROM:<a@sender.test> SIZE=500')).code, 250);
      assert.equal((await c.cmd('RCPT TO:<u@example.com>')).code, 250);
      assert.equal((await c.cmd('DATA')).code, 354);
      c.write(`Subject: big\r\n\r\n${'x'.repeat(78)}\r\n`.repeat(40) + '.\r\n');
      const end = await c.read();
      assert.equal(end?.code, 552);
      assert.match(end!.text, /^5\.3\.4 Message size exceeds fixed limit of 1000 bytes/);
      assert.equal(gw.gateway.runtime.spool.size, 0, 'nothing queued');
      // The session goes on: a message within the limit is accepted.
      assert.equal((await c.cmd('MAIL FROM:<a@sender.test>')).code, 250);
      assert.equal((await c.cmd('RCPT TO:<u@example.com>')).code, 250);
      assert.equal((await c.cmd('DATA')).code, 354);
      const ok = await c.cmd('Subject: small\r\n\r\nhello\r\n.');
      assert.equal(ok.code, 250);
      assert.equal(gw.gateway.runtime.spool.size, 1);
      c.close();
    } finally {
      await gw.close();
    }
  });

  it('answers 452 4.5.3 past the recipients-per-message limit', async () => {
    const gw = await startGateway(buildConfig({ ...base, spec: { ...base.spec, limits: { recipientsPerMessage: 3 } } }));
    try {
      const c = await SmtpDialog.open(gw.port, '127.0.0.2');
      await c.begin();
      const codes = [];
      for (let i = 0; i < 5; i++) codes.push((await c.cmd(`RCPT TO:<u${i}@example.com>`)));
      assert.deepEqual(codes.map((r) => r.code), [250, 250, 250, 452, 452]);
      assert.match(codes[3]!.text, /^4\.5\.3 Too many recipients/);
      c.close();
    } finally {
      await gw.close();
    }
  });

  it('limits connections per client, exempting trusted networks', async () => {
    const gw = await startGateway(buildConfig({ ...base, networks: ['127.0.0.1/32'], spec: { ...base.spec, limits: { connectionsPerClient: 2 } } }));
    const open: SmtpDialog[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const c = await SmtpDialog.open(gw.port, '127.0.0.3');
        open.push(c);
        assert.equal((await c.read())?.code, 220);
      }
      const third = await SmtpDialog.open(gw.port, '127.0.0.3');
      open.push(third);
      const r = await third.read();
      assert.equal(r?.code, 421);
      assert.match(r!.text, /^4\.7\.0 .*too many connections from 127\.0\.0\.3/);
      // Another client is not affected, nor is a trusted one however many it opens.
      const other = await SmtpDialog.open(gw.port, '127.0.0.4');
      open.push(other);
      assert.equal((await other.read())?.code, 220);
      for (let i = 0; i < 3; i++) {
        const t = await SmtpDialog.open(gw.port, '127.0.0.1');
        open.push(t);
        assert.equal((await t.read())?.code, 220);
      }
      // Closing one frees a slot.
      open[0]!.close();
      await new Promise((r) => setTimeout(r, 100));
      const again = await SmtpDialog.open(gw.port, '127.0.0.3');
      open.push(again);
      assert.equal((await again.read())?.code, 220);
      assert.ok(gw.log.find((l) => l.event === 'connect' && l.reason === 'connections-per-client' && l.client === '127.0.0.3'));
    } finally {
      for (const c of open) c.close();
      await gw.close();
    }
  });

  it('limits connections in total, for trusted clients too', async () => {
    const gw = await startGateway(buildConfig({ ...base, networks: ['127.0.0.1/32'], spec: { ...base.spec, limits: { connectionsTotal: 2 } } }));
    const open: SmtpDialog[] = [];
    try {
      for (const source of ['127.0.0.1', '127.0.0.6']) {
        const c = await SmtpDialog.open(gw.port, source);
        open.push(c);
        assert.equal((await c.read())?.code, 220);
      }
      const third = await SmtpDialog.open(gw.port, '127.0.0.1');
      open.push(third);
      assert.equal((await third.read())?.code, 421);
      assert.ok(gw.log.find((l) => l.event === 'connect' && l.reason === 'connections-total'));
    } finally {
      for (const c of open) c.close();
      await gw.close();
    }
  });

  it('limits the connection rate and the message rate per client per minute', async () => {
    const gw = await startGateway(buildConfig({ ...base, spec: { ...base.spec, limits: { connectionRatePerClient: 2, messageRatePerClient: 2 } } }));
    try {
      const a = await SmtpDialog.open(gw.port, '127.0.0.5');
      await a.begin();
      assert.equal((await a.cmd('RSET')).code, 250);
      assert.equal((await a.cmd('MAIL FROM:<x@sender.test>')).code, 250);
      assert.equal((await a.cmd('RSET')).code, 250);
      const third = await a.cmd('MAIL FROM:<x@sender.test>');
      assert.equal(third.code, 450);
      assert.match(third.text, /^4\.7\.1 Too much mail from 127\.0\.0\.5/);
      a.close();
      const b = await SmtpDialog.open(gw.port, '127.0.0.5');
      assert.equal((await b.read())?.code, 220);
      b.close();
      const c = await SmtpDialog.open(gw.port, '127.0.0.5');
      const r = await c.read();
      assert.equal(r?.code, 421, 'third connection within a minute is refused');
      c.close();
    } finally {
      await gw.close();
    }
  });

  it('closes an idle session after the idle timeout', async () => {
    const gw = await startGateway(buildConfig({ ...base, spec: { ...base.spec, limits: { idleTimeout: '300ms' } } }));
    try {
      const c = await SmtpDialog.open(gw.port, '127.0.0.2');
      assert.equal((await c.read())?.code, 220);
      const r = await c.read(3000);
      assert.equal(r?.code, 421);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.ok(c.closed);
    } finally {
      await gw.close();
    }
  });

  it('refuses an untrusted client that talks before the greeting', async () => {
    const gw = await startGateway(buildConfig(base));
    try {
      const c = await SmtpDialog.open(gw.port, '127.0.0.2');
      c.write('EHLO early.test\r\n');
      const r = await c.read();
      assert.equal(r?.code, 421);
      assert.match(r!.text, /talk too soon/);
      c.close();
    } finally {
      await gw.close();
    }
  });
});
