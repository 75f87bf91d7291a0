/**
 * Handover in Kubernetes mode against the real kube-apiserver (issue 14):
 * a gateway pod, authenticated as the ServiceAccount the operator renders for
 * it, reads its own StatefulSet through the Role it was given and decides
 * whether it is scaled away (ADR 0006); it may read nothing else.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { mailGateway } from '../../api/index.ts';
import { render } from '../../operator/render.ts';
import { decideRetirement } from '../../gateway/handover/retire-check.ts';
import { startCluster, withoutCluster, type Cluster, CLUSTER_SUITE } from '../helpers/cluster.ts';

describe('handover retire check on a real kube-apiserver', CLUSTER_SUITE, () => {
  let cluster: Cluster | undefined;
  let saved: string | undefined;
  before(async () => {
    cluster = await startCluster();
    if (!cluster) return;
    cluster.kubectl('create', 'namespace', 'mail');
    const gw = mailGateway.parse({ apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw', namespace: 'mail' }, spec: { integration: 'BehindEdgeGateway', relayHost: { host: '192.0.2.1' }, replicas: 2 } });
    const objects = render(gw, [], []).objects;
    execFileSync(join(cluster.bin, 'kubectl'), ['--kubeconfig', cluster.kubeconfig, 'apply', '--server-side', '-f', '-'], { input: objects.map((o) => JSON.stringify(o)).join('\n'), stdio: ['pipe', 'ignore', 'inherit'] });
    saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = cluster.serviceAccountKubeconfig('mail', 'gw-gateway');
  });
  after(async () => {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
    await cluster?.stop();
  });
  const skip = (t: TestContext) => withoutCluster(t, cluster);
  const mode = (pod: string, statefulSet = 'gw-gateway') => ({ kind: 'kubernetes' as const, statefulSet, namespace: 'mail', pod, peerAddress: '{pod}.{statefulset}-headless.{namespace}.svc:2526', apiTimeoutMs: 10_000 });

  it('a pod above the replicas retires to the pods that stay; one within them is a restart', async (t) => {
    if (skip(t)) return;
    const gone = await decideRetirement(mode('gw-gateway-2'));
    assert.equal(gone.retiring, true, gone.reason);
    assert.deepEqual(gone.peers.map((p) => p.host), ['gw-gateway-0.gw-gateway-headless.mail.svc', 'gw-gateway-1.gw-gateway-headless.mail.svc']);
    const stays = await decideRetirement(mode('gw-gateway-1'));
    assert.equal(stays.retiring, false);
    assert.match(stays.reason, /ordinal 1 < replicas 2/);
  });

  it('the pods\' ServiceAccount reads only its own StatefulSet', async (t) => {
    if (skip(t)) return;
    const other = await decideRetirement(mode('other-sts-2', 'other-sts'));
    assert.equal(other.retiring, false);
    assert.match(other.reason, /cannot read StatefulSet other-sts .*(Forbidden|forbidden|403)/);
  });
});
