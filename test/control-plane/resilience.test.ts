/**
 * Faults with the real control plane (issue 14): kube-apiserver restarted
 * under a running operator (its watches break and resume, the next edit is
 * reconciled without an operator restart); a watch expired by etcd
 * compaction (410) → a relist, seen in the audit log; the leader killed → the standby
 * takes over through the real Lease within the lease duration.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { startCluster, startOperatorProcess, withoutCluster, type Cluster, CLUSTER_SUITE } from '../helpers/cluster.ts';
import { eventually } from '../helpers/wait.ts';


describe('operator faults on a real kube-apiserver', CLUSTER_SUITE, () => {
  let cluster: Cluster | undefined;
  const ops: { proc: ChildProcess; lines: Record<string, unknown>[]; id: string }[] = [];
  let kubeconfig = '';
  const startOp = (id: string) => {
    const o = { ...startOperatorProcess(kubeconfig, '--lease-namespace', 'mailgw-system', '--lease-duration', '4s', '--identity', id), id };
    ops.push(o);
    return o;
  };
  const apply = (obj: unknown) => execFileSync(join(cluster!.bin, 'kubectl'), ['--kubeconfig', cluster!.kubeconfig, 'apply', '--server-side', '-f', '-'], { input: JSON.stringify(obj), stdio: ['pipe', 'ignore', 'inherit'] });
  const routing = () => {
    try {
      return JSON.parse(JSON.parse(cluster!.kubectl('get', 'configmap', 'gw-config', '-n', 'mail', '-o', 'json')).data['gateway.json']).localDomains[0]?.routing?.host as string | undefined;
    } catch {
      return undefined;
    }
  };
  const domain = (host: string) => ({ apiVersion: 'mailgw.io/v1alpha1', kind: 'LocalDomain', metadata: { name: 'd', namespace: 'mail' }, spec: { gatewayRef: { name: 'gw' }, domain: 'example.com', routing: { host } } });

  before(async () => {
    cluster = await startCluster();
    if (!cluster) return;
    const c = cluster;
    kubeconfig = await c.install({ namespaces: ['mailgw-system', 'mail'], rbac: true });
    apply({ apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw', namespace: 'mail' }, spec: { integration: 'BehindEdgeGateway', relayHost: { host: '192.0.2.1' }, protection: { antivirus: { enabled: true } } } });
    apply(domain('10.0.0.1'));
  });
  after(async () => {
    for (const o of ops) o.proc.kill('SIGKILL');
    await cluster?.stop();
  });
  const skip = (t: TestContext) => withoutCluster(t, cluster);

  it('kube-apiserver restarted under a running operator: the next edit is reconciled, no operator restart', { timeout: 180_000 }, async (t) => {
    if (skip(t)) return;
    const a = startOp('op-a');
    await eventually('first config', () => routing() === '10.0.0.1', 60_000, 250);
    await cluster!.restartApiServer();
    apply(domain('10.0.0.2'));
    await eventually('the edit after the restart', () => routing() === '10.0.0.2', 90_000, 250);
    assert.equal(a.proc.exitCode, null, 'the operator kept running');
  });

  it('a watch expired by etcd compaction (410): the operator relists and reconciles the next edit', { timeout: 180_000 }, async (t) => {
    if (skip(t)) return;
    const c = cluster!;
    const a = ops[0]!;
    const seen = c.audit().length;
    let compacted = 0;
    // While kube-apiserver is down the operator's watches hold their last resourceVersion; etcd moves on and
    // compacts its history past it, so the resumed watch is too old (410) and must be replaced by a fresh list.
    await c.restartApiServer(async () => {
      const b64 = (s: string) => Buffer.from(s).toString('base64');
      const put = await (await fetch(`${c.etcd}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: b64('/mailgw-test/churn'), value: b64('x') }) })).json() as { header: { revision: string } };
      compacted = Number(put.header.revision);
      const res = await fetch(`${c.etcd}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: String(compacted), physical: true }) });
      assert.equal(res.status, 200, await res.text());
    });
    apply(domain('10.0.0.4'));
    await eventually('the edit after the compaction', () => routing() === '10.0.0.4', 90_000, 250);
    assert.equal(a.proc.exitCode, null, 'the operator kept running');
    const mine = c.audit().slice(seen).filter((e) => e.user.username === 'system:serviceaccount:mailgw-system:mailgw-operator' && e.objectRef?.resource === 'localdomains');
    const rv = (e: { requestURI: string }) => Number(new URL(e.requestURI, c.server).searchParams.get('resourceVersion') || 0);
    const stale = mine.find((e) => e.verb === 'watch' && rv(e) > 0 && rv(e) < compacted);
    assert.ok(stale, `a watch resumed from a compacted resourceVersion (< ${compacted}): ${JSON.stringify(mine.map((e) => [e.verb, e.requestURI, e.responseStatus?.code]))}`);
    assert.ok(mine.some((e) => e.verb === 'list' && e.requestReceivedTimestamp >= stale.requestReceivedTimestamp), 'then a relist');
  });

  it('the leader killed: the standby takes over through the Lease and reconciles', { timeout: 120_000 }, async (t) => {
    if (skip(t)) return;
    const leader = ops[0]!;
    const standby = startOp('op-b');
    await eventually('the standby is running', () => standby.lines.find((l) => l.event === 'operator-started'), 30_000);
    assert.ok(!standby.lines.some((l) => l.event === 'leader-elected'), 'op-b stands by while op-a leads');
    leader.proc.kill('SIGKILL');
    // Once op-a's 4 s lease has run out (no timing is asserted: shared machines are noisy).
    await eventually('op-b leads', () => standby.lines.find((l) => l.event === 'leader-elected'), 60_000, 100);
    const lease = JSON.parse(cluster!.kubectl('get', 'lease', 'mailgw-operator', '-n', 'mailgw-system', '-o', 'json')) as { spec: { holderIdentity: string } };
    assert.equal(lease.spec.holderIdentity, 'op-b');
    apply(domain('10.0.0.3'));
    await eventually('the new leader reconciles', () => routing() === '10.0.0.3', 60_000, 250);
  });

  it('SIGTERM: the leader releases the Lease (empty holder) and exits 0; a standby takes it', { timeout: 120_000 }, async (t) => {
    if (skip(t)) return;
    const leader = ops.find((o) => o.id === 'op-b')!;
    const standby = startOp('op-c');
    await eventually('op-c is running', () => standby.lines.find((l) => l.event === 'operator-started'), 30_000);
    const exited = new Promise<number | null>((r) => leader.proc.once('exit', r));
    leader.proc.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(leader.lines.some((l) => l.event === 'leader-released'), 'op-b released the lease');
    await eventually('op-c leads', () => standby.lines.find((l) => l.event === 'leader-elected'), 60_000, 100);
    const lease = JSON.parse(cluster!.kubectl('get', 'lease', 'mailgw-operator', '-n', 'mailgw-system', '-o', 'json')) as { spec: { holderIdentity: string; leaseTransitions: number } };
    assert.equal(lease.spec.holderIdentity, 'op-c');
  });
});
