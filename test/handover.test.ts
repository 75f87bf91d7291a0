/**
 * No stranded mail on scale-down: a gateway that leaves for good tries its
 * queue once more, then hands what is left to a peer gateway's handover
 * listener and exits with an empty spool; the peer keeps each message's
 * arrival time, held flag and DSN parameters and delivers when the next hop
 * returns. In Kubernetes mode the gateway asks its StatefulSet (here on a real
 * kube-apiserver, as the pod's ServiceAccount) whether its ordinal is being
 * scaled away; a restart keeps the queue on the pod's volume.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { buildConfig, tempDir } from './helpers/config.ts';
import { closedPort } from './helpers/ports.ts';
import { queueCli, queueEntries, startMailgw, type MailgwProcess } from './helpers/mailgw-process.ts';
import { startSink } from './helpers/sink.ts';
import { submit } from './helpers/submit.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';
import { eventually } from './helpers/wait.ts';
import { Spool } from '../gateway/spool/spool.ts';
import { workerStateDir } from '../gateway/workers/worker-layout.ts';
import { mailGateway } from '../api/index.ts';
import { render } from '../operator/render.ts';
import { startCluster, withoutCluster, type Cluster } from './helpers/cluster.ts';

const TOKEN = 'test-handover-token-0123456789abcdef';

interface QueueEntry { id: string; arrival: string; held: boolean; attempts: number; recipients: { address: string; status: string }[] }

const queueOf = (stateDir: string) => queueEntries<QueueEntry>(stateDir);

describe('handover on scale-down', () => {
  let dir: string;
  let internalPort: number;
  let configFile: string;
  let peer: MailgwProcess;
  let peerState: string;
  let peerHandoverPort: number;

  const gatewayArgs = (stateDir: string, extra: string[]) => ['gateway', '--config', configFile, '--listen', '127.0.0.1:0', '--state-dir', stateDir,
    '--handover-listen', '127.0.0.1:0', '--handover-token-file', join(dir, 'token'), '--handover-drain', '2s', '--handover-time', '20s', ...extra];

  before(async () => {
    dir = tempDir('mailgw-handover-');
    writeFileSync(join(dir, 'token'), `${TOKEN}\n`);
    internalPort = await closedPort();
    configFile = join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify(buildConfig({
      spec: { integration: 'BehindEdgeGateway', queue: { minBackoff: '1s', maxBackoff: '2s' } },
      domains: [{ domain: 'example.com', routing: { host: '127.0.0.1', port: internalPort } }],
      networks: ['127.0.0.1/32'],
    })));
    peerState = join(dir, 'peer');
    // The peer's own static peer list is never used here: it is not stopped until the end.
    peer = await startMailgw(gatewayArgs(peerState, ['--handover-peers', '127.0.0.1:1', '--metrics-address', '127.0.0.1:0']));
    peerHandoverPort = (await peer.waitFor('handover-listening')).port as number;
  });
  after(async () => {
    peer.proc.kill('SIGKILL');
    await peer.exited;
  });

  /** Queues `n` messages on a gateway whose next hop is down and waits until each has failed once. */
  async function queueDeferred(gw: MailgwProcess, stateDir: string, n: number, tag: string): Promise<Map<string, string>> {
    const sent = new Map<string, string>();
    for (let i = 0; i < n; i++) {
      const to = i % 3 === 0 ? ['alice@example.com', 'bob@example.com'] : ['alice@example.com'];
      const qid = await submit(gw.port, {
        from: 'sender@partner.test', to, subject: `${tag} ${i}`, text: `${tag} body ${i}`,
        ...(i === 1 ? { dsn: { ret: 'HDRS', envid: `env-${tag}`, notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;orig@example.com' } } : {}),
      });
      sent.set(`${tag} ${i}`, qid);
    }
    await eventually(`${n} messages deferred`, async () => {
      const q = await queueOf(stateDir);
      return q.length === n && q.every((m) => m.attempts >= 1);
    }, 20_000, 200);
    return sent;
  }

  it('moves a deferred queue to the peer on a final stop; the peer delivers it when the next hop returns', { timeout: 90_000 }, async () => {
    const state = join(dir, 'retiring');
    const gw = await startMailgw(gatewayArgs(state, ['--handover-peers', `127.0.0.1:${peerHandoverPort}`]));
    const sent = await queueDeferred(gw, state, 9, 'static');
    const before = await queueOf(state);
    const heldId = before[2]!.id;
    assert.equal((await queueCli(state, 'hold', heldId)).status, 0);

    gw.proc.kill('SIGTERM');
    assert.equal(await gw.exited, 0, 'exits 0 with nothing left behind');
    const retired = gw.lines.find((l) => l.event === 'retired')!;
    assert.deepEqual([retired.handedOver, retired.left], [9, 0], JSON.stringify(retired));
    const spool = await Spool.open(join(state, 'spool'));
    assert.equal(spool.size, 0, 'the retiring gateway\'s spool is empty');
    await spool.close();

    // At the peer: same messages, same arrival (the lifetime runs on), still held where held, attempts carried over.
    const moved = await queueOf(peerState);
    assert.equal(moved.length, 9);
    for (const m of before) {
      const there = moved.find((x) => x.id === m.id);
      assert.ok(there, `${m.id} kept its queue id at the peer`);
      assert.equal(there.arrival, m.arrival, `${m.id} kept its arrival time`);
      assert.ok(there.attempts >= m.attempts, `${m.id} kept its attempts`);
      assert.equal(there.held, m.id === heldId, `${m.id} held state carried over`);
    }

    const metricsPort = (await peer.waitFor('metrics-listening')).port as number;
    const scraped = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(scraped, /mailgw_gateway_handover_messages_total\{direction="in",result="queued"\} 9\b/);

    const internal = await startSink({ port: internalPort });
    try {
      // 8 messages not held, 3 of them with two recipients: 11 deliveries; the held one waits.
      await internal.waitFor(8, 30_000);
      assert.equal((await queueCli(peerState, 'release', heldId)).status, 0);
      await internal.waitFor(9, 30_000);
      await eventually('the peer\'s queue drains', async () => (await queueOf(peerState)).length === 0, 20_000, 200);
      const subjects = internal.messages.map((m) => /Subject: (.*)\r\n/.exec(m.raw.toString('latin1'))?.[1]);
      assert.deepEqual([...subjects].sort(), [...sent.keys()].sort(), 'each message delivered exactly once');
      const withDsn = internal.messages.find((m) => m.raw.toString('latin1').includes('Subject: static 1\r\n'))!;
      assert.equal(withDsn.mailArgs.RET, 'HDRS');
      assert.equal(withDsn.mailArgs.ENVID, 'env-static');
      assert.deepEqual(withDsn.rcptDsn['alice@example.com']?.notify, ['SUCCESS', 'FAILURE']);
      for (const m of internal.messages) assert.equal((m.raw.toString('latin1').match(/^Received: /gm) ?? []).length, 1, 'the handover adds no Received header');
      assert.equal(internal.messages.filter((m) => m.to.length === 2).length, 3);
    } finally {
      await internal.close();
    }
  });

  it('a pod with two workers hands over every worker\'s queue', { timeout: 90_000 }, async (t) => {
    const state = join(dir, 'retiring-workers');
    const gw = await startMailgw(gatewayArgs(state, ['--handover-peers', `127.0.0.1:${peerHandoverPort}`, '--workers', '2']));
    // A failed assertion must not leave the pod running (the test file would never end).
    t.after(async () => {
      if (gw.proc.exitCode === null && gw.proc.signalCode === null) {
        gw.proc.kill('SIGKILL');
        await gw.exited;
      }
    });
    // Each submission is a connection of its own: the kernel spreads them over both workers.
    const sent = await queueDeferred(gw, state, 16, 'workers');
    const byWorker = new Set(gw.lines.filter((l) => l.event === 'message' && l.code === 250).map((l) => l.worker));
    assert.deepEqual([...byWorker].sort(), [0, 1], 'both workers took mail');
    gw.proc.kill('SIGTERM');
    assert.equal(await gw.exited, 0, 'exits 0 with nothing left behind');
    const retired = gw.lines.filter((l) => l.event === 'retired');
    assert.deepEqual(retired.map((l) => l.worker).sort(), [0, 1], 'each worker retired');
    assert.equal(retired.reduce((n, l) => n + (l.handedOver as number), 0), 16);
    assert.equal(retired.reduce((n, l) => n + (l.left as number), 0), 0);
    for (const w of [0, 1]) {
      const spool = await Spool.open(join(workerStateDir(state, w), 'spool'));
      assert.equal(spool.size, 0, `worker ${w}'s spool is empty`);
      await spool.close();
    }
    const atPeer = await queueOf(peerState);
    assert.deepEqual(new Set(atPeer.map((m) => m.id)), new Set(sent.values()), 'the peer holds each of them, once');
    for (const m of atPeer) assert.equal((await queueCli(peerState, 'delete', m.id)).status, 0);
  });

  it('refuses sessions without the token, and relays nothing through the handover port', { timeout: 30_000 }, async () => {
    const c = await SmtpDialog.open(peerHandoverPort);
    try {
      assert.equal((await c.read(5000))?.code, 220);
      assert.equal((await c.cmd('EHLO intruder.test')).code, 250);
      assert.equal((await c.cmd('MAIL FROM:<x@intruder.test>')).code, 530, 'authentication required');
      const bad = Buffer.from(`\0mailgw-handover\0wrong-token-wrong-token`).toString('base64');
      assert.equal((await c.cmd(`AUTH PLAIN ${bad}`)).code, 535);
      const ok = Buffer.from(`\0mailgw-handover\0${TOKEN}`).toString('base64');
      assert.equal((await c.cmd(`AUTH PLAIN ${ok}`)).code, 235);
      assert.equal((await c.cmd('MAIL FROM:<x@intruder.test>')).code, 250);
      assert.equal((await c.cmd('RCPT TO:<victim@elsewhere.test>')).code, 250);
      assert.equal((await c.cmd('DATA')).code, 354);
      c.write('Subject: no handover line\r\n\r\nplain mail is not a handover\r\n.\r\n');
      assert.equal((await c.read(5000))?.code, 554, 'a message without the handover line is refused');
    } finally {
      c.close();
    }
    assert.equal((await queueOf(peerState)).length, 0, 'nothing queued');
  });

  describe('in Kubernetes (the StatefulSet read from a real kube-apiserver)', () => {
    let cluster: Cluster | undefined;
    let podKubeconfig = '';
    before(async () => {
      cluster = await startCluster();
      if (!cluster) return;
      cluster.kubectl('create', 'namespace', 'mail');
      // The objects the operator renders for a 2-replica gateway: the StatefulSet, and the pods' ServiceAccount and Role.
      const gw = mailGateway.parse({ apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw', namespace: 'mail' }, spec: { integration: 'BehindEdgeGateway', relayHost: { host: '192.0.2.1' }, replicas: 2 } });
      execFileSync(join(cluster.bin, 'kubectl'), ['--kubeconfig', cluster.kubeconfig, 'apply', '--server-side', '-f', '-'], { input: render(gw, [], []).objects.map((o) => JSON.stringify(o)).join('\n'), stdio: ['pipe', 'ignore', 'inherit'] });
      podKubeconfig = cluster.serviceAccountKubeconfig('mail', 'gw-gateway');
    });
    after(async () => {
      await cluster?.stop();
    });

    it('keeps the queue on a restart (ordinal below replicas) and hands it over once scaled down', { timeout: 90_000 }, async (t) => {
      if (withoutCluster(t, cluster)) return;
      const state = join(dir, 'pod-1');
      // As the pod runs: its own ServiceAccount's token, so the Role the operator gave it is what allows the read.
      const env = { POD_NAME: 'gw-gateway-1', POD_NAMESPACE: 'mail', KUBECONFIG: podKubeconfig };
      const args = gatewayArgs(state, ['--handover-statefulset', 'gw-gateway', '--handover-peer-address', `127.0.0.1:${peerHandoverPort}`]);
      let gw = await startMailgw(args, env);
      await queueDeferred(gw, state, 4, 'k8s');
      gw.proc.kill('SIGTERM');
      assert.equal(await gw.exited, 0);
      assert.match(String(gw.lines.find((l) => l.event === 'retire-check')?.reason), /ordinal 1 < replicas 2: a restart/);
      assert.equal(gw.lines.filter((l) => l.event === 'handed-over').length, 0);

      gw = await startMailgw(args, env);
      assert.equal(gw.lines.find((l) => l.event === 'spool-recovered')?.messages, 4, 'the queue stayed for the next start');
      cluster!.kubectl('scale', 'statefulset', 'gw-gateway', '-n', 'mail', '--replicas=1');
      gw.proc.kill('SIGTERM');
      assert.equal(await gw.exited, 0);
      assert.match(String(gw.lines.find((l) => l.event === 'retire-check')?.reason), /ordinal 1 >= replicas 1: scaled down/);
      assert.equal(gw.lines.find((l) => l.event === 'retired')?.handedOver, 4);
      assert.equal((await queueOf(peerState)).length, 4, 'the peer has them');
    });
  });
});
