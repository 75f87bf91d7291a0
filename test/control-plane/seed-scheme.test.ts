/**
 * The seed scheme end to end on a real kube-apiserver (issue 14):
 * `kubectl apply -f examples/behind-edge-gateway-no-recipient-verification/`
 * as shipped; the operator (as its ServiceAccount) renders the gateway's
 * ConfigMap; a `mailgw gateway` process is started from that ConfigMap's data
 * laid out as the kubelet mounts a ConfigMap volume (`..data` symlink swapped
 * atomically on change) with the arguments of the rendered StatefulSet; it
 * accepts and delivers the scheme's mail through local sinks, with the
 * suite's real clamd and rspamd; and a LocalDomain edit made with kubectl
 * reaches the running process live.
 *
 * What stands in for the cluster: no kubelet runs, so the test copies the
 * ConfigMap into the volume directory as the kubelet would, and runs the
 * gateway as a process instead of a pod. The example's addresses (internal
 * servers on 192.168.10.x, the edge on 192.168.0.1, the scanners' Services)
 * do not exist here: after applying it, the test points them at its own
 * sinks and scanners on loopback with `kubectl patch`, as an admin adapts the
 * example, so no traffic leaves loopback.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { startCluster, startInstalledOperator, withoutCluster, type Cluster, CLUSTER_SUITE } from '../helpers/cluster.ts';
import { tempDir } from '../helpers/config.ts';
import { ConfigMapVolume } from '../helpers/configmap-volume.ts';
import { startMailgw, type MailgwProcess } from '../helpers/mailgw-process.ts';
import { startClamd, startRspamd, EICAR, type Daemon } from '../helpers/scanners.ts';
import { missing } from '../helpers/requirements.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { eventually } from '../helpers/wait.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const EXAMPLE = join(ROOT, 'examples/behind-edge-gateway-no-recipient-verification');
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('the seed scheme end to end on a real kube-apiserver', CLUSTER_SUITE, () => {
  let cluster: Cluster | undefined;
  let op: { proc: ChildProcess; lines: Record<string, unknown>[] } | undefined;
  let clamd: Daemon | undefined;
  let rspamd: Daemon | undefined;
  let internal: Sink;
  let internalSub: Sink;
  let moved: Sink;
  let edge: Sink;
  let gw: MailgwProcess | undefined;
  let volume: ConfigMapVolume;
  const configMap = (): Json | undefined => {
    try {
      return JSON.parse(cluster!.kubectl('get', 'configmap', 'gateway-config', '-n', 'mail', '-o', 'json')) as Json;
    } catch {
      return undefined;
    }
  };
  const patch = (kind: string, name: string, p: Json) => cluster!.kubectl('patch', kind, name, '-n', 'mail', '--type=merge', '-p', JSON.stringify(p));

  before(async () => {
    [cluster, clamd, rspamd] = await Promise.all([startCluster(), startClamd(), startRspamd()]);
    [internal, internalSub, moved, edge] = await Promise.all([startSink(), startSink(), startSink(), startSink()]);
    if (!cluster || !clamd || !rspamd) return;
    const c = cluster;
    op = await startInstalledOperator(c, ['mail'], 'seed', '--resync', '5s');
  });
  after(async () => {
    gw?.proc.kill('SIGKILL');
    op?.proc.kill('SIGKILL');
    await Promise.all([cluster?.stop(), clamd?.stop(), rspamd?.stop()]);
    await Promise.all([internal, internalSub, moved, edge].map((s) => s?.close()));
  });
  const skip = (t: TestContext) => {
    if (!clamd) missing(t, 'clamd (Debian package clamav-daemon)');
    if (!rspamd) missing(t, 'rspamd (Debian package rspamd)');
    return withoutCluster(t, cluster) || !clamd || !rspamd;
  };

  it('kubectl apply -f the example: the operator renders the ConfigMap; a gateway started from it accepts and delivers the scheme\'s mail', { timeout: 180_000 }, async (t) => {
    if (skip(t)) return;
    const c = cluster!;
    c.kubectl('apply', '--server-side', '-f', EXAMPLE);
    // The gateway may be rendered before its LocalDomains are seen: wait for the whole example.
    const shipped = await eventually('the ConfigMap of the example', () => {
      const m = configMap();
      return m && (JSON.parse(m.data['gateway.json']) as Json).localDomains.length === 2 ? m : undefined;
    }, 60_000, 250);
    const asShipped = JSON.parse(shipped.data['gateway.json']) as Json;
    assert.deepEqual(asShipped.localDomains.map((d: Json) => d.domain).sort(), ['example.com', 'sub.example.com']);
    assert.equal(asShipped.relayHost.host, '192.168.0.1');

    // Point the example at this machine's stand-ins (the admin's adaptation), then wait for the ConfigMap to follow.
    patch('mailgateway', 'gateway', { spec: {
      relayHost: { host: '127.0.0.1', port: edge.port }, tls: { outbound: { mode: 'None' } }, resolver: { servers: ['127.0.0.1:9'] },
      protection: { antivirus: { clamd: clamd!.address }, antispam: { rspamd: rspamd!.address } },
    } });
    patch('localdomain', 'example-com', { spec: { routing: { host: '127.0.0.1', port: internal.port } } });
    patch('localdomain', 'sub-example-com', { spec: { routing: { host: '127.0.0.1', port: internalSub.port } } });
    patch('trustednetwork', 'internal-mail-servers', { spec: { cidrs: ['127.0.0.3/32'] } });
    const cm = await eventually('the adapted ConfigMap', () => {
      const m = configMap();
      const cfg = m && JSON.parse(m.data['gateway.json']) as Json;
      return cfg && cfg.relayHost.port === edge.port && cfg.localDomains.every((d: Json) => d.routing.host === '127.0.0.1') && cfg.trustedNetworks.length === 1 ? m : undefined;
    }, 60_000, 250);
    const gateway = JSON.parse(c.kubectl('get', 'mailgateway', 'gateway', '-n', 'mail', '-o', 'json')) as Json;
    assert.notEqual(gateway.status.conditions.find((x: Json) => x.type === 'Degraded')?.status, 'True', JSON.stringify(gateway.status.conditions));

    // The pod: the ConfigMap volume at its mount path, and the container's arguments from the rendered StatefulSet.
    const sts = JSON.parse(c.kubectl('get', 'statefulset', 'gateway-gateway', '-n', 'mail', '-o', 'json')) as Json;
    const container = sts.spec.template.spec.containers.find((x: Json) => x.name === 'gateway') as Json;
    const mount = (container.volumeMounts as Json[]).find((v) => v.name === 'config')!.mountPath as string;
    const args = container.args as string[];
    const configPath = args[args.indexOf('--config') + 1]!;
    assert.ok(configPath === mount || configPath.startsWith(`${mount}/`), `the gateway reads its config from the mounted ConfigMaps (${configPath})`);
    const root = tempDir('mailgw-seed-pod-');
    volume = new ConfigMapVolume(join(root, mount));
    volume.write([cm]);
    // The same arguments, with the pod's paths under the test's root and loopback listeners on free ports.
    const local = args.map((a, i) => (args[i - 1] === '--config' || args[i - 1] === '--state-dir' ? join(root, a) : args[i - 1] === '--listen' || args[i - 1] === '--metrics-address' ? '127.0.0.1:0' : a))
      .filter((_, i, all) => !String(all[i]).startsWith('--handover') && !String(all[i - 1]).startsWith('--handover'));
    gw = await startMailgw([...local, '--config-poll', '200ms']);

    const send = (from: string, to: string, subject: string, localAddress: string, attachments: { filename: string; content: string }[] = []) => nodemailer
      .createTransport({ host: '127.0.0.1', port: gw!.port, ignoreTLS: true, localAddress })
      .sendMail({ from, to, subject, text: `${subject}\r\n`, attachments });
    // Inbound through the edge (any source): to each domain's internal server.
    assert.match((await send('sender@external.test', 'alice@example.com', 'clean inbound', '127.0.0.2')).response, /^250 /);
    assert.match((await send('sender@external.test', 'bob@sub.example.com', 'clean inbound sub', '127.0.0.2')).response, /^250 /);
    await internal.waitFor(1, 30_000);
    await internalSub.waitFor(1, 30_000);
    assert.deepEqual(internal.messages[0]!.to, ['alice@example.com']);
    // A virus: 250 (no reject, so no backscatter through the edge) and deleted.
    assert.match((await send('sender@external.test', 'alice@example.com', 'infected', '127.0.0.2', [{ filename: 'eicar.com', content: EICAR }])).response, /^250 /);
    await eventually('the verdict', () => gw!.lines.find((l) => l.event === 'verdict' && l.action === 'Delete'), 30_000);
    // Outbound from the trusted internal server: to the edge. From elsewhere: not relayed.
    assert.match((await send('alice@example.com', 'partner@partner.test', 'outbound', '127.0.0.3')).response, /^250 /);
    await edge.waitFor(1, 30_000);
    await assert.rejects(send('x@external.test', 'partner@partner.test', 'relay attempt', '127.0.0.2'), /554/);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(internal.messages.length, 1, 'the infected message was not delivered');
    assert.equal(edge.messages.length, 1);
  });

  it('a LocalDomain edited with kubectl reaches the running gateway live', { timeout: 120_000 }, async (t) => {
    if (skip(t) || !gw) return;
    patch('localdomain', 'example-com', { spec: { routing: { host: '127.0.0.1', port: moved.port } } });
    const cm = await eventually('the ConfigMap follows', () => {
      const m = configMap();
      return m && (JSON.parse(m.data['gateway.json']) as Json).localDomains.some((d: Json) => d.domain === 'example.com' && d.routing.port === moved.port) ? m : undefined;
    }, 60_000, 250);
    const reloads = gw.lines.filter((l) => l.event === 'config-reloaded').length;
    volume.write([cm]); // the kubelet's sync of the ConfigMap volume
    await gw.waitFor('config-reloaded', reloads + 1, 30_000);
    const info = await nodemailer.createTransport({ host: '127.0.0.1', port: gw.port, ignoreTLS: true, localAddress: '127.0.0.2' })
      .sendMail({ from: 'sender@external.test', to: 'carol@example.com', subject: 'after the edit', text: 'moved\r\n' });
    assert.match(info.response, /^250 /);
    await moved.waitFor(1, 30_000);
    assert.deepEqual(moved.messages[0]!.to, ['carol@example.com']);
    assert.equal(internal.messages.length, 1, 'nothing more to the old route');
    assert.equal(gw.proc.exitCode, null, 'no restart');
  });
});
