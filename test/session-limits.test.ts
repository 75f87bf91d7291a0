/**
 * Error and junk-command limits (issue 13, item 8) and the logging of
 * refusals smtp-server decides itself (item 16), over real sockets.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig, startGateway, type Running } from './helpers/config.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';
import { eventually } from './helpers/wait.ts';

describe('session limits', () => {
  let gw: Running;
  before(async () => {
    gw = await startGateway(buildConfig({
      spec: { limits: { maxErrors: 20, maxJunkCommands: 100, messageSize: 1000, pregreetDelay: '300ms' }, recipientVerification: { mode: 'DoNotReject' } },
      domains: ['corp.test'],
    }));
  });
  after(() => gw.close());

  it('after maxErrors refused commands: 421 4.7.0 and the session is closed', async () => {
    const d = await SmtpDialog.open(gw.port, '127.0.0.2');
    assert.equal((await d.begin('s@x.test')).code, 250);
    for (let i = 1; i < 20; i++) assert.equal((await d.cmd(`RCPT TO:<u${i}@elsewhere.test>`)).code, 554, `refusal ${i}`);
    d.write('RCPT TO:<u20@elsewhere.test>\r\n');
    assert.equal((await d.read())!.code, 554);
    const last = await d.read();
    assert.equal(last?.code, 421);
    assert.match(last!.text, /^4\.7\.0 .*too many errors/);
    assert.equal(await d.read(), undefined, 'closed');
    await eventually('the log line', () => gw.log.find((l) => l.event === 'session-limit' && l.limit === 'errors'));
  });

  it('after maxJunkCommands NOOP/RSET/VRFY/HELP: 421 4.7.0 and closed', async () => {
    const d = await SmtpDialog.open(gw.port, '127.0.0.3');
    await d.begin('s@x.test');
    const junk = ['NOOP', 'RSET', 'VRFY a@b.test', 'HELP'];
    for (let i = 0; i < 100; i++) assert.ok((await d.cmd(junk[i % 4]!)).code < 400, `junk ${i}`);
    const r = await d.cmd('NOOP');
    assert.equal(r.code, 421);
    assert.match(r.text, /too many junk commands/);
    assert.equal(await d.read(), undefined, 'closed');
    assert.ok(gw.log.find((l) => l.event === 'session-limit' && l.limit === 'junk'));
    const metrics = await gw.gateway.runtime.metrics.registry.getSingleMetricAsString('mailgw_gateway_session_limit_closes_total');
    assert.match(metrics, /limit="junk"} 1/);
    assert.match(metrics, /limit="errors"} 1/);
  });

  it('logs the early-talker 421 and the 552 for a declared SIZE with their reasons', async () => {
    const early = await SmtpDialog.open(gw.port, '127.0.0.4');
    early.write('EHLO hasty.test\r\n');
    const r = await early.read();
    assert.equal(r?.code, 421);
    await eventually('early-talker log', () => gw.log.find((l) => l.event === 'refused' && l.reason === 'early-talker' && l.client === '127.0.0.4'));
    const big = await SmtpDialog.open(gw.port, '127.0.0.5');
    const mail = await big.begin('s@x.test');
    assert.equal(mail.code, 250);
    await big.cmd('RSET');
    const sized = await big.cmd('MAIL FROM:<s@x.test> SIZE=5000');
    assert.equal(sized.code, 552);
    await eventually('size log', () => gw.log.find((l) => l.event === 'refused' && l.reason === 'size' && l.code === 552 && l.client === '127.0.0.5'));
    big.close();
  });
});
