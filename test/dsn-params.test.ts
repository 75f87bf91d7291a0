/**
 * DSN parameters (RFC 3461) given at MAIL and RCPT are kept with the
 * envelope in the spool, for the delivery side to pass on or honour.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig, startGateway } from './helpers/config.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';

it('keeps RET, ENVID, NOTIFY and ORCPT with the envelope', async () => {
  const gw = await startGateway(buildConfig({ spec: { integration: 'BehindEdgeGateway' }, domains: ['example.com'] }));
  try {
    const c = await SmtpDialog.open(gw.port, '127.0.0.2');
    await c.read();
    await c.cmd('EHLO client.test');
    assert.equal((await c.cmd('MAIL FROM:<a@sender.test> RET=HDRS ENVID=QQ314159 BODY=8BITMIME')).code, 250);
    assert.equal((await c.cmd('RCPT TO:<u@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u@example.com')).code, 250);
    assert.equal((await c.cmd('RCPT TO:<v@example.com> NOTIFY=NEVER')).code, 250);
    assert.equal((await c.cmd('DATA')).code, 354);
    const r = await c.cmd('Subject: dsn\r\n\r\n8bit: \u00e9\r\n.');
    assert.equal(r.code, 250);
    const env = gw.gateway.runtime.spool.get(/queued as (\S+)/.exec(r.text)![1]!)!.envelope;
    assert.deepEqual(env.mailParams, { body: '8BITMIME', ret: 'HDRS', envid: 'QQ314159' });
    assert.deepEqual(env.rcptTo.map((x) => x.dsn), [{ notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;u@example.com' }, { notify: ['NEVER'] }]);
    c.close();
  } finally {
    await gw.close();
  }
});
