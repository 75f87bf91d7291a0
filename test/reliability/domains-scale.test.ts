/**
 * Hosting-provider scale (issue 19): LocalDomains by the tens of thousands
 * on one gateway — 20,000 in the short form (`npm test`), 100,000 in the
 * long form (MAILGW_RELIABILITY=long, `npm run reliability`);
 * MAILGW_SCALE_DOMAINS sets another count. The long form took 6 minutes
 * here, 4 of them creating the objects through the API server.
 *
 * - CLI: `mailgw validate` and `mailgw render` succeed; every rendered object
 *   is under 1 MiB (the config is gzipped and split: api/config-pack.ts);
 *   `mailgw up` accepts mail for the last domain and refuses a foreign one.
 * - A config made too large on purpose (`--config-limit`) is refused by
 *   `validate` (exit 1, MGW301) and marks the MailGateway Degraded on the
 *   real kube-apiserver, the running config untouched.
 * - On the real kube-apiserver: the domains applied, the operator's apply
 *   succeeds, a `mailgw gateway` started from the rendered ConfigMaps (laid
 *   out as the kubelet mounts them) accepts mail for the last domain, and one
 *   edited LocalDomain reaches that running gateway live.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startCluster, startInstalledOperator, startOperatorProcess, withoutCluster, type Cluster, CLUSTER_SUITE } from '../helpers/cluster.ts';
import { tempDir } from '../helpers/config.ts';
import { ConfigMapVolume, configOf } from '../helpers/configmap-volume.ts';
import { startMailgw, type MailgwProcess } from '../helpers/mailgw-process.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { eventually } from '../helpers/wait.ts';
import { pick, record } from './mode.ts';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const N = Number(process.env.MAILGW_SCALE_DOMAINS ?? pick(20_000, 100_000));
const MIB = 1024 * 1024;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const gateway = { apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw', namespace: 'mail' }, spec: { integration: 'BehindEdgeGateway', relayHost: { host: '192.0.2.1' }, protection: { antivirus: { enabled: true } } } };
const network = { apiVersion: 'mailgw.io/v1alpha1', kind: 'TrustedNetwork', metadata: { name: 'internal', namespace: 'mail' }, spec: { gatewayRef: { name: 'gw' }, cidrs: ['127.0.0.3/32'] } };
const domain = (i: number, d = `customer${i}.example`) => ({ apiVersion: 'mailgw.io/v1alpha1', kind: 'LocalDomain', metadata: { name: `d${i}`, namespace: 'mail' }, spec: { gatewayRef: { name: 'gw' }, domain: d, routing: { host: '127.0.0.1', port: 9 } } });
const LAST = `customer${N - 1}.example`;

/** RCPT replies for these recipients in one session from 127.0.0.2 (outside the trusted networks). */
async function rcpt(port: number, recipients: string[]): Promise<number[]> {
  const c = await SmtpDialog.open(port, '127.0.0.2');
  try {
    await c.begin('sender@outside.test');
    const codes: number[] = [];
    for (const r of recipients) codes.push((await c.cmd(`RCPT TO:<${r}>`)).code);
    return codes;
  } finally {
    c.close();
  }
}

const mailgw = (...args: string[]) => run(process.execPath, [join(ROOT, 'bin/mailgw.js'), ...args], { maxBuffer: 256 * MIB });

describe(`${N.toLocaleString('en')} local domains`, CLUSTER_SUITE, () => {
  let dir: string;
  before(() => {
    dir = tempDir('mailgw-scale-');
    mkdirSync(join(dir, 'manifests'));
    writeFileSync(join(dir, 'manifests/gateway.yaml'), [gateway, network].map((o) => JSON.stringify(o)).join('\n---\n'));
    // One JSON document per LocalDomain (YAML's JSON subset): what `kubectl get -o yaml` of them would hold.
    writeFileSync(join(dir, 'manifests/domains.yaml'), Array.from({ length: N }, (_, i) => JSON.stringify(domain(i))).join('\n---\n'));
  });

  it('mailgw validate and render succeed; every rendered object is under 1 MiB', { timeout: 600_000 }, async () => {
    const v = await mailgw('validate', '-f', join(dir, 'manifests'));
    assert.match(v.stdout, new RegExp(`${N} LocalDomain\\(s\\), 1 TrustedNetwork\\(s\\): 0 error\\(s\\)`));
    const started = performance.now();
    const r = await mailgw('render', '-f', join(dir, 'manifests'));
    const renderMs = performance.now() - started;
    const docs = r.stdout.split(/^---$/m).filter((d) => d.trim());
    const { parse } = await import('yaml');
    const objects = docs.map((d) => parse(d) as Json);
    const sizes = objects.map((o) => JSON.stringify(o).length);
    assert.ok(sizes.every((s) => s < MIB), `object sizes ${sizes.join(', ')}`);
    const configMaps = objects.filter((o) => o.kind === 'ConfigMap');
    assert.ok(configMaps.length >= 1);
    record('domains-scale-render', { domains: N, renderMs: Math.round(renderMs), configMaps: configMaps.length, largestObjectBytes: Math.max(...sizes) });
  });

  it('mailgw up accepts mail for the last domain and refuses a foreign one', { timeout: 600_000 }, async () => {
    const gw = await startMailgw(['up', '-f', join(dir, 'manifests'), '--listen', '127.0.0.1:0', '--state-dir', join(dir, 'up-state')]);
    try {
      assert.deepEqual(await rcpt(gw.port, [`postmaster@${LAST}`, 'someone@foreign.test']), [250, 554]);
    } finally {
      gw.proc.kill('SIGTERM');
      await gw.exited;
    }
  });

  it('a config made too large (--config-limit) fails validate with MGW301', { timeout: 600_000 }, async () => {
    const v = await mailgw('validate', '-f', join(dir, 'manifests'), '--config-limit', '8Ki').then(() => assert.fail('exit 0'), (err: { code: number; stdout: string }) => err);
    assert.equal(v.code, 1);
    assert.match(v.stdout, /MGW301.*over the limit of 8 KiB/);
  });

  describe('on a real kube-apiserver', CLUSTER_SUITE, () => {
    let cluster: Cluster | undefined;
    let op: { proc: ChildProcess; lines: Record<string, unknown>[] } | undefined;
    let gw: MailgwProcess | undefined;
    let volume: ConfigMapVolume;
    const configMaps = async () => ((await cluster!.rest('GET', '/api/v1/namespaces/mail/configmaps?labelSelector=app.kubernetes.io%2Finstance%3Dgw')).items as Json[])
      .filter((c) => c.metadata.name === 'gw-config' || c.metadata.name.startsWith('gw-config-'));
    /** The ConfigMaps when they hold one whole version, with its config. */
    const whole = async () => {
      const cms = await configMaps();
      const config = configOf(cms);
      return config ? { cms, config } : undefined;
    };

    before(async () => {
      cluster = await startCluster({ audit: false });
      if (!cluster) return;
      op = await startInstalledOperator(cluster, ['mail'], 'scale');
    });
    after(async () => {
      gw?.proc.kill('SIGKILL');
      op?.proc.kill('SIGKILL');
      await cluster?.stop();
    });
    const skip = (t: TestContext) => withoutCluster(t, cluster);

    it(`${N.toLocaleString('en')} LocalDomains applied: the operator's apply succeeds; a gateway started from the ConfigMaps accepts mail for the last domain`, { timeout: 1_800_000 }, async (t) => {
      if (skip(t)) return;
      const c = cluster!;
      await c.rest('POST', '/apis/mailgw.io/v1alpha1/namespaces/mail/mailgateways', gateway);
      await c.rest('POST', '/apis/mailgw.io/v1alpha1/namespaces/mail/trustednetworks', network);
      const t0 = performance.now();
      // 32 creates in flight at a time (bounded).
      let next = 0;
      await Promise.all(Array.from({ length: 32 }, async () => {
        for (let i = next++; i < N; i = next++) await c.rest('POST', '/apis/mailgw.io/v1alpha1/namespaces/mail/localdomains', domain(i));
      }));
      const created = performance.now();
      const v = await eventually(`all ${N} domains in the ConfigMaps`, async () => {
        const w = await whole();
        return w && w.config.localDomains.length === N ? w : undefined;
      }, 1_200_000, 1000);
      const converged = performance.now();
      for (const cm of v.cms) assert.ok(JSON.stringify(cm).length < MIB, `${cm.metadata.name}: ${JSON.stringify(cm).length} bytes`);
      assert.ok(!op!.lines.some((l) => l.event === 'reconcile-error'), JSON.stringify(op!.lines.filter((l) => l.event === 'reconcile-error').slice(0, 2)));

      volume = new ConfigMapVolume(join(dir, 'pod/etc/mailgw/config'));
      volume.write(v.cms);
      gw = await startMailgw(['gateway', '--config', volume.dir, '--listen', '127.0.0.1:0', '--state-dir', join(dir, 'pod/spool'), '--config-poll', '500ms']);
      assert.deepEqual(await rcpt(gw.port, [`postmaster@${LAST}`, 'someone@foreign.test']), [250, 554]);
      record('domains-scale-cluster', { domains: N, createMs: Math.round(created - t0), convergeAfterLastCreateMs: Math.round(converged - created), configMaps: v.cms.length });
    });

    it('one edited LocalDomain among them reaches the running gateway live', { timeout: 600_000 }, async (t) => {
      if (skip(t) || !gw) return;
      const c = cluster!;
      const edited = performance.now();
      await c.rest('PATCH', `/apis/mailgw.io/v1alpha1/namespaces/mail/localdomains/d${N - 1}`, { spec: { domain: 'renamed.example' } }, 'application/merge-patch+json');
      const v = await eventually('the edit in the ConfigMaps', async () => {
        const w = await whole();
        return w && (w.config.localDomains as Json[]).some((d) => d.domain === 'renamed.example') ? w : undefined;
      }, 300_000, 250);
      const inConfigMaps = performance.now();
      const reloads = gw.lines.filter((l) => l.event === 'config-reloaded').length;
      volume.write(v.cms); // the kubelet's sync of the projected volume
      const reloaded = await gw.waitFor('config-reloaded', reloads + 1, 120_000);
      assert.deepEqual(await rcpt(gw.port, ['postmaster@renamed.example', `postmaster@${LAST}`]), [250, 554]);
      record('domains-scale-edit', { domains: N, editToConfigMapMs: Math.round(inConfigMaps - edited), reloadLoadMs: Number(reloaded.loadMs), reloadSwapMs: Number(reloaded.swapMs) });
    });

    it('a config made too large (--config-limit) marks the MailGateway Degraded; the running config stays', { timeout: 600_000 }, async (t) => {
      if (skip(t) || !op) return;
      const c = cluster!;
      const before = JSON.stringify(await configMaps());
      op.proc.kill('SIGKILL');
      op = startOperatorProcess(cluster!.serviceAccountKubeconfig('mailgw-system', 'mailgw-operator'), '--lease-namespace', 'mailgw-system', '--lease-duration', '2s', '--identity', 'scale-limited', '--config-limit', '8Ki');
      const g = await eventually('Degraded', async () => {
        const o = await c.rest('GET', '/apis/mailgw.io/v1alpha1/namespaces/mail/mailgateways/gw');
        return (o.status?.conditions as Json[] | undefined)?.find((x) => x.type === 'Degraded' && x.status === 'True') ? o : undefined;
      }, 300_000, 500);
      assert.match(JSON.stringify(g.status.conditions), /MGW301.*over the limit of 8 KiB/);
      assert.equal(JSON.stringify(await configMaps()), before, 'the running config is untouched');
    });
  });
});
