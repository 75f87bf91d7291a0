/**
 * The gateway's /metrics, /healthz and /readyz on their own port: counters
 * move with real traffic, queue depth is reported, and readiness says when
 * a required scanner does not answer. The second test scrapes a real
 * `mailgw gateway` process through a whole story: connection limits,
 * deletes by rule, deferrals and failures by next hop, delivery latency,
 * bounces, scanner latency and errors, queue age and a refused reload.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Gateway } from '../gateway/gateway.ts';
import { buildConfig, tempDir } from './helpers/config.ts';
import { closedPort } from './helpers/ports.ts';
import { submit } from './helpers/submit.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMailgw } from './helpers/mailgw-process.ts';
import { refuse, startSink } from './helpers/sink.ts';
import { eventually } from './helpers/wait.ts';

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

it('a gateway process reports every family during traffic: limits, deletes, deferrals by next hop, latency, bounces, scanners, queue age, reload failures', { timeout: 90_000 }, async () => {
  const internalPort = await closedPort();
  const clamdDown = await closedPort();
  const dir = tempDir('mailgw-metrics-');
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(buildConfig({
    spec: {
      integration: 'BehindEdgeGateway',
      limits: { connectionsPerClient: 2 },
      queue: { minBackoff: '1s', maxBackoff: '1s' },
      protection: { antivirus: { enabled: true, clamd: `tcp://127.0.0.1:${clamdDown}` }, onScannerFailure: 'Pass' },
      rules: [{ name: 'drop-trash', recipients: ['trash@corp.test'], mode: 'Delete' }],
    },
    domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: internalPort } }],
  })));
  const gw = await startMailgw(['gateway', '--config', configFile, '--listen', '127.0.0.1:0', '--state-dir', join(dir, 'state'), '--metrics-address', '127.0.0.1:0', '--config-poll', '200ms']);
  const metricsPort = (await gw.waitFor('metrics-listening')).port as number;
  const scrape = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const value = (text: string, series: RegExp) => Number(new RegExp(`^${series.source} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  let internal: Awaited<ReturnType<typeof startSink>> | undefined;
  try {
    // Per-client limit: two sessions held open, the third refused.
    const held = [await SmtpDialog.open(gw.port, '127.0.0.3'), await SmtpDialog.open(gw.port, '127.0.0.3')];
    await eventually('two sessions open', async () => value(await scrape(), /mailgw_gateway_connections_open/) >= 2);
    const third = await SmtpDialog.open(gw.port, '127.0.0.3');
    assert.equal((await third.read(5000))?.code, 421);
    third.close();
    let text = await scrape();
    assert.ok(value(text, /mailgw_gateway_connections_total\{result="refused",reason="[^"]+"\}/) >= 1, 'refusals counted by reason');
    for (const c of held) c.close();

    // Traffic while the next hop is down: accepted (scanner down, Pass), deleted by a rule, deferred by next hop.
    await submit(gw.port, { from: 'partner@external.test', to: 'alice@corp.test', source: '127.0.0.2' });
    await submit(gw.port, { from: 'partner@external.test', to: 'trash@corp.test', source: '127.0.0.2' });
    await submit(gw.port, { from: 'sender@corp.test', to: 'nobody@corp.test', source: '127.0.0.2' });
    await eventually('deferrals by next hop', async () => value(await scrape(), new RegExp(`mailgw_gateway_deliveries_total\\{status="deferred",next_hop="127\\.0\\.0\\.1"\\}`)) >= 2, 15_000, 200);
    await new Promise((r) => setTimeout(r, 1100));
    text = await scrape();
    assert.equal(value(text, /mailgw_gateway_messages_total\{outcome="accepted",reason="",rule="default"\}/), 2);
    assert.equal(value(text, /mailgw_gateway_messages_total\{outcome="deleted",reason="rule",rule="drop-trash"\}/), 1);
    assert.ok(value(text, /mailgw_gateway_scanner_errors_total\{scanner="clamd"\}/) >= 2, 'scanner errors counted');
    assert.ok(value(text, /mailgw_gateway_scanner_seconds_count\{scanner="clamd"\}/) >= 2, 'scanner latency observed');
    assert.ok(value(text, /mailgw_gateway_queue_oldest_seconds/) >= 1, 'oldest queued message age');
    assert.equal(value(text, /mailgw_gateway_queue_messages\{state="deferred"\}/), 2);

    // The next hop returns: one delivered (latency observed), one refused there with 550 (bounced to its local sender).
    internal = await startSink({ port: internalPort, rcpt: (a) => (a === 'nobody@corp.test' ? refuse(550, '5.1.1 no such user') : null) });
    await eventually('delivered and bounced', async () => {
      const t = await scrape();
      return value(t, /mailgw_gateway_delivery_seconds_count/) >= 2 && value(t, /mailgw_gateway_bounces_total/) === 1;
    }, 20_000, 200);
    text = await scrape();
    assert.equal(value(text, /mailgw_gateway_deliveries_total\{status="failed",next_hop="127\.0\.0\.1"\}/), 1);
    assert.ok(value(text, /mailgw_gateway_delivery_seconds_bucket\{le="\+Inf"\}/) >= 2);

    // A config that does not parse is refused and counted; the running one stays.
    writeFileSync(configFile, '{ not json');
    await eventually('reload refused', async () => value(await scrape(), /mailgw_gateway_config_reloads_total\{result="rejected"\}/) === 1, 10_000, 200);
    assert.equal(value(await scrape(), /mailgw_gateway_config_generation/), 1);
  } finally {
    gw.proc.kill('SIGTERM');
    await gw.exited;
    await internal?.close();
  }
});
