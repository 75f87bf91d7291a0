/**
 * The operations API (issue 17) on a real gateway with real mail in it:
 * bearer tokens, permissions checked server-side for every request (a
 * viewer may look, not act), queue hold/release and backup release by an
 * operator with each action in the message's timeline, a backup shown as
 * headers and text (never raw), answers a browser cannot run; and
 * `mailgw up --console` printing its two tokens.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { buildConfig, startGateway, tempDir, type Running } from './helpers/config.ts';
import { refuse, startSink, type Sink } from './helpers/sink.ts';
import { submit } from './helpers/submit.ts';
import { eventually } from './helpers/wait.ts';
import { StaticTokens } from '../gateway/admin/ops-server.ts';
import { ensureConsolePages } from './helpers/console-pages.ts';

const ROOT = new URL('..', import.meta.url).pathname;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const OPERATOR = 'operator-token-0123456789abcdef';
const VIEWER = 'viewer-token-0123456789abcdef';

describe('operations API', () => {
  let internal: Sink;
  let g: Running;
  let base: string;
  const api = async (method: string, path: string, token?: string) => {
    const res = await fetch(`${base}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Json };
  };

  before(async () => {
    internal = await startSink({ rcpt: (a) => (a.startsWith('busy') ? refuse(451, '4.2.1 Mailbox busy') : null) });
    g = await startGateway(buildConfig({
      spec: {
        integration: 'Direct', recipientVerification: { mode: 'DoNotReject' }, tls: { outbound: { mode: 'None' } },
        queue: { minBackoff: '1h', maxBackoff: '2h', lifetime: '5h' }, defaultRule: { backup: true },
      },
      domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: internal.port } }],
    }), undefined, '127.0.0.1', {
      deliver: true,
      ops: new StaticTokens([
        { token: OPERATOR, user: 'ops-alice', permissions: ['view', 'operate', 'release'] },
        { token: VIEWER, user: 'ops-victor', permissions: ['view'] },
      ]),
    });
    const at = g.gateway.opsAddress!;
    base = `http://${at.host}:${at.port}`;
  });
  after(async () => {
    await g?.close();
    await internal.close();
  });

  it('no token or a wrong one: 401 with WWW-Authenticate, before anything else is said', async () => {
    for (const token of [undefined, 'wrong-token']) {
      for (const path of ['/v1/traffic', '/v1/nothing-here']) {
        const r = await api('GET', path, token);
        assert.equal(r.status, 401, `${path} with ${token}`);
        assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="mailgw"');
      }
    }
  });

  let busyQid: string;
  it('a viewer sees the traffic log, queue and backups, and is refused every action (403, logged)', async () => {
    await submit(g.port, { from: 'statements@bank.test', to: 'alice@corp.test', subject: '<script>alert(1)</script> <img src=x onerror=alert(2)>', source: '127.0.0.2' });
    busyQid = await submit(g.port, { from: 'news@shop.test', to: 'busy@corp.test', subject: 'Offers', source: '127.0.0.2' });
    await internal.waitFor(1);
    await eventually('the deferral', () => g.gateway.runtime.spool.get(busyQid)?.state?.rcpts[0]?.status === 'deferred' || undefined);
    const traffic = await api('GET', '/v1/traffic?sender=statements%40bank.test', VIEWER);
    assert.equal(traffic.status, 200);
    assert.equal(traffic.body.items[0].subject, '<script>alert(1)</script> <img src=x onerror=alert(2)>', 'data as it came: the console renders it inert');
    assert.equal(traffic.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(traffic.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(traffic.headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'");
    assert.equal(traffic.headers.get('cache-control'), 'no-store');
    assert.equal((await api('GET', '/v1/queue', VIEWER)).body.length, 1);
    const backups = (await api('GET', '/v1/backup', VIEWER)).body as unknown as Json[];
    assert.equal(backups.length, 2);
    for (const [method, path] of [['POST', `/v1/queue/${busyQid}/hold`], ['DELETE', `/v1/queue/${busyQid}`], ['POST', '/v1/queue/flush'], ['POST', `/v1/backup/${backups[0]!.id}/release`], ['DELETE', `/v1/backup/${backups[0]!.id}`]] as const) {
      const r = await api(method, path, VIEWER);
      assert.equal(r.status, 403, `${method} ${path}`);
      assert.match(r.body.error, /^ops-victor may not (operate|release)/);
    }
    assert.equal(g.gateway.runtime.spool.get(busyQid)?.state?.held ?? false, false, 'nothing happened');
    assert.equal(g.log.lines.filter((l) => l.event === 'admin-denied' && l.actor === 'ops-victor').length, 5);
    assert.equal((await api('GET', '/v1/nothing-here', VIEWER)).status, 404);
  });

  it('an operator holds and releases a queued message; each action is in its timeline with who did it', async () => {
    assert.equal((await api('POST', `/v1/queue/${busyQid}/hold`, OPERATOR)).status, 200);
    assert.equal(g.gateway.runtime.spool.get(busyQid)?.state?.held, true);
    assert.equal((await api('POST', `/v1/queue/${busyQid}/release`, OPERATOR)).status, 200);
    assert.equal(g.gateway.runtime.spool.get(busyQid)?.state?.held, false);
    const t = await eventually('the actions in the timeline', async () => {
      const body = (await api('GET', `/v1/traffic/${busyQid}`, VIEWER)).body;
      return (body.events as Json[]).filter((e) => e.event === 'admin').length === 2 ? body : undefined;
    });
    assert.deepEqual((t.events as Json[]).filter((e) => e.event === 'admin').map((e) => [e.detail.actor, e.detail.action]), [
      ['ops-alice', `POST /v1/queue/${busyQid}/hold`], ['ops-alice', `POST /v1/queue/${busyQid}/release`],
    ]);
  });

  it('a backup is shown as headers and text, never raw; an operator releases it and it is delivered', async () => {
    const [b] = ((await api('GET', '/v1/backup', VIEWER)).body as unknown as Json[]).filter((m) => m.to.includes('alice@corp.test'));
    const view = (await api('GET', `/v1/backup/${b!.id}`, VIEWER)).body;
    assert.equal(view.message, undefined, 'no raw message');
    assert.ok((view.headers as [string, string][]).some(([n, v]) => n === 'subject' && v.startsWith('<script>')));
    assert.match(view.text, /hello/);
    const released = await api('POST', `/v1/backup/${b!.id}/release?to=carol%40corp.test`, OPERATOR);
    assert.equal(released.status, 200);
    const got = await internal.waitFor(2);
    assert.deepEqual(got[1]!.to, ['carol@corp.test']);
    assert.ok(g.log.find((l) => l.event === 'admin' && l.actor === 'ops-alice' && l.backupId === b!.id && l.queued === released.body.queued));
  });
});

it('mailgw up --console serves the console with an operator\'s and a viewer\'s token printed at start', { timeout: 60_000 }, async () => {
  ensureConsolePages();
  const proc = spawn(process.execPath, [join(ROOT, 'bin/mailgw.js'), 'up', '-f', join(ROOT, 'examples/quickstart'), '--listen', '127.0.0.1:0', '--console', '127.0.0.1:0', '--state-dir', tempDir('mailgw-console-')], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const m = await eventually('the tokens on stderr', () => /console on (http:\/\/\S+)\/ .*\n {2}operator token: (\S+)\n {2}viewer token: {3}(\S+)/.exec(err) ?? undefined, 30_000);
    const [, url, operator, viewer] = m;
    const call = (method: string, path: string, token: string) => fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'x-mailgw-console': '1' } });
    const gateways = (await (await call('GET', '/api/gateways', viewer!)).json()) as Json[];
    assert.deepEqual(gateways, [{ namespace: 'default', name: 'quickstart', pods: ['quickstart-0'] }]);
    assert.equal((await call('GET', '/api/gateways/default/quickstart/queue', viewer!)).status, 200);
    assert.equal((await call('POST', '/api/gateways/default/quickstart/pods/quickstart-0/v1/queue/flush', viewer!)).status, 403);
    assert.equal((await call('POST', '/api/gateways/default/quickstart/pods/quickstart-0/v1/queue/flush', operator!)).status, 200);
    const page = await fetch(`${url}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<div id="app">/, 'the pages');
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.notEqual(operator, viewer);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
});

it('the running config shows at most 100 LocalDomains, saying how many there are', async () => {
  const g = await startGateway(buildConfig({ domains: Array.from({ length: 150 }, (_, i) => `d${i}.test`) }), undefined, '127.0.0.1', {
    ops: new StaticTokens([{ token: VIEWER, user: 'viewer', permissions: ['view'] }]),
  });
  try {
    const at = g.gateway.opsAddress!;
    const c = (await (await fetch(`http://${at.host}:${at.port}/v1/config`, { headers: { authorization: `Bearer ${VIEWER}` } })).json()) as Json;
    assert.equal(c.localDomains.length, 100);
    assert.equal(c.localDomainsShown, '100 of 150');
    assert.equal(c.hostname, 'mx.gateway.test');
  } finally {
    await g.close();
  }
});
