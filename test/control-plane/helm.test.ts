/**
 * The chart with real Helm on a real kube-apiserver (issue 14): `helm lint
 * --strict`; `helm install` (the CRDs as templates, the operator's RBAC,
 * Service, Deployment); the operator then runs with the ServiceAccount and
 * RBAC the chart installed and reconciles a gateway; `helm upgrade` with a
 * changed value reaches the Deployment; `helm uninstall` removes what it
 * installed and keeps the CRDs (helm.sh/resource-policy: keep) and so the
 * gateways. How CRDs are upgraded (decided in docs/install.md): `helm
 * upgrade` from a chart whose CRD lacks a field adds it. The example gateway
 * of the all-options values is admitted in the same release as the CRDs.
 * `kubectl apply --server-side -f deploy/mailgw.yaml` installs the same. No
 * kubelet: the Deployment's pods stay Pending; the operator runs as a
 * process here.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { tempDir } from '../helpers/config.ts';
import { crdsEstablished, startCluster, startOperatorProcess, withoutCluster, type Cluster, CLUSTER_SUITE } from '../helpers/cluster.ts';
import { eventually } from '../helpers/wait.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const CHART = join(ROOT, 'charts/mailgw');

describe('Helm chart on a real kube-apiserver', CLUSTER_SUITE, () => {
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

  it('helm lint --strict passes; the server is the Kubernetes release test/cluster/go.mod pins, within the chart\'s kubeVersion', (t) => {
    if (skip(t)) return;
    helm('lint', '--strict', CHART);
    const pinned = /^\s*k8s\.io\/kubernetes (v\S+)$/m.exec(readFileSync(join(ROOT, 'test/cluster/go.mod'), 'utf8'))![1];
    const server = JSON.parse(cluster!.kubectl('version', '-o', 'json')) as { serverVersion: { gitVersion: string } };
    assert.equal(server.serverVersion.gitVersion, pinned);
    assert.match(readFileSync(join(CHART, 'Chart.yaml'), 'utf8'), /^kubeVersion: ">=1\.31\.0-0"$/m);
  });

  it('install, the operator running with the installed RBAC, upgrade, uninstall', { timeout: 180_000 }, async (t) => {
    if (skip(t)) return;
    const c = cluster!;
    helm('install', 'mailgw', CHART, '--namespace', 'mailgw-system', '--create-namespace', '--wait=hookOnly');
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
    helm('upgrade', 'mailgw', CHART, '--namespace', 'mailgw-system', '--set', 'operator.resync=7m', '--wait=hookOnly');
    const args = JSON.parse(c.kubectl('get', 'deployment', '-n', 'mailgw-system', '-l', 'app.kubernetes.io/name=mailgw', '-o', 'json')).items[0].spec.template.spec.containers[0].args as string[];
    assert.equal(args[args.indexOf('--resync') + 1], '7m');
    helm('uninstall', 'mailgw', '--namespace', 'mailgw-system', '--wait=hookOnly');
    await eventually('the release is gone', () => JSON.parse(c.kubectl('get', 'deployments,clusterroles', '-A', '-l', 'app.kubernetes.io/name=mailgw', '-o', 'json')).items.length === 0, 60_000, 250);
    assert.match(c.kubectl('get', 'crd', 'mailgateways.mailgw.io', '-o', 'name'), /mailgateways/, 'Helm keeps the CRDs');
    assert.match(c.kubectl('get', 'mailgateway', 'gw', '-n', 'mail', '-o', 'name'), /gw/, 'and so the gateways');
  });

  it('helm upgrade upgrades the CRDs: a field the installed release lacked is admitted afterwards', { timeout: 180_000 }, async (t) => {
    if (skip(t)) return;
    const c = cluster!;
    // An "older" chart: the same, but its MailGateway CRD has no spec.banner.
    const old = join(tempDir('mailgw-old-chart-'), 'mailgw');
    cpSync(CHART, old, { recursive: true });
    const crdFile = join(old, 'templates/crds/mailgw.io_mailgateways.yaml');
    const text = readFileSync(crdFile, 'utf8');
    const without = text.replace(/^ {16}banner:\n(?: {18}.*\n)+/m, '');
    assert.notEqual(without, text, 'the older CRD lacks banner');
    writeFileSync(crdFile, without);
    helm('upgrade', '--install', 'mailgw', old, '--namespace', 'mailgw-system', '--create-namespace', '--wait=hookOnly');
    const banner = () => JSON.parse(c.kubectl('get', 'crd', 'mailgateways.mailgw.io', '-o', 'json')).spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.banner;
    await eventually('the older CRD is served', () => banner() === undefined, 30_000, 200);
    const gw = { apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'with-banner', namespace: 'mail' }, spec: { integration: 'BehindEdgeGateway', relayHost: { host: '192.0.2.1' }, banner: 'welcome' } };
    const apply = () => execFileSync(join(c.bin, 'kubectl'), ['--kubeconfig', c.kubeconfig, 'apply', '--server-side', '--validate=strict', '-f', '-'], { input: JSON.stringify(gw), stdio: ['pipe', 'pipe', 'pipe'] });
    assert.throws(apply, /banner/, 'the older CRD refuses the field');
    helm('upgrade', 'mailgw', CHART, '--namespace', 'mailgw-system', '--wait=hookOnly');
    await eventually('the newer CRD is served', () => banner() !== undefined, 30_000, 200);
    await crdsEstablished(c.kubectl);
    await eventually('admitted', () => {
      try {
        apply();
        return true;
      } catch {
        return false;
      }
    }, 30_000, 250);
    helm('uninstall', 'mailgw', '--namespace', 'mailgw-system', '--wait=hookOnly');
  });

  it('all options but the Prometheus Operator\'s kinds on a cluster without the CRDs: the example gateway comes with the next upgrade and goes with the release', { timeout: 180_000 }, async (t) => {
    if (skip(t)) return;
    const c = cluster!;
    const values = join(tempDir('mailgw-values-'), 'values.yaml');
    const all = parse(readFileSync(join(ROOT, 'test/fixtures/chart-values-all.yaml'), 'utf8')) as { metrics: Record<string, { enabled: boolean }> };
    // ServiceMonitor and PrometheusRule need the Prometheus Operator's CRDs, which this cluster does not have.
    all.metrics.serviceMonitor!.enabled = false;
    all.metrics.prometheusRule!.enabled = false;
    writeFileSync(values, stringify(all));
    // As on a cluster that never had mailgw: Helm maps a release's objects before it creates any, so a MailGateway
    // cannot come in the release that creates its CRD. The chart leaves it out and says so; the next upgrade adds it.
    c.kubectl('delete', 'crd', 'mailgateways.mailgw.io', 'localdomains.mailgw.io', 'trustednetworks.mailgw.io', '--wait=true');
    c.kubectl('create', 'namespace', 'mailgw-demo');
    try {
      const installed = helm('install', 'demo', CHART, '--namespace', 'mailgw-demo', '-f', values, '--wait=hookOnly');
      assert.match(installed, /the example\s+gateway is not created yet/);
      assert.equal(c.kubectl('get', 'mailgateway', '-n', 'mailgw-demo', '-o', 'name').trim(), '');
      await crdsEstablished(c.kubectl);
      helm('upgrade', 'demo', CHART, '--namespace', 'mailgw-demo', '-f', values, '--wait=hookOnly');
      assert.match(c.kubectl('get', 'mailgateway', 'demo', '-n', 'mailgw-demo', '-o', 'name'), /demo/);
      assert.match(c.kubectl('get', 'localdomain,trustednetwork', '-n', 'mailgw-demo', '-o', 'name'), /localdomain.*\n.*trustednetwork/s);
    } finally {
      try {
        helm('uninstall', 'demo', '--namespace', 'mailgw-demo', '--wait=hookOnly');
      } catch {
        // the install itself failed: its error is the one to see
      }
    }
    await eventually('the example went with the release', () => c.kubectl('get', 'mailgateway,localdomain,trustednetwork', '-n', 'mailgw-demo', '-o', 'name').trim() === '', 30_000, 250);
  });

  it('kubectl apply --server-side -f deploy/mailgw.yaml installs the same', { timeout: 60_000 }, (t) => {
    if (skip(t)) return;
    cluster!.kubectl('apply', '--server-side', '-f', join(ROOT, 'deploy/mailgw.yaml'));
    assert.match(cluster!.kubectl('get', 'deployment', '-n', 'mailgw-system', '-o', 'name'), /deployment/);
  });
});
