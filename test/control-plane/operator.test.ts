/**
 * The operator's scenarios on a real kube-apiserver (issues 14 and 21): the
 * operator runs as its own ServiceAccount with exactly deploy/rbac.yaml.
 * Owned objects and status appear (the StatefulSet's status is set by the
 * test, as a kubelet would: none runs here); an edited LocalDomain changes
 * the ConfigMap and the pod-template hash and nothing else; a resync with
 * nothing changed writes nothing; an unsafe resource degrades the gateway
 * and leaves the running config; drift in an owned object is healed; a
 * deleted MailGateway's objects are collected by the real garbage collector.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { startCluster, startOperatorProcess, withoutCluster, type Cluster } from '../helpers/cluster.ts';
import { eventually } from '../helpers/wait.ts';

const NS = 'mail';
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('operator on a real kube-apiserver', () => {
  let cluster: Cluster | undefined;
  let op: ChildProcess | undefined;
  let lines: Record<string, unknown>[] = [];
  const apply = (obj: Json) => execFileSync(join(cluster!.bin, 'kubectl'), ['--kubeconfig', cluster!.kubeconfig, 'apply', '--server-side', '--field-manager=gitops', '-f', '-'], { input: JSON.stringify(obj), stdio: ['pipe', 'ignore', 'pipe'] });
  const get = (kind: string, name: string): Json | undefined => {
    try {
      return JSON.parse(cluster!.kubectl('get', kind, name, '-n', NS, '-o', 'json')) as Json;
    } catch {
      return undefined;
    }
  };
  const cond = (o: Json | undefined, type: string) => (o?.status?.conditions ?? []).find((c: Json) => c.type === type);
  const gateway = (spec: Json = {}) => ({ apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw', namespace: NS }, spec: { integration: 'BehindEdgeGateway', relayHost: { host: '192.0.2.10' }, replicas: 2, protection: { antivirus: { enabled: true } }, ...spec } });
  const domain = (routing: string) => ({ apiVersion: 'mailgw.io/v1alpha1', kind: 'LocalDomain', metadata: { name: 'example-com', namespace: NS }, spec: { gatewayRef: { name: 'gw' }, domain: 'example.com', routing: { host: routing } } });
  const network = (name: string, cidrs: string[]) => ({ apiVersion: 'mailgw.io/v1alpha1', kind: 'TrustedNetwork', metadata: { name, namespace: NS }, spec: { gatewayRef: { name: 'gw' }, cidrs } });
  const reconciles = () => lines.filter((l) => l.event === 'reconcile' && l.key === `${NS}/gw`);

  before(async () => {
    cluster = await startCluster({ controllerManager: true });
    if (!cluster) return;
    const c = cluster;
    const kubeconfig = await c.install({ namespaces: ['mailgw-system', NS], rbac: true });
    const started = startOperatorProcess(kubeconfig, '--lease-namespace', 'mailgw-system', '--identity', 'op-1', '--resync', '3s');
    op = started.proc;
    lines = started.lines;
    await eventually('controllers started', () => lines.find((l) => l.event === 'controllers-started'), 60_000);
  });
  after(async () => {
    op?.kill('SIGKILL');
    await cluster?.stop();
  });
  const skip = (t: TestContext) => withoutCluster(t, cluster);

  it('creates the owned objects and status; Ready once the StatefulSet reports its replicas ready', { timeout: 90_000 }, async (t) => {
    if (skip(t)) return;
    apply(gateway());
    apply(domain('10.1.0.5'));
    apply(network('internal', ['10.1.0.0/24']));
    await eventually('the StatefulSet', () => get('statefulset', 'gw-gateway'), 30_000, 200);
    // No kubelet: report the replicas ready as it would.
    cluster!.kubectl('patch', 'statefulset', 'gw-gateway', '-n', NS, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { replicas: 2, readyReplicas: 2, availableReplicas: 2, currentReplicas: 2, updatedReplicas: 2, observedGeneration: get('statefulset', 'gw-gateway')!.metadata.generation } }));
    const gw = await eventually('Ready', () => {
      const g = get('mailgateway', 'gw');
      return cond(g, 'Ready')?.status === 'True' && g!.status.domains === 1 ? g : undefined;
    }, 30_000, 250);
    assert.equal(gw.status.observedGeneration, gw.metadata.generation);
    for (const [kind, name] of [['configmap', 'gw-config'], ['service', 'gw-smtp'], ['service', 'gw-gateway-headless'], ['statefulset', 'gw-gateway'], ['poddisruptionbudget', 'gw-gateway'],
      ['serviceaccount', 'gw-gateway'], ['role', 'gw-gateway'], ['rolebinding', 'gw-gateway'], ['networkpolicy', 'gw-gateway'], ['secret', 'gw-handover']]) {
      const o = get(kind!, name!);
      assert.ok(o, `${kind}/${name}`);
      assert.equal(o.metadata.ownerReferences?.[0]?.uid, gw.metadata.uid, `${kind}/${name} is owned by the gateway`);
    }
    const np = get('networkpolicy', 'gw-gateway')!;
    assert.ok(np.spec.ingress.some((r: Json) => Array.isArray(r.from) && r.from.length > 0), 'the handover rule kept its from');
    const ld = await eventually('domain Accepted', () => (cond(get('localdomain', 'example-com'), 'Ready')?.status === 'True' ? get('localdomain', 'example-com') : undefined), 30_000, 250);
    assert.equal(cond(ld, 'Ready').reason, 'Accepted');
  });

  it('a resync with nothing changed writes nothing', { timeout: 60_000 }, async (t) => {
    if (skip(t)) return;
    // Reconciles that begin from now on (the last one of the previous test may still be logging).
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = Date.now();
    const later = () => reconciles().filter((l) => (l.time as number) > t0);
    await eventually('two resyncs', () => later().length >= 2, 30_000, 200);
    assert.deepEqual(later().map((l) => l.wrote ?? []), later().map(() => []));
  });

  it('an edited LocalDomain changes the ConfigMap and the pod-template hash, nothing else', { timeout: 60_000 }, async (t) => {
    if (skip(t)) return;
    const svcRv = get('service', 'gw-smtp')!.metadata.resourceVersion;
    const hash = get('statefulset', 'gw-gateway')!.spec.template.metadata.annotations['mailgw.io/config-hash'];
    apply(domain('10.1.0.6'));
    await eventually('new routing', () => JSON.parse(get('configmap', 'gw-config')!.data['gateway.json']).localDomains[0].routing.host === '10.1.0.6', 30_000, 200);
    await eventually('new hash', () => get('statefulset', 'gw-gateway')!.spec.template.metadata.annotations['mailgw.io/config-hash'] !== hash, 30_000, 200);
    assert.equal(get('service', 'gw-smtp')!.metadata.resourceVersion, svcRv, 'Service untouched');
  });

  it('an unsafe TrustedNetwork degrades the gateway; the running config stays', { timeout: 60_000 }, async (t) => {
    if (skip(t)) return;
    const data = get('configmap', 'gw-config')!.data['gateway.json'];
    apply(network('everyone', ['0.0.0.0/0']));
    await eventually('Degraded', () => cond(get('mailgateway', 'gw'), 'Degraded')?.status === 'True', 30_000, 250);
    assert.equal(get('configmap', 'gw-config')!.data['gateway.json'], data);
    cluster!.kubectl('delete', 'trustednetwork', 'everyone', '-n', NS);
    await eventually('recovered', () => cond(get('mailgateway', 'gw'), 'Degraded')?.status === 'False', 30_000, 250);
  });

  it('heals drift that a person makes in an owned object', { timeout: 60_000 }, async (t) => {
    if (skip(t)) return;
    cluster!.kubectl('patch', 'service', 'gw-smtp', '-n', NS, '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/ports/0/port', value: 2500 }]));
    await eventually('port healed', () => get('service', 'gw-smtp')!.spec.ports[0].port === 25, 30_000, 200);
  });

  it('a deleted MailGateway\'s objects are collected by the garbage collector', { timeout: 90_000 }, async (t) => {
    if (skip(t)) return;
    cluster!.kubectl('delete', 'mailgateway', 'gw', '-n', NS, '--wait=false');
    await eventually('owned objects gone', () => !get('configmap', 'gw-config') && !get('statefulset', 'gw-gateway') && !get('secret', 'gw-handover'), 60_000, 500);
    assert.ok(!lines.some((l) => l.event === 'reconcile-error' && !String(l.err).includes('NotFound')), JSON.stringify(lines.filter((l) => l.event === 'reconcile-error').slice(0, 3)));
  });
});
