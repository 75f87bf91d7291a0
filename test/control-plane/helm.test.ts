/**
 * The chart with real Helm on a real kube-apiserver (issue 14): `helm lint
 * --strict`; `helm install` (CRDs from crds/, the operator's RBAC, Service,
 * Deployment); the operator then runs with the ServiceAccount and RBAC the
 * chart installed and reconciles a gateway; `helm upgrade` with a changed
 * value reaches the Deployment; `helm uninstall` removes what it installed
 * (and, as Helm does, leaves the CRDs). `kubectl apply --server-side -f
 * deploy/mailgw.yaml` installs the same. No kubelet: the Deployment's pods
 * stay Pending; the operator runs as a process here.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { crdsEstablished, startCluster, startOperatorProcess, withoutCluster, type Cluster } from '../helpers/cluster.ts';
import { eventually } from '../helpers/wait.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const CHART = join(ROOT, 'charts/mailgw');

describe('Helm chart on a real kube-apiserver', () => {
  let cluster: Cluster | undefined;
  let op: ChildProcess | undefined;
  before(async () => {
    cluster = await startCluster();
  });
  after(async () => {
    op?.kill('SIGKILL');
    await cluster?.stop();
  });
  const skip = (t: TestContext) => withoutCluster(t, cluster);
  const helm = (...args: string[]) => execFileSync(join(cluster!.bin, 'helm'), ['--kubeconfig', cluster!.kubeconfig, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  it('helm lint --strict passes', (t) => {
    if (skip(t)) return;
    helm('lint', '--strict', CHART);
  });

  it('install, the operator running with the installed RBAC, upgrade, uninstall', { timeout: 180_000 }, async (t) => {
    if (skip(t)) return;
    const c = cluster!;
    helm('install', 'mailgw', CHART, '--namespace', 'mailgw-system', '--create-namespace', '--wait=false');
    await crdsEstablished(c.kubectl);
    const dep = JSON.parse(c.kubectl('get', 'deployment', '-n', 'mailgw-system', '-l', 'app.kubernetes.io/name=mailgw', '-o', 'json')) as { items: { spec: { template: { spec: { serviceAccountName: string; containers: { args: string[] }[] } } } }[] };
    assert.equal(dep.items.length, 1);
    const sa = dep.items[0]!.spec.template.spec.serviceAccountName;
    // The operator as the Deployment's pod would run it, with the installed ServiceAccount.
    const started = startOperatorProcess(c.serviceAccountKubeconfig('mailgw-system', sa), '--lease-namespace', 'mailgw-system', '--identity', 'helm-op');
    op = started.proc;
    const lines = started.lines;
    c.kubectl('create', 'namespace', 'mail');
    execFileSync(join(c.bin, 'kubectl'), ['--kubeconfig', c.kubeconfig, 'apply', '--server-side', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw', namespace: 'mail' }, spec: { integration: 'BehindEdgeGateway', relayHost: { host: '192.0.2.1' }, protection: { antivirus: { enabled: true } } } }),
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    await eventually('the gateway reconciled under the chart\'s RBAC', () => lines.find((l) => l.event === 'reconcile' && l.key === 'mail/gw' && !lines.some((e) => e.event === 'reconcile-error')), 60_000, 250);
    c.kubectl('get', 'configmap', 'gw-config', '-n', 'mail');
    op.kill('SIGKILL');
    helm('upgrade', 'mailgw', CHART, '--namespace', 'mailgw-system', '--set', 'operator.resync=7m', '--wait=false');
    const args = JSON.parse(c.kubectl('get', 'deployment', '-n', 'mailgw-system', '-l', 'app.kubernetes.io/name=mailgw', '-o', 'json')).items[0].spec.template.spec.containers[0].args as string[];
    assert.equal(args[args.indexOf('--resync') + 1], '7m');
    helm('uninstall', 'mailgw', '--namespace', 'mailgw-system', '--wait=false');
    await eventually('the release is gone', () => JSON.parse(c.kubectl('get', 'deployments,clusterroles', '-A', '-l', 'app.kubernetes.io/name=mailgw', '-o', 'json')).items.length === 0, 60_000, 250);
    assert.match(c.kubectl('get', 'crd', 'mailgateways.mailgw.io', '-o', 'name'), /mailgateways/, 'Helm leaves CRDs in place');
  });

  it('kubectl apply --server-side -f deploy/mailgw.yaml installs the same', { timeout: 60_000 }, (t) => {
    if (skip(t)) return;
    cluster!.kubectl('apply', '--server-side', '-f', join(ROOT, 'deploy/mailgw.yaml'));
    assert.match(cluster!.kubectl('get', 'deployment', '-n', 'mailgw-system', '-o', 'name'), /deployment/);
  });
});
