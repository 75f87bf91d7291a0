/**
 * A config split over several ConfigMaps on a real kube-apiserver (ADR 0009):
 * 100 TrustedNetworks of 1,024 random IPv6 addresses each make a config that
 * gzips to three parts. The operator (as its ServiceAccount) applies every
 * part under 1 MiB and the StatefulSet mounts them as one projected volume;
 * a `mailgw gateway` started from them runs it; when most networks are
 * deleted the config shrinks to one ConfigMap, the operator deletes the
 * surplus parts, and the running gateway takes the smaller version live.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { startCluster, startInstalledOperator, withoutCluster, type Cluster, CLUSTER_SUITE } from '../helpers/cluster.ts';
import { tempDir } from '../helpers/config.ts';
import { ConfigMapVolume, configOf } from '../helpers/configmap-volume.ts';
import { startMailgw, type MailgwProcess } from '../helpers/mailgw-process.ts';
import { prng } from '../reliability/fuzz-smtp.ts';
import { eventually } from '../helpers/wait.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const NETWORKS = 100;

describe('a config in several ConfigMaps on a real kube-apiserver', CLUSTER_SUITE, () => {
  let cluster: Cluster | undefined;
  let op: { proc: ChildProcess; lines: Record<string, unknown>[] } | undefined;
  let gw: MailgwProcess | undefined;
  let volume: ConfigMapVolume;
  const dir = tempDir('mailgw-parts-');
  const configMaps = async () => ((await cluster!.rest('GET', '/api/v1/namespaces/mail/configmaps')).items as Json[]).filter((c) => /^gw-config(-\d+)?$/.test(c.metadata.name));
  /** The ConfigMaps when they hold one whole version, with its config. */
  const whole = async () => {
    const cms = await configMaps();
    const config = configOf(cms);
    return config ? { cms, config } : undefined;
  };

  before(async () => {
    cluster = await startCluster();
    if (!cluster) return;
    op = await startInstalledOperator(cluster, ['mail'], 'parts');
  });
  after(async () => {
    gw?.proc.kill('SIGKILL');
    op?.proc.kill('SIGKILL');
    await cluster?.stop();
  });
  const skip = (t: TestContext) => withoutCluster(t, cluster);

  it('three parts, each under 1 MiB, mounted as one projected volume; a gateway runs from them', { timeout: 180_000 }, async (t) => {
    if (skip(t)) return;
    const c = cluster!;
    const random = prng(7);
    const hex = () => Math.floor(random() * 65536).toString(16);
    await c.rest('POST', '/apis/mailgw.io/v1alpha1/namespaces/mail/mailgateways', { apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw' }, spec: { integration: 'BehindEdgeGateway', relayHost: { host: '192.0.2.1' }, protection: { antivirus: { enabled: true } } } });
    for (let n = 0; n < NETWORKS; n++) {
      const cidrs = Array.from({ length: 1024 }, () => `2001:db8:${hex()}:${hex()}:${hex()}:${hex()}:${hex()}:${hex()}/128`);
      if (n === 0) cidrs[0] = '127.0.0.3/32';
      await c.rest('POST', '/apis/mailgw.io/v1alpha1/namespaces/mail/trustednetworks', { apiVersion: 'mailgw.io/v1alpha1', kind: 'TrustedNetwork', metadata: { name: `n${n}` }, spec: { gatewayRef: { name: 'gw' }, cidrs } });
    }
    const v = await eventually('all networks in the ConfigMaps', async () => {
      const w = await whole();
      return w && new Set((w.config.trustedNetworks as Json[]).map((n) => n.source)).size === NETWORKS ? w : undefined;
    }, 120_000, 500);
    assert.equal(v.cms.length, 3, v.cms.map((x) => x.metadata.name).join(', '));
    for (const cm of v.cms) assert.ok(JSON.stringify(cm).length < 1024 * 1024, `${cm.metadata.name}: ${JSON.stringify(cm).length} bytes`);
    const sts = await eventually('the StatefulSet mounts the three', async () => {
      const s = await c.rest('GET', '/apis/apps/v1/namespaces/mail/statefulsets/gw-gateway');
      const sources = (s.spec.template.spec.volumes as Json[]).find((x) => x.name === 'config')?.projected?.sources as Json[] | undefined;
      return sources?.length === 3 ? sources : undefined;
    }, 60_000, 250);
    assert.deepEqual(sts.map((x) => x.configMap.name), ['gw-config', 'gw-config-1', 'gw-config-2']);
    volume = new ConfigMapVolume(join(dir, 'config'));
    volume.write(v.cms);
    gw = await startMailgw(['gateway', '--config', volume.dir, '--listen', '127.0.0.1:0', '--state-dir', join(dir, 'spool'), '--config-poll', '200ms']);
    assert.ok(gw.lines.some((l) => l.event === 'listening'));
  });

  it('most networks deleted: one ConfigMap again, the surplus parts deleted, the gateway takes it live', { timeout: 180_000 }, async (t) => {
    if (skip(t) || !gw) return;
    const c = cluster!;
    for (let n = 1; n < NETWORKS; n++) await c.rest('DELETE', `/apis/mailgw.io/v1alpha1/namespaces/mail/trustednetworks/n${n}`);
    const v = await eventually('one ConfigMap', async () => {
      const w = await whole();
      return w && w.cms.length === 1 && new Set((w.config.trustedNetworks as Json[]).map((n) => n.source)).size === 1 ? w : undefined;
    }, 120_000, 500);
    // The reconcile's log line comes after its writes: the deletions are visible above before it is printed.
    await eventually('the operator says it deleted the surplus parts', () => op!.lines.some((l) => (l.wrote as string[] | undefined)?.includes('-ConfigMap/gw-config-2')), 30_000, 100);
    const reloads = gw.lines.filter((l) => l.event === 'config-reloaded').length;
    volume.write(v.cms);
    const reloaded = await gw.waitFor('config-reloaded', reloads + 1, 60_000);
    assert.equal(reloaded.trustedNetworks, 1024);
  });
});
