/**
 * The gateway's /metrics, /healthz and /readyz on their own port: counters
 * move with real traffic, queue depth is reported, and readiness says when
 * a required scanner does not answer.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Gateway } from '../gateway/gateway.ts';
import { buildConfig, tempDir } from './helpers/config.ts';
import { closedPort } from './helpers/ports.ts';
import { submit } from './helpers/submit.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';

it('serves metrics that follow the traffic, and readiness that follows the scanners', async () => {
  const down = await closedPort();
  const config = buildConfig({ spec: { integration: 'BehindEdgeGateway' }, domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: down } }] });
  const gw = await Gateway.start(config, { host: '127.0.0.1', port: 0, stateDir: tempDir(), logger: pino({ level: 'silent' }), deliver: false, metrics: { host: '127.0.0.1', port: 0 } });
  try {
    const base = `http://127.0.0.1:${gw.metricsAddress!.port}`;
    await submit(gw.address().port, { from: 'a@external.test', to: 'alice@corp.test', source: '127.0.0.2' });
    const c = await SmtpDialog.open(gw.address().port, '127.0.0.2');
    await c.begin();
    assert.equal((await c.cmd('RCPT TO:<x@elsewhere.test>')).code, 554);
    c.close();
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, /^mailgw_gateway_messages_total\{outcome="accepted",reason="",rule="default"\} 1$/m);
    assert.match(text, /^mailgw_gateway_recipients_total\{result="rejected",code="554"\} 1$/m);
    assert.match(text, /^mailgw_gateway_connections_total\{result="accepted",reason=""\} [1-9]/m);
    assert.match(text, /^mailgw_gateway_queue_messages\{state="pending"\} 1$/m);
    assert.match(text, /^mailgw_gateway_config_generation 1$/m);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    gw.reload(buildConfig({ spec: { integration: 'BehindEdgeGateway', protection: { antivirus: { enabled: true, clamd: `tcp://127.0.0.1:${down}` } } }, domains: ['corp.test'] }));
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(await ready.text(), /clamd at tcp:\/\/127\.0\.0\.1:\d+ does not answer/);
    assert.match(await (await fetch(`${base}/metrics`)).text(), /^mailgw_gateway_config_reloads_total\{result="applied"\} 1$/m);
  } finally {
    await gw.close();
  }
});
