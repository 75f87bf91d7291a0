/**
 * The console over two gateway pods (issue 17, acceptance 2): two `mailgw
 * gateway` processes, each with its operations API (--ops-listen, fixed
 * tokens), and `mailgw console` in front of them. The console lists
 * messages and queue entries from both, merged newest first and paged;
 * actions reach the pod that holds the message, and that pod decides who
 * may act; with one pod stopped the answer is partial and says which pod
 * did not answer.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildConfig, tempDir } from './helpers/config.ts';
import { startMailgw, type MailgwProcess } from './helpers/mailgw-process.ts';
import { refuse, startSink, type Sink } from './helpers/sink.ts';
import { submit } from './helpers/submit.ts';
import { eventually } from './helpers/wait.ts';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { StaticDirectory, startConsole } from '../console/console-server.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const OPERATOR = 'console-operator-token-0123456789';
const VIEWER = 'console-viewer-token-0123456789';

describe('console over two gateway pods', () => {
  let internal: Sink;
  const pods: MailgwProcess[] = [];
  let console_: MailgwProcess;
  let base: string;
  const get = async (path: string, token = VIEWER) => {
    const r = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: r.status, body: (await r.json()) as Json };
  };

  before(async () => {
    internal = await startSink({ rcpt: (a) => (a.startsWith('busy') ? refuse(451, '4.2.1 Mailbox busy') : null) });
    const dir = tempDir('mailgw-console-');
    writeFileSync(join(dir, 'tokens'), `# test tokens\n${OPERATOR} ops-alice view,operate,release\n${VIEWER} ops-victor view\n`);
    const config = buildConfig({
      spec: { integration: 'Direct', recipientVerification: { mode: 'DoNotReject' }, tls: { outbound: { mode: 'None' } }, queue: { minBackoff: '1h', maxBackoff: '2h', lifetime: '5h' } },
      domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: internal.port } }],
    });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    const urls: string[] = [];
    for (const i of [0, 1]) {
      const p = await startMailgw(['gateway', '--config', join(dir, 'config.json'), '--listen', '127.0.0.1:0', '--state-dir', join(dir, `state-${i}`), '--ops-listen', '127.0.0.1:0', '--ops-token-file', join(dir, 'tokens')]);
      pods.push(p);
      urls.push(`http://127.0.0.1:${String((await p.waitFor('ops-listening')).port)}`);
    }
    console_ = await startMailgw(['console', '--pods', `mail/gw=${urls.join(',')}`, '--listen', '127.0.0.1:0']);
    base = `http://127.0.0.1:${console_.port}`;
  });
  after(async () => {
    for (const p of [...pods, console_]) {
      if (p && p.proc.exitCode === null) {
        p.proc.kill('SIGTERM');
        await p.exited;
      }
    }
    await internal.close();
  });

  const qids: Record<string, string> = {};
  it('lists the gateway and both pods; messages from both, merged newest first, page by page', async () => {
    assert.deepEqual((await get('/api/gateways')).body, [{ namespace: 'mail', name: 'gw', pods: ['gw-0', 'gw-1'] }]);
    for (const [i, who] of [[0, 'a'], [1, 'b'], [0, 'c'], [1, 'd']] as const) {
      qids[who] = await submit(pods[i]!.port, { from: `${who}@bank.test`, to: `${who}@corp.test`, subject: `message ${who}`, source: '127.0.0.2' });
      await new Promise((r) => setTimeout(r, 5)); // distinct arrival times
    }
    qids.busy0 = await submit(pods[0]!.port, { from: 'n@shop.test', to: 'busy@corp.test', source: '127.0.0.2' });
    qids.busy1 = await submit(pods[1]!.port, { from: 'n@shop.test', to: 'busy@corp.test', source: '127.0.0.2' });
    await internal.waitFor(4);
    const all = await eventually('six messages in the merged log', async () => {
      const r = await get('/api/gateways/mail/gw/traffic');
      return r.body.items?.length === 6 ? r.body : undefined;
    });
    assert.equal(all.partial, false);
    assert.deepEqual(all.pods, [{ pod: 'gw-0', ok: true, status: 200 }, { pod: 'gw-1', ok: true, status: 200 }]);
    const received = (all.items as Json[]).map((m) => m.received as number);
    assert.deepEqual(received, [...received].sort((x, y) => y - x), 'newest first');
    assert.deepEqual(new Set((all.items as Json[]).map((m) => m.pod)), new Set(['gw-0', 'gw-1']));
    const first = (await get('/api/gateways/mail/gw/traffic?limit=4')).body;
    assert.equal(first.items.length, 4);
    const second = (await get(`/api/gateways/mail/gw/traffic?limit=4&cursor=${encodeURIComponent(first.next)}`)).body;
    assert.deepEqual([...first.items, ...second.items].map((m: Json) => m.qid), (all.items as Json[]).map((m) => m.qid), 'two pages give the whole list once');
    assert.equal(second.next, undefined);
    const bySender = (await get('/api/gateways/mail/gw/traffic?sender=b%40bank.test')).body;
    assert.deepEqual(bySender.items.map((m: Json) => [m.qid, m.pod, m.status]), [[qids.b, 'gw-1', 'delivered']]);
  });

  it('the queues of both pods; an action goes to the pod that holds the message, which decides who may act', async () => {
    const q = (await get('/api/gateways/mail/gw/queue')).body;
    assert.deepEqual((q.items as Json[]).map((e) => [e.id, e.pod]).sort(), [[qids.busy0, 'gw-0'], [qids.busy1, 'gw-1']].sort());
    const hold = (token: string, csrf = true) => fetch(`${base}/api/gateways/mail/gw/pods/gw-1/v1/queue/${qids.busy1}/hold`, { method: 'POST', headers: { authorization: `Bearer ${token}`, ...(csrf ? { 'x-mailgw-console': '1' } : {}) } }).then((r) => r.status);
    assert.equal(await hold(OPERATOR, false), 403, 'an action without the console\'s header (a cross-site form) is refused');
    assert.equal(await hold(VIEWER), 403);
    assert.equal(await hold(OPERATOR), 200);
    const timeline = (await get(`/api/gateways/mail/gw/pods/gw-1/v1/traffic/${qids.busy1}`)).body;
    assert.ok((timeline.events as Json[]).some((e) => e.event === 'admin' && e.detail.actor === 'ops-alice'));
    assert.equal((await get('/api/gateways/mail/gw/pods/gw-9/v1/queue')).status, 404);
    assert.equal((await fetch(`${base}/api/gateways`)).status, 401);
    assert.equal((await get('/api/gateways/mail/gw/traffic', 'a-token-nobody-knows-0123')).status, 401, 'every pod refusing the caller is a refusal, not a partial answer');
  });

  it('each pod\'s health and load, and the running config', async () => {
    const s = (await get('/api/gateways/mail/gw/status')).body;
    assert.deepEqual((s.items as Json[]).map((p) => [p.pod, p.ready, p.trafficLog]), [['gw-0', 'ready', true], ['gw-1', 'ready', true]]);
    assert.equal((s.items as Json[])[0]!.queue.byState.deferred, 1, 'gw-0 has one deferred message');
    const c = (await get('/api/gateways/mail/gw/config')).body;
    assert.equal(c.config.hostname, 'mx.gateway.test');
    assert.equal(c.pod, 'gw-0');
  });

  it('without built pages the console says how to build them; the API still answers', async () => {
    const bare = await startConsole({ host: '127.0.0.1', port: 0, directory: StaticDirectory.parse('mail/gw=http://127.0.0.1:9'), logger: pino({ level: 'silent' }), pages: new Map() });
    try {
      const at = `http://127.0.0.1:${(bare.address() as AddressInfo).port}`;
      const page = await fetch(`${at}/`);
      assert.equal(page.status, 404);
      assert.match(((await page.json()) as Json).error, /npm run build:console/);
      assert.equal((await fetch(`${at}/api/gateways`, { headers: { authorization: `Bearer ${VIEWER}` } })).status, 200);
    } finally {
      bare.close();
    }
  });

  it('one pod stopped: the other pod\'s results, marked partial, naming the pod that did not answer', async () => {
    pods[1]!.proc.kill('SIGTERM');
    await pods[1]!.exited;
    const r = (await get('/api/gateways/mail/gw/traffic')).body;
    assert.equal(r.partial, true);
    assert.equal(r.pods[0].ok, true);
    assert.equal(r.pods[1].pod, 'gw-1');
    assert.equal(r.pods[1].ok, false);
    assert.match(r.pods[1].error, /fetch failed|ECONNREFUSED|no answer/);
    assert.deepEqual(new Set((r.items as Json[]).map((m) => m.pod)), new Set(['gw-0']));
    assert.equal(r.items.length, 3);
    const q = (await get('/api/gateways/mail/gw/queue')).body;
    assert.equal(q.partial, true);
    assert.deepEqual((q.items as Json[]).map((e) => e.pod), ['gw-0']);
  });
});
