/**
 * What the gateway relies on in smtp-server's public surface
 * (gateway/smtpd/smtp-server-adapter.ts overrides init, connectionReady and
 * send, and hands sockets in through `connections` and `emit`, touching no
 * underscored member). These fail when a smtp-server release changes that
 * behaviour.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig, startGateway } from './helpers/config.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('smtp-server contract', () => {
  const withDelay = (pregreetDelay: string) => buildConfig({
    spec: { integration: 'BehindEdgeGatewayNoRecipientVerification', limits: { pregreetDelay } },
    domains: ['corp.test'], networks: ['127.0.0.1/32'],
  });
  const config = withDelay('3s');

  it('the pregreet delay is ours, not smtp-server\'s fixed 100 ms: an untrusted client talking at 400 ms is an early talker', async () => {
    const gw = await startGateway(config);
    try {
      const c = await SmtpDialog.open(gw.port, '127.0.0.2');
      await sleep(400);
      c.write('EHLO early.test\r\n');
      const r = await c.read(10_000);
      assert.equal(r?.code, 421, 'no greeting came first: smtp-server\'s own 100 ms timer did not greet');
      assert.match(r!.text, /talk too soon/);
      c.close();
    } finally {
      await gw.close();
    }
  });

  it('a trusted client gets no pregreet delay: greeted, then one full transaction', async () => {
    const gw = await startGateway(config);
    try {
      const c = await SmtpDialog.open(gw.port, '127.0.0.1');
      const greeting = await c.read(2000); // well under the 3 s an untrusted client waits
      assert.equal(greeting?.code, 220);
      assert.equal((await c.cmd('EHLO trusted.test')).code, 250);
      assert.equal((await c.cmd('MAIL FROM:<a@corp.test>')).code, 250);
      assert.equal((await c.cmd('RCPT TO:<b@corp.test>')).code, 250);
      c.close();
    } finally {
      await gw.close();
    }
  });

  it('an untrusted client is greeted when our delay has run, though smtp-server\'s own call was ignored', async () => {
    const gw = await startGateway(withDelay('300ms'));
    try {
      const c = await SmtpDialog.open(gw.port, '127.0.0.2');
      assert.equal((await c.read(10_000))?.code, 220);
      assert.equal((await c.cmd('NOOP')).code, 250, 'the session works after the greeting');
      c.close();
    } finally {
      await gw.close();
    }
  });
});
