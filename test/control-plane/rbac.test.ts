/**
 * Least privilege on a real kube-apiserver (issue 21): the operator's
 * ServiceAccount with exactly the RBAC in deploy/rbac.yaml cannot read a
 * Secret it did not create (403 for get and for list, asked with the
 * operator's own token), and may create the handover token.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startCluster, withoutCluster, type Cluster, CLUSTER_SUITE } from '../helpers/cluster.ts';


describe('operator RBAC on a real kube-apiserver', CLUSTER_SUITE, () => {
  let cluster: Cluster | undefined;
  let operator: string;
  before(async () => {
    cluster = await startCluster();
    if (!cluster) return;
    operator = await cluster.install({ namespaces: ['mailgw-system', 'team-a'], rbac: true });
    cluster.kubectl('create', 'secret', 'generic', 'database-password', '-n', 'team-a', '--from-literal=password=hunter2');
  });
  after(async () => {
    await cluster?.stop();
  });
  const skip = (t: TestContext) => withoutCluster(t, cluster);
  const asOperator = (...args: string[]): { ok: boolean; out: string } => {
    try {
      return { ok: true, out: execFileSync(join(cluster!.bin, 'kubectl'), ['--kubeconfig', operator, ...args], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] }) };
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` || String(err) };
    }
  };

  it('cannot get or list a Secret it did not create (403), in any namespace', (t) => {
    if (skip(t)) return;
    const get = asOperator('get', 'secret', 'database-password', '-n', 'team-a');
    assert.equal(get.ok, false);
    assert.match(get.out, /Forbidden.*cannot get resource "secrets"/);
    for (const args of [['-n', 'team-a'], ['-A']]) {
      const list = asOperator('get', 'secrets', ...args);
      assert.equal(list.ok, false);
      assert.match(list.out, /Forbidden.*cannot list resource "secrets"/);
    }
    assert.equal(asOperator('auth', 'can-i', 'watch', 'secrets', '-A').out.trim(), 'no');
  });

  it('may create a Secret (the handover token) and list what it owns', (t) => {
    if (skip(t)) return;
    assert.equal(asOperator('auth', 'can-i', 'create', 'secrets', '-n', 'team-a').out.trim(), 'yes');
    assert.equal(asOperator('auth', 'can-i', 'list', 'mailgateways.mailgw.io', '-A').out.trim(), 'yes');
    assert.equal(asOperator('auth', 'can-i', 'patch', 'statefulsets.apps', '-n', 'team-a').out.trim(), 'yes');
  });
});
