/**
 * The autopilot (spec.autoscaling, mode Operator) on a real kube-apiserver
 * with the StatefulSet controller: the operator reads the gateway pods' own
 * metrics and scales the StatefulSet.
 *
 * There is no kubelet here, so this test plays it: for each Pod the
 * StatefulSet controller creates it runs `mailgw gateway` from the rendered
 * ConfigMaps on a loopback address of its own (127.0.0.1N for ordinal N),
 * sets the Pod Running and Ready with that address, and on a Pod's deletion
 * stops its gateway with SIGTERM (which, scaled away, hands its queue over)
 * and then removes the Pod, as a kubelet would after the grace period.
 *
 * Load (a slow next hop, many messages) → the backlog grows → up to
 * maxReplicas; idle → down one pod at a time, each handing its deferred
 * queue to the pods that stay; every message accepted on the way is
 * delivered exactly once.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, startInstalledOperator, withoutCluster, type Cluster, CLUSTER_SUITE } from '../helpers/cluster.ts';
import { ConfigMapVolume } from '../helpers/configmap-volume.ts';
import { tempDir } from '../helpers/config.ts';
import { startMailgw, type MailgwProcess } from '../helpers/mailgw-process.ts';
import { closedPort } from '../helpers/ports.ts';
import { refuse, startSink, type Sink } from '../helpers/sink.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { eventually } from '../helpers/wait.ts';
import type { ChildProcess } from 'node:child_process';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const NS = 'mail';
const ipOf = (ordinal: number) => `127.0.0.1${ordinal}`;

/** The kubelet's part, for the gateway's pods only. */
class TestKubelet {
  readonly pods = new Map<string, { gw?: MailgwProcess; starting?: boolean; exitedAt?: number }>();
  readonly exits: { pod: string; at: number; code: number | null; lines: Record<string, unknown>[] }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private configVersion = '';
  readonly volume: ConfigMapVolume;
  private readonly c: Cluster;
  private readonly dir: string;
  readonly ports: { smtp: number; metrics: number; handover: number };
  private readonly podKubeconfig: string;

  constructor(c: Cluster, dir: string, ports: { smtp: number; metrics: number; handover: number }, podKubeconfig: string) {
    this.c = c;
    this.dir = dir;
    this.ports = ports;
    this.podKubeconfig = podKubeconfig;
    this.volume = new ConfigMapVolume(join(dir, 'config'));
  }

  start(): void {
    this.timer = setInterval(() => void this.sync(), 200);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const p of this.pods.values()) if (p.gw && p.gw.proc.exitCode === null) {
      p.gw.proc.kill('SIGKILL');
      await p.gw.exited;
    }
  }

  private async sync(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const cms = ((await this.c.rest('GET', `/api/v1/namespaces/${NS}/configmaps`)).items as Json[]).filter((x) => /^gw-config(-\d+)?$/.test(x.metadata.name));
      const version = cms.map((x) => x.metadata.resourceVersion).join(',');
      if (cms.length > 0 && version !== this.configVersion) {
        this.volume.write(cms);
        this.configVersion = version;
      }
      const pods = (await this.c.rest('GET', `/api/v1/namespaces/${NS}/pods`)).items as Json[];
      for (const pod of pods) {
        const name = pod.metadata.name as string;
        const state = this.pods.get(name) ?? {};
        this.pods.set(name, state);
        if (pod.metadata.deletionTimestamp) {
          if (state.gw && state.gw.proc.exitCode === null && !state.exitedAt) {
            const gw = state.gw;
            state.exitedAt = -1;
            gw.proc.kill('SIGTERM');
            void gw.exited.then((code) => {
              state.exitedAt = Date.now();
              this.exits.push({ pod: name, at: state.exitedAt, code, lines: gw.lines });
              return this.c.kubectl('delete', 'pod', name, '-n', NS, '--grace-period=0', '--force', '--wait=false');
            });
          } else if (!state.gw || state.exitedAt && state.exitedAt > 0) {
            this.c.kubectl('delete', 'pod', name, '-n', NS, '--grace-period=0', '--force', '--wait=false');
            this.pods.delete(name);
          }
          continue;
        }
        if (!state.gw && !state.starting && cms.length > 0) {
          state.starting = true;
          void this.run(name).then((gw) => {
            state.gw = gw;
            state.starting = false;
          });
        }
      }
    } catch {
      // the API server is busy: next round
    } finally {
      this.busy = false;
    }
  }

  private async run(pod: string): Promise<MailgwProcess> {
    const ordinal = Number(/-(\d+)$/.exec(pod)![1]);
    const ip = ipOf(ordinal);
    const gw = await startMailgw(['gateway', '--config', this.volume.dir, '--listen', `${ip}:${this.ports.smtp}`, '--state-dir', join(this.dir, pod),
      '--metrics-address', `${ip}:${this.ports.metrics}`, '--config-poll', '500ms',
      '--handover-listen', `${ip}:${this.ports.handover}`, '--handover-token-file', join(this.dir, 'token'), '--handover-statefulset', 'gw-gateway',
      '--handover-peer-address', `127.0.0.1{ordinal}:${this.ports.handover}`, '--handover-drain', '1s', '--handover-time', '30s'],
    { POD_NAME: pod, POD_NAMESPACE: NS, KUBECONFIG: this.podKubeconfig });
    // Bound to a node, as the scheduler would: a Pod on a node is deleted gracefully (Terminating until its kubelet — this — says it stopped).
    await this.c.rest('POST', `/api/v1/namespaces/${NS}/pods/${pod}/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name: pod }, target: { apiVersion: 'v1', kind: 'Node', name: 'test-kubelet' } });
    this.c.kubectl('patch', 'pod', pod, '-n', NS, '--subresource=status', '--type=merge', '-p', JSON.stringify({
      status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }, { type: 'ContainersReady', status: 'True' }] },
    }));
    return gw;
  }

  /** SMTP addresses of the pods serving now. */
  serving(): string[] {
    return [...this.pods.entries()].filter(([, p]) => p.gw && p.gw.proc.exitCode === null && !p.exitedAt).map(([name]) => ipOf(Number(/-(\d+)$/.exec(name)![1])));
  }
}

/** One session sending `n` messages to `host`, recording the Message-IDs answered 250. */
async function send(host: string, port: number, n: number, tag: string, accepted: Set<string>): Promise<void> {
  let c: SmtpDialog;
  try {
    c = await SmtpDialog.open(port, '127.0.0.1', host);
    if ((await c.begin('load@partner.test')).code !== 250) return c.close();
  } catch {
    return;
  }
  try {
    for (let i = 0; i < n; i++) {
      if (i > 0 && (await c.cmd('MAIL FROM:<load@partner.test>')).code !== 250) return;
      if ((await c.cmd('RCPT TO:<user@corp.test>')).code !== 250) return;
      if ((await c.cmd('DATA')).code !== 354) return;
      const id = `<${tag}-${i}-${Math.random().toString(36).slice(2)}@autopilot.test>`;
      c.write(`Message-ID: ${id}\r\nSubject: ${tag}\r\n\r\nbody\r\n.\r\n`);
      if ((await c.read(10_000))?.code === 250) accepted.add(id);
    }
  } catch {
    // the pod went away: what was acknowledged is recorded
  } finally {
    c.close();
  }
}

describe('autopilot on a real kube-apiserver', CLUSTER_SUITE, () => {
  let cluster: Cluster | undefined;
  let op: { proc: ChildProcess; lines: Record<string, unknown>[] } | undefined;
  let kubelet: TestKubelet | undefined;
  let sink: Sink | undefined;
  let down = false;
  const dir = tempDir('mailgw-autopilot-');

  before(async () => {
    cluster = await startCluster({ controllerManager: ['statefulset-controller', 'garbage-collector-controller'] });
    if (!cluster) return;
    const ports = { smtp: await closedPort(), metrics: await closedPort(), handover: await closedPort() };
    op = await startInstalledOperator(cluster, [NS], 'autopilot', '--autoscale-interval', '1s', '--gateway-metrics-port', String(ports.metrics));
    // A slow next hop: 20 deliveries at a time per pod, a second each (20 messages a second per pod); refusing (451) while `down`.
    sink = await startSink({ dataDelayMs: 1000, rcpt: () => (down ? refuse(451, '4.3.0 try later') : null) });
    const c = cluster;
    await c.rest('POST', `/apis/mailgw.io/v1alpha1/namespaces/${NS}/mailgateways`, {
      apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw' },
      spec: {
        integration: 'BehindEdgeGatewayNoRecipientVerification', relayHost: { host: '192.0.2.1' },
        limits: { pregreetDelay: '0' }, queue: { minBackoff: '1s', maxBackoff: '2s' },
        resources: { requests: { cpu: '1' } },
        autoscaling: { minReplicas: 1, maxReplicas: 3, targetQueueAge: '1s', targetCPUUtilization: 90, scaleUpStabilization: '0s', scaleDownStabilization: '3s' },
      },
    });
    await c.rest('POST', `/apis/mailgw.io/v1alpha1/namespaces/${NS}/localdomains`, {
      apiVersion: 'mailgw.io/v1alpha1', kind: 'LocalDomain', metadata: { name: 'corp' }, spec: { gatewayRef: { name: 'gw' }, domain: 'corp.test', routing: { host: '127.0.0.1', port: sink.port } },
    });
    // The handover token the operator created (the test reads it as the kubelet mounts it).
    const secret = await eventually('the handover token', async () => (await c.rest('GET', `/api/v1/namespaces/${NS}/secrets/gw-handover`).catch(() => undefined)) as Json | undefined, 30_000, 200);
    writeFileSync(join(dir, 'token'), Buffer.from(secret.data.token, 'base64'));
    kubelet = new TestKubelet(c, dir, ports, c.serviceAccountKubeconfig(NS, 'gw-gateway'));
    kubelet.start();
  });
  after(async () => {
    await kubelet?.stop();
    op?.proc.kill('SIGKILL');
    await sink?.close();
    await cluster?.stop();
  });
  const skip = (t: TestContext) => withoutCluster(t, cluster);
  const autoscaling = async () => ((await cluster!.rest('GET', `/apis/mailgw.io/v1alpha1/namespaces/${NS}/mailgateways/gw`)).status?.autoscaling ?? {}) as Json;
  const stsReplicas = async () => (await cluster!.rest('GET', `/apis/apps/v1/namespaces/${NS}/statefulsets/gw-gateway`)).spec.replicas as number;
  const accepted = new Set<string>();

  it('load: the backlog grows, the pods go up to maxReplicas', { timeout: 240_000 }, async (t) => {
    if (skip(t)) return;
    await eventually('minReplicas: one pod serving', () => kubelet!.serving().length === 1, 60_000, 200);
    assert.equal(await stsReplicas(), 1);
    // Bounded: at most 40 rounds of 10 sessions × 10 messages, spread over the pods serving at each round.
    for (let round = 0; round < (process.env.AP_ROUNDS ? Number(process.env.AP_ROUNDS) : 40) && (await autoscaling()).replicas !== 3; round++) {
      const hosts = kubelet!.serving();
      await Promise.all(Array.from({ length: 10 }, (_, i) => send(hosts[i % hosts.length]!, kubelet!.ports.smtp, 10, `load${round}`, accepted)));
    }
    const a = await autoscaling();
    assert.equal(a.replicas, 3, `${JSON.stringify(a)}; operator: ${JSON.stringify(op!.lines.filter((l) => /autoscal/.test(String(l.event))).slice(-3))}; pods: ${JSON.stringify(((await cluster!.rest('GET', `/api/v1/namespaces/${NS}/pods`)).items as Json[]).map((p) => [p.metadata.name, p.status]))}`);
    await eventually('three pods serving', () => kubelet!.serving().length === 3, 90_000, 200);
    assert.equal(await stsReplicas(), 3);
    const ups = op!.lines.filter((l) => l.event === 'autoscaled');
    assert.ok(ups.length >= 1 && ups.every((l) => (l.to as number) > (l.from as number)), JSON.stringify(ups));
    assert.match(String(ups[0]!.reason), /^scaled up: backlog/);
    // Each of the three takes mail.
    for (const host of kubelet!.serving()) await send(host, kubelet!.ports.smtp, 5, 'three', accepted);
  });

  it('idle: down one pod at a time, each handing its queue over; every message accepted is delivered exactly once', { timeout: 300_000 }, async (t) => {
    if (skip(t) || !kubelet || kubelet.serving().length !== 3) return;
    // The next hop refuses for now: what the pods hold when they are scaled away must be handed over.
    down = true;
    for (const host of kubelet.serving()) await send(host, kubelet.ports.smtp, 10, 'deferred', accepted);
    await eventually('scaled down to minReplicas', async () => (await autoscaling()).replicas === 1 && (await stsReplicas()) === 1, 180_000, 500);
    await eventually('only pod 0 serves', () => kubelet!.serving().length === 1 && kubelet!.exits.length === 2, 60_000, 200).catch((err: Error) => {
      const state = [...kubelet!.pods.entries()].map(([name, p]) => [name, p.exitedAt, p.gw?.proc.exitCode, p.gw?.lines.filter((l) => /retir|handover|shutdown/.test(String(l.event))).slice(-4)]);
      throw new Error(`${err.message}: exits ${JSON.stringify(kubelet!.exits.map((e) => [e.pod, e.code]))}; pods ${JSON.stringify(state)}`);
    });
    const downs = op!.lines.filter((l) => l.event === 'autoscaled' && (l.to as number) < (l.from as number));
    assert.deepEqual(downs.map((l) => [l.from, l.to]), [[3, 2], [2, 1]], 'one pod at a time');
    // The second step came only after the first pod had handed its queue over and gone.
    const [first, second] = kubelet.exits;
    assert.equal(first!.pod, 'gw-gateway-2');
    assert.equal(second!.pod, 'gw-gateway-1');
    const secondDecision = downs[1]!.time as number;
    assert.ok(first!.at <= secondDecision, `pod 2 was gone (${first!.at}) before the decision to remove pod 1 (${secondDecision})`);
    for (const e of kubelet.exits) {
      assert.equal(e.code, 0, `${e.pod} exited 0`);
      const retired = e.lines.find((l) => l.event === 'retired');
      assert.ok(retired, `${e.pod} retired`);
      assert.equal(retired.left, 0, `${e.pod} left nothing behind: ${JSON.stringify(retired)}`);
    }
    assert.ok(kubelet.exits.some((e) => (e.lines.find((l) => l.event === 'retired')!.handedOver as number) > 0), 'deferred mail was handed over');
    const a = await autoscaling();
    assert.match(String(a.reason), /backlog/);
    assert.ok(a.lastScaleTime);
    const events = (await cluster!.rest('GET', `/api/v1/namespaces/${NS}/events`)).items as Json[];
    assert.ok(events.filter((e) => e.reason === 'Scaled' && e.involvedObject.name === 'gw').length >= 3, 'an Event for each change');

    // The next hop is back: pod 0 delivers everything, each message once.
    down = false;
    await eventually('every accepted message delivered', () => {
      const seen = new Set(sink!.messages.map((m) => /Message-ID: (<[^>]+>)/i.exec(m.raw.toString('latin1'))?.[1]));
      return [...accepted].every((id) => seen.has(id));
    }, 120_000, 500);
    await new Promise((r) => setTimeout(r, 2000)); // a duplicate would arrive within the retry interval
    const copies = new Map<string, number>();
    for (const m of sink!.messages) {
      const id = /Message-ID: (<[^>]+>)/i.exec(m.raw.toString('latin1'))?.[1];
      if (id) copies.set(id, (copies.get(id) ?? 0) + 1);
    }
    assert.ok(accepted.size > 200, `enough load (${accepted.size})`);
    assert.deepEqual([...copies.entries()].filter(([, n]) => n > 1), [], 'no message delivered twice');
    assert.deepEqual([...accepted].filter((id) => !copies.has(id)), [], 'no message lost');
  });
});
