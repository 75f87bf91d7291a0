/**
 * The traffic log (issue 17) on a real gateway: real SMTP sessions in,
 * real next hops out (one accepts, one refuses a user, one is busy), then
 * `mailgw traffic search|show` through the admin socket finds each message
 * with its outcome per recipient and its timeline; an administrator's
 * delete, a refusal at the end of DATA, a relay attempt refused at RCPT
 * and a DSN are recorded; the log
 * outlives a restart; with trafficLog.enabled false nothing is recorded.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildConfig, startGateway, tempDir, type Running } from './helpers/config.ts';
import { refuse, startSink, type Sink } from './helpers/sink.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';
import { submit } from './helpers/submit.ts';
import { eventually } from './helpers/wait.ts';
import type { GatewayConfig } from '../api/index.ts';

const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('traffic log', () => {
  let internal: Sink;
  let edge: Sink;
  let config: GatewayConfig;
  let g: Running;
  const stateDir = tempDir('mailgw-traffic-');
  const traffic = async (...args: string[]): Promise<Json> => {
    const r = await run(process.execPath, [join(ROOT, 'bin/mailgw.js'), 'traffic', ...args, '--state-dir', stateDir, '--output', 'json'], { encoding: 'utf8' });
    return JSON.parse(r.stdout) as Json;
  };
  const ids = (page: Json) => (page.items as Json[]).map((m) => m.qid as string);

  before(async () => {
    internal = await startSink({ rcpt: (a) => (a.startsWith('unknown') ? refuse(550, '5.1.1 User unknown') : a.startsWith('busy') ? refuse(451, '4.2.1 Mailbox busy') : null) });
    edge = await startSink();
    config = buildConfig({
      spec: {
        integration: 'Direct', recipientVerification: { mode: 'DoNotReject' }, relayHost: { host: '127.0.0.1', port: edge.port },
        tls: { outbound: { mode: 'None' } }, queue: { minBackoff: '1h', maxBackoff: '2h', lifetime: '5h' }, limits: { maxHops: 10 },
      },
      domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: internal.port } }],
    });
    g = await startGateway(config, stateDir, '127.0.0.1', { deliver: true });
  });
  after(async () => {
    await g?.close();
    await internal.close();
    await edge.close();
  });

  let delivered: string, failed: string, busy: string;
  it('finds a delivered, a failed and a deferred message by sender, recipient, subject, status and client', async () => {
    delivered = await submit(g.port, { from: 'statements@bank.test', to: 'alice@corp.test', subject: 'Your December statement', source: '127.0.0.2' });
    failed = await submit(g.port, { from: 'statements@bank.test', to: 'unknown@corp.test', subject: 'Your November statement', source: '127.0.0.2' });
    busy = await submit(g.port, { from: 'news@shop.test', to: 'busy@corp.test', subject: 'Offers', source: '127.0.0.3' });
    await internal.waitFor(1);
    await edge.waitFor(1); // the DSN for unknown@ went to the sender through the relay host
    await eventually('the deferral recorded', async () => (await traffic('search', '--status', 'deferred')).items.length === 1 || undefined);

    const bank = await traffic('search', '--sender', '*@bank.test');
    assert.deepEqual(ids(bank), [failed, delivered], 'newest first');
    const [f, d] = bank.items as Json[];
    assert.equal(d!.status, 'delivered');
    assert.equal(d!.subject, 'Your December statement');
    assert.equal(d!.client, '127.0.0.2');
    assert.deepEqual(d!.recipients.map((r: Json) => [r.address, r.status, r.dsn]), [['alice@corp.test', 'delivered', '2.0.0']]);
    assert.equal(f!.status, 'failed');
    assert.match(f!.recipients[0].reply, /550 5\.1\.1 User unknown/);
    assert.deepEqual(ids(await traffic('search', '--recipient', 'busy@corp.test')), [busy]);
    assert.deepEqual(ids(await traffic('search', '--subject', 'december statement')), [delivered]);
    assert.deepEqual(ids(await traffic('search', '--client', '127.0.0.3', '--since', '10m')), [busy]);
    assert.deepEqual(ids(await traffic('search', '--status', 'failed')), [failed]);
    assert.deepEqual(ids(await traffic('search', '--since', '2099-01-01T00:00:00Z')), []);
  });

  it('show: the timeline of the failed message includes its DSN to the sender', async () => {
    const t = await traffic('show', failed);
    const events = (t.events as Json[]).map((e) => e.event);
    assert.deepEqual(events.slice(0, 3), ['message', 'delivery', 'bounce']);
    await eventually('the DSN\'s delivery in the timeline', async () => ((await traffic('show', failed)).events as Json[])
      .some((e) => e.event === 'delivery' && e.detail.to === 'statements@bank.test' && e.detail.status === 'delivered') || undefined);
    const text = await run(process.execPath, [join(ROOT, 'bin/mailgw.js'), 'traffic', 'show', failed, '--state-dir', stateDir], { encoding: 'utf8' });
    assert.match(text.stdout, /unknown@corp\.test: failed 5\.1\.1/);
  });

  it('an administrator\'s delete and a refusal at the end of DATA are recorded', async () => {
    await run(process.execPath, [join(ROOT, 'bin/mailgw.js'), 'queue', 'delete', busy, '--state-dir', stateDir]);
    await eventually('deleted', async () => (await traffic('search', '--qid', busy)).items[0]?.status === 'deleted' || undefined);
    assert.ok(((await traffic('show', busy)).events as Json[]).some((e) => e.event === 'admin'), 'the admin action is in the timeline');
    const c = await SmtpDialog.open(g.port, '127.0.0.2');
    await c.begin('loop@bank.test');
    assert.equal((await c.cmd('RCPT TO:<alice@corp.test>')).code, 250);
    assert.equal((await c.cmd('DATA')).code, 354);
    const r = await c.cmd(`${'Received: from a by b; Tue, 8 Dec 2026 09:00:00 +0000\r\n'.repeat(12)}Subject: looping\r\n\r\nx\r\n.`);
    c.close();
    assert.equal(r.code, 554);
    const refused = await eventually('the refusal', async () => (await traffic('search', '--status', 'rejected')).items[0] as Json | undefined);
    assert.equal(refused.sender, 'loop@bank.test');
    assert.match(refused.reply, /5\.4\.6 Too many hops/);
    // A relay attempt refused at RCPT is recorded too; the transaction never reached DATA.
    const relay = await SmtpDialog.open(g.port, '127.0.0.2');
    await relay.begin('spammer@evil.test');
    assert.equal((await relay.cmd('RCPT TO:<victim@elsewhere.test>')).code, 554);
    relay.close();
    const attempt = await eventually('the relay attempt', async () => (await traffic('search', '--sender', 'spammer@evil.test')).items[0] as Json | undefined);
    assert.equal(attempt.status, 'rejected');
    assert.deepEqual(attempt.recipients.map((r: Json) => [r.address, r.status]), [['victim@elsewhere.test', 'rejected']]);
  });

  it('bad queries are refused with the parameter named, exit 2', async () => {
    await assert.rejects(traffic('search', '--status', 'lost'), (err: Error & { code?: number; stderr?: string }) => err.code === 2 && /status: one of/.test(err.stderr ?? ''));
    await assert.rejects(traffic('search', '--since', 'yesterday'), (err: Error & { code?: number; stderr?: string }) => err.code === 2 && /--since: a duration ago/.test(err.stderr ?? ''));
  });

  it('outlives a restart; switched off, nothing is recorded and search says so', async () => {
    await g.close();
    g = await startGateway(config, stateDir, '127.0.0.1', { deliver: true });
    assert.deepEqual(ids(await traffic('search', '--sender', 'statements@bank.test')), [failed, delivered]);
    const offDir = tempDir('mailgw-traffic-off-');
    const off = await startGateway({ ...config, trafficLog: { ...config.trafficLog, enabled: false } }, offDir);
    try {
      await submit(off.port, { from: 'statements@bank.test', to: 'alice@corp.test', source: '127.0.0.2' });
      assert.equal(existsSync(join(offDir, 'traffic')), false);
      await assert.rejects(run(process.execPath, [join(ROOT, 'bin/mailgw.js'), 'traffic', 'search', '--state-dir', offDir], { encoding: 'utf8' }),
        (e: Error & { code?: number; stderr?: string }) => e.code === 1 && /the traffic log is off/.test(e.stderr ?? ''));
    } finally {
      await off.close();
    }
  });
});
