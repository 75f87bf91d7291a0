/**
 * A namespace-scoped operator on a real kube-apiserver (issue 21): with
 * `--watch-namespaces team-a` and permissions only there (the ClusterRole
 * bound by a RoleBinding in team-a, no ClusterRoleBinding), a MailGateway in
 * team-a is reconciled and one in team-b is not; the operator holds no
 * permission in team-b. The operator runs as its own ServiceAccount.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { startCluster, startOperatorProcess, withoutCluster, type Cluster, CLUSTER_SUITE } from '../helpers/cluster.ts';
import { eventually } from '../helpers/wait.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

describe('operator with watchNamespaces on a real kube-apiserver', CLUSTER_SUITE, () => {
  let cluster: Cluster | undefined;
  let op: ChildProcess | undefined;
  let lines: Record<string, unknown>[] = [];
  before(async () => {
    cluster = await startCluster({ controllerManager: false });
    if (!cluster) return;
    const c = cluster;
    await c.install({ namespaces: ['mailgw-system', 'team-a', 'team-b'] });
    // deploy/rbac.yaml without its ClusterRoleBinding; the ClusterRole bound in team-a only.
    const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy/rbac.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string });
    const scoped = docs.filter((d) => d.kind !== 'ClusterRoleBinding');
    scoped.push({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'mailgw-operator', namespace: 'team-a' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'mailgw-operator' }, subjects: [{ kind: 'ServiceAccount', name: 'mailgw-operator', namespace: 'mailgw-system' }] } as { kind: string });
    const { execFileSync } = await import('node:child_process');
    execFileSync(join(c.bin, 'kubectl'), ['--kubeconfig', c.kubeconfig, 'apply', '--server-side', '-f', '-'], { input: scoped.map((d) => JSON.stringify(d)).join('\n'), stdio: ['pipe', 'ignore', 'inherit'] });
    const kubeconfig = c.serviceAccountKubeconfig('mailgw-system', 'mailgw-operator');
    const started = startOperatorProcess(kubeconfig, '--watch-namespaces', 'team-a', '--lease-namespace', 'mailgw-system', '--identity', 'op-1');
    op = started.proc;
    lines = started.lines;
  });
  after(async () => {
    op?.kill('SIGKILL');
    await cluster?.stop();
  });
  const skip = (t: TestContext) => withoutCluster(t, cluster);

  it('reconciles team-a, ignores team-b, and holds no permission in team-b', { timeout: 120_000 }, async (t) => {
    if (skip(t)) return;
    const c = cluster!;
    await eventually('controllers started', () => lines.find((l) => l.event === 'controllers-started'), 60_000);
    assert.deepEqual(lines.find((l) => l.event === 'controllers-started')!.namespaces, ['team-a']);
    const { execFileSync } = await import('node:child_process');
    for (const ns of ['team-a', 'team-b']) {
      const gw = { apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw', namespace: ns }, spec: { integration: 'BehindEdgeGateway', relayHost: { host: '192.0.2.1' }, protection: { antivirus: { enabled: true } } } };
      execFileSync(join(c.bin, 'kubectl'), ['--kubeconfig', c.kubeconfig, 'apply', '--server-side', '-f', '-'], { input: JSON.stringify(gw), stdio: ['pipe', 'ignore', 'inherit'] });
    }
    const configMap = (ns: string) => {
      try {
        return c.kubectl('get', 'configmap', 'gw-config', '-n', ns, '-o', 'name').trim();
      } catch {
        return undefined;
      }
    };
    await eventually('team-a reconciled', () => configMap('team-a'), 60_000, 250);
    await eventually('team-a has a status', () => {
      const status = JSON.parse(c.kubectl('get', 'mailgateway', 'gw', '-n', 'team-a', '-o', 'json')) as { status?: { conditions?: { type: string }[] } };
      return status.status?.conditions?.some((x) => x.type === 'Ready');
    }, 30_000, 250);
    await new Promise((r) => setTimeout(r, 2000));
    // After the first reconcile, the ones its own status write triggers find nothing to change: what the
    // operator applies is what the real server stores (defaulting and canonical quantities included).
    const reconciles = lines.filter((l) => l.event === 'reconcile' && l.key === 'team-a/gw');
    assert.ok(reconciles.length >= 2, `${reconciles.length} reconciles`);
    assert.deepEqual(reconciles.slice(1).map((l) => l.applied), reconciles.slice(1).map(() => 0), 'no re-apply on the real server');
    assert.equal(configMap('team-b'), undefined, 'team-b untouched');
    const b = JSON.parse(c.kubectl('get', 'mailgateway', 'gw', '-n', 'team-b', '-o', 'json')) as { status?: unknown };
    assert.equal(b.status, undefined, 'no status written in team-b');
    const can = (verb: string, res: string, ns: string) => {
      try {
        return c.kubectl('auth', 'can-i', verb, res, '-n', ns, '--as', 'system:serviceaccount:mailgw-system:mailgw-operator').trim();
      } catch (err) {
        return String((err as { stdout?: string }).stdout ?? '').trim();
      }
    };
    const checks: [string, string][] = [['list', 'mailgateways.mailgw.io'], ['patch', 'configmaps'], ['create', 'secrets'], ['list', 'statefulsets.apps']];
    for (const [verb, res] of checks) {
      assert.equal(can(verb, res, 'team-a'), 'yes', `${verb} ${res} in team-a`);
      assert.equal(can(verb, res, 'team-b'), 'no', `${verb} ${res} in team-b`);
    }
    assert.ok(!lines.some((l) => l.event === 'reconcile-error'), 'no reconcile errors');
  });
});
