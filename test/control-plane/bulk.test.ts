/**
 * 1,000 LocalDomains created at once on a real kube-apiserver (issue 14):
 * the operator coalesces them into a handful of ConfigMap writes (counted
 * from its own log of what each reconcile wrote), and the ConfigMap ends
 * with all of them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { startCluster, startInstalledOperator, withoutCluster, type Cluster, CLUSTER_SUITE } from '../helpers/cluster.ts';
import { configOf } from '../helpers/configmap-volume.ts';
import { eventually } from '../helpers/wait.ts';


describe('1,000 LocalDomains on a real kube-apiserver', CLUSTER_SUITE, () => {
  let cluster: Cluster | undefined;
  let op: ChildProcess | undefined;
  let lines: Record<string, unknown>[] = [];
  before(async () => {
    cluster = await startCluster();
    if (!cluster) return;
    const started = await startInstalledOperator(cluster, ['mail'], 'bulk');
    op = started.proc;
    lines = started.lines;
  });
  after(async () => {
    op?.kill('SIGKILL');
    await cluster?.stop();
  });

  it('a handful of ConfigMap writes, all 1,000 domains in the end', { timeout: 300_000 }, async (t) => {
    if (withoutCluster(t, cluster)) return;
    const c = cluster!;
    const apply = (objs: unknown[]) => execFileSync(join(c.bin, 'kubectl'), ['--kubeconfig', c.kubeconfig, 'apply', '--server-side', '-f', '-'], { input: objs.map((o) => JSON.stringify(o)).join('\n'), stdio: ['pipe', 'ignore', 'inherit'], maxBuffer: 64 * 1024 * 1024 });
    apply([{ apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw', namespace: 'mail' }, spec: { integration: 'BehindEdgeGateway', relayHost: { host: '192.0.2.1' }, protection: { antivirus: { enabled: true } } } }]);
    await eventually('the gateway', () => lines.find((l) => l.event === 'reconcile' && l.key === 'mail/gw'), 60_000, 200);
    const writesBefore = lines.filter((l) => (l.wrote as string[] | undefined)?.includes('ConfigMap/gw-config')).length;
    apply(Array.from({ length: 1000 }, (_, i) => ({ apiVersion: 'mailgw.io/v1alpha1', kind: 'LocalDomain', metadata: { name: `d${i}`, namespace: 'mail' }, spec: { gatewayRef: { name: 'gw' }, domain: `d${i}.example`, routing: { host: '10.0.0.1' } } })));
    const seen = () => `; the operator's last lines: ${lines.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`;
    await eventually('1,000 domains in the ConfigMap', () => {
      // Plain, or gzipped in one part: 1,000 domains sit near the 256 KiB line (api/config-pack.ts).
      const cm = JSON.parse(c.kubectl('get', 'configmap', 'gw-config', '-n', 'mail', '-o', 'json')) as { data?: Record<string, string>; binaryData?: Record<string, string> };
      return configOf([cm])?.localDomains.length === 1000;
    }, 240_000, 1000).catch((err: Error) => { throw new Error(err.message + seen()); });
    const writes = lines.filter((l) => (l.wrote as string[] | undefined)?.includes('ConfigMap/gw-config')).length - writesBefore;
    assert.ok(writes >= 1 && writes <= 20, `${writes} ConfigMap writes for 1,000 LocalDomains`);
  });
});
