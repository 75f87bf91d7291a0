/**
 * The seed scheme's example as shipped (examples/behind-edge-gateway-no-
 * recipient-verification/) with the suite's real clamd and rspamd: its
 * modules are on and their action is Delete, so EICAR and GTUBE are
 * answered 250 and never delivered (no reject, no NDR: no backscatter
 * through the edge), and clean mail is delivered. Only the addresses are
 * changed: scanners, internal servers and the edge are the test's own on
 * loopback (the example's own addresses are never contacted).
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { loadManifests } from '../cli/manifest-load.ts';
import { render } from '../operator/render.ts';
import { startGateway, tempDir, type Running } from './helpers/config.ts';
import { startSink, type Sink } from './helpers/sink.ts';
import { startClamd, startRspamd, EICAR, GTUBE, type Daemon } from './helpers/scanners.ts';
import { missing } from './helpers/requirements.ts';
import { eventually } from './helpers/wait.ts';

const EXAMPLE = join(new URL('..', import.meta.url).pathname, 'examples/behind-edge-gateway-no-recipient-verification');

describe('seed example with real scanners', () => {
  let clamd: Daemon | undefined;
  let rspamd: Daemon | undefined;
  let internal: Sink;
  let edge: Sink;
  let gw: Running | undefined;

  before(async () => {
    [clamd, rspamd] = await Promise.all([startClamd(), startRspamd()]);
    internal = await startSink();
    edge = await startSink();
    if (!clamd || !rspamd) return;
    const m = await loadManifests([EXAMPLE]);
    assert.deepEqual(m.problems.filter((p) => p.severity === 'error'), []);
    const g = m.gateways[0]!;
    assert.equal(g.spec.protection.antivirus.enabled, true);
    assert.equal(g.spec.protection.antispam.enabled, true);
    assert.equal(g.spec.protection.contentFilter.enabled, true);
    g.spec.protection.antivirus.clamd = clamd.address;
    g.spec.protection.antispam.rspamd = rspamd.address;
    g.spec.relayHost = { host: '127.0.0.1', port: edge.port, mxLookup: false, fallbackHosts: [] };
    g.spec.tls.outbound.mode = 'None';
    for (const d of m.domains) d.spec.routing = { host: '127.0.0.1', port: internal.port, mxLookup: false };
    const r = render(g, m.domains, m.networks);
    assert.deepEqual(r.findings.filter((f) => f.severity === 'Error'), []);
    gw = await startGateway({ ...r.gatewayConfig, resolver: { servers: ['127.0.0.1:9'], timeoutMs: 1000 } }, tempDir(), '127.0.0.1', { deliver: true });
  });
  after(async () => {
    await gw?.close();
    await clamd?.stop();
    await rspamd?.stop();
    await internal.close();
    await edge.close();
  });

  const skip = (t: TestContext) => {
    if (!clamd) missing(t, 'clamd (Debian package clamav-daemon)');
    if (!rspamd) missing(t, 'rspamd (Debian package rspamd)');
    return !gw;
  };

  const send = (subject: string, text: string, attachments: { filename: string; content: string }[] = []) => nodemailer
    .createTransport({ host: '127.0.0.1', port: gw!.port, ignoreTLS: true, localAddress: '127.0.0.2' })
    .sendMail({ from: 'sender@external.test', to: 'alice@example.com', subject, text, attachments });

  it('EICAR: 250, deleted, not delivered', async (t) => {
    if (skip(t)) return;
    const info = await send('eicar', 'see attachment', [{ filename: 'eicar.com', content: EICAR }]);
    assert.match(info.response, /^250 /);
    await eventually('the verdict', () => gw!.log.find((l) => l.event === 'verdict' && l.action === 'Delete' && String(l.reasons).includes('antivirus')));
    // The traffic log has it as deleted, with the verdict that did it.
    const m = await eventually('the traffic log entry', async () => (await gw!.gateway.runtime.traffic!.search({ subject: 'eicar' })).items[0]);
    assert.equal(m.status, 'deleted');
    assert.match(m.verdict ?? '', /antivirus=infected/);
    assert.match(m.verdict ?? '', /action=Delete/);
  });

  it('GTUBE: 250, deleted, not delivered', async (t) => {
    if (skip(t)) return;
    const info = await send('cheap pills', `Buy now!\r\n${GTUBE}\r\n`);
    assert.match(info.response, /^250 /);
    await eventually('the verdict', () => gw!.log.find((l) => l.event === 'verdict' && l.action === 'Delete' && String(l.reasons).includes('antispam')));
  });

  it('a clean message is delivered; nothing else reached the internal server or the edge', async (t) => {
    if (skip(t)) return;
    const info = await send('quarterly report', 'Please find the numbers in the usual place.');
    assert.match(info.response, /^250 /);
    const [msg] = await internal.waitFor(1);
    assert.match(msg!.raw.toString(), /Subject: quarterly report/);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(internal.messages.length, 1, 'EICAR and GTUBE were not delivered');
    assert.equal(edge.messages.length, 0, 'no NDR through the edge');
  });
});
