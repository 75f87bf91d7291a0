/**
 * The CRDs on a real kube-apiserver (issue 14; test/helpers/cluster.ts):
 * crds/ applied with server-side apply; each schema constraint and CEL rule
 * refuses an object at admission with its field path, and valid objects are
 * admitted; kubectl shows the printer columns, explains fields from the
 * schema descriptions, and scales a MailGateway through /scale.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { startCluster, withoutCluster, type Cluster, CLUSTER_SUITE } from '../helpers/cluster.ts';

type Json = Record<string, unknown>;
const ROOT = new URL('../..', import.meta.url).pathname;

describe('CRDs on a real kube-apiserver', CLUSTER_SUITE, () => {
  let cluster: Cluster | undefined;
  before(async () => {
    cluster = await startCluster();
    if (!cluster) return;
    await cluster.install({ namespaces: ['mail'] });
  });
  after(async () => {
    await cluster?.stop();
  });
  const skip = (t: TestContext) => withoutCluster(t, cluster);

  /** Server-side apply of one object; undefined when admitted, else the server's message. */
  const apply = (obj: Json): string | undefined => {
    try {
      execFileSync(join(cluster!.bin, 'kubectl'), ['--kubeconfig', cluster!.kubeconfig, 'apply', '--server-side', '--field-manager=test', '--validate=strict', '-f', '-'], { input: JSON.stringify(obj), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
      return undefined;
    } catch (err) {
      return String((err as { stderr?: string }).stderr ?? err);
    }
  };
  let n = 0;
  const meta = () => ({ name: `x${n++}`, namespace: 'mail' });
  const gw = (spec: Json) => ({ apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: meta(), spec });
  const ld = (spec: Json) => ({ apiVersion: 'mailgw.io/v1alpha1', kind: 'LocalDomain', metadata: meta(), spec: { gatewayRef: { name: 'gw' }, ...spec } });
  const tn = (spec: Json) => ({ apiVersion: 'mailgw.io/v1alpha1', kind: 'TrustedNetwork', metadata: meta(), spec: { gatewayRef: { name: 'gw' }, ...spec } });

  it('admits valid manifests', (t) => {
    if (skip(t)) return;
    for (const obj of [
      gw({
        integration: 'BehindEdgeGatewayNoRecipientVerification', hostname: 'mx.example.com',
        relayHost: { host: '[2607:f0d0:1002:51::4]', port: 25 }, limits: { messageSize: '20Mi' },
        tls: { inbound: { mode: 'Require', clientCertificate: 'Require', certificate: { secretName: 'tls' } } },
        proxyProtocol: { trustedLoadBalancers: ['10.0.0.0/8', '2001:db8::1'] },
        resources: { requests: { cpu: '100m' } }, tolerations: [{ key: 'mail', operator: 'Exists' }],
      }),
      gw({ relayHost: { host: 'edge.example.com', mxLookup: true }, limits: { messageSize: 1000 } }),
      gw({ relayHost: { host: 'edge.example.com' }, autoscaling: { minReplicas: 2, maxReplicas: 2, targetQueueAge: '1m' } }),
      gw({ relayHost: { host: 'edge.example.com' }, autoscaling: { mode: 'HorizontalPodAutoscaler', maxReplicas: 8 } }),
      gw({ relayHost: { host: 'edge.example.com' }, trafficLog: { retention: '72h', maxSize: '512Mi' }, siem: { syslog: { host: 'siem.example.com', port: 6514, transport: 'TLS', ca: { secretName: 'siem-ca' }, facility: 'local3' } } }),
      ld({ domain: 'bücher.example', routing: { host: '192.168.0.1', port: 2525 } }),
      tn({ cidrs: ['10.0.0.0/8', '2001:db8::/32', '192.168.1.7'] }),
    ]) assert.equal(apply(obj), undefined, JSON.stringify(obj));
  });

  const refusals: { kind: string; message: string }[] = [];
  const cases: [string, Json, RegExp][] = [
    ['bad CIDR', tn({ cidrs: ['10.0.0.0/8', '10.0.0.0/33'] }), /spec\.cidrs\[1\].*must be an IPv4 or IPv6 address or prefix/],
    ['bad CIDR text', tn({ cidrs: ['not-a-network'] }), /spec\.cidrs\[0\].*must be an IPv4 or IPv6 address or prefix/],
    ['bad domain', ld({ domain: 'exa mple.com' }), /spec\.domain.*must be a domain name/],
    ['trailing dot', ld({ domain: 'example.com.' }), /spec\.domain.*must be a domain name/],
    ['bad host', ld({ domain: 'example.com', routing: { host: '[not-v6]' } }), /spec\.routing\.host.*must be an IPv4 address/],
    ['unknown enum', gw({ integration: 'Sideways' }), /spec\.integration.*Unsupported value: "Sideways"/],
    ['port 0', ld({ domain: 'example.com', routing: { host: 'mx.example.com', port: 0 } }), /spec\.routing\.port.*should be greater than or equal to 1/],
    ['port 70000', gw({ relayHost: { host: 'edge.example.com', port: 70000 } }), /spec\.relayHost\.port.*should be less than or equal to 65535/],
    ['unknown field', gw({ relayhost: { host: 'edge.example.com' } }), /\.spec\.relayhost: field not declared in schema/],
    ['unknown nested field', ld({ domain: 'example.com', routing: { host: 'a.example', mx: true } }), /\.spec\.routing\.mx: field not declared in schema/],
    ['mxLookup with an IP', gw({ relayHost: { host: '10.0.0.1', mxLookup: true } }), /spec\.relayHost\.mxLookup.*mxLookup needs a DNS name/],
    ['client cert Require without TLS Require', gw({ tls: { inbound: { mode: 'Attempt', clientCertificate: 'Require', certificate: { secretName: 's' } } } }), /spec\.tls\.inbound\.clientCertificate.*needs tls\.inbound\.mode Require/],
    ['TLS Require without certificate', gw({ tls: { inbound: { mode: 'Require' } } }), /spec\.tls\.inbound\.certificate.*needs tls\.inbound\.certificate/],
    ['bad duration', gw({ queue: { lifetime: '3 days' } }), /spec\.queue\.lifetime.*should match/],
    ['bad size', gw({ limits: { messageSize: 'lots' } }), /spec\.limits\.messageSize/],
    ['client certificate without a certificate', gw({ tls: { inbound: { mode: 'Attempt', clientCertificate: 'Request' } } }), /spec\.tls.*tls\.inbound\.clientCertificate needs tls\.inbound\.certificate/],
    ['bad relay host', gw({ relayHost: { host: 'exa mple' } }), /spec\.relayHost\.host.*must be an IPv4 address/],
    ['bad SIEM host', gw({ siem: { syslog: { host: 'siem example' } } }), /spec\.siem\.syslog\.host.*must be an IPv4 address/],
    ['autoscaling bounds reversed', gw({ autoscaling: { minReplicas: 5, maxReplicas: 3 } }), /spec\.autoscaling\.minReplicas.*autoscaling\.minReplicas must not exceed maxReplicas/],
    ['autoscaling without a bound', gw({ autoscaling: { minReplicas: 2 } }), /spec\.autoscaling\.maxReplicas.*Required value/],
    ['unknown autoscaling mode', gw({ autoscaling: { mode: 'Keda', maxReplicas: 3 } }), /spec\.autoscaling\.mode.*Unsupported value: "Keda"/],
    ['unknown syslog transport', gw({ siem: { syslog: { host: 'siem.example.com', transport: 'QUIC' } } }), /spec\.siem\.syslog\.transport.*Unsupported value: "QUIC"/],
    ['bad transport domain', gw({ transports: [{ name: 't', domains: ['exa mple.com'], nextHops: [{ host: 'mx.example.com' }] }] }), /spec\.transports\[0\]\.domains\[0\].*must be a domain name/],
    ['bad DKIM domain', gw({ dkim: { keys: [{ domain: 'example.com.', selector: 's1', secretName: 'k' }] } }), /spec\.dkim\.keys\[0\]\.domain.*must be a domain name/],
    ['mxLookup with an IP on a LocalDomain', ld({ domain: 'example.com', routing: { host: '[2001:db8::1]', mxLookup: true } }), /spec\.routing\.mxLookup.*mxLookup needs a DNS name/],
    ['bad load balancer', gw({ proxyProtocol: { trustedLoadBalancers: ['10.0.0.300'] } }), /spec\.proxyProtocol\.trustedLoadBalancers\[0\].*must be an IPv4 or IPv6 address or prefix/],
    ['bad source range', gw({ service: { loadBalancerSourceRanges: ['everyone'] } }), /spec\.service\.loadBalancerSourceRanges\[0\].*must be an IPv4 or IPv6 address or prefix/],
    ['too long a domain', ld({ domain: `${'a'.repeat(250)}.example` }), /spec\.domain.*Too long: may not be (longer|more) than 253/],
    ['too many CIDRs', tn({ cidrs: Array.from({ length: 1025 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`) }), /spec\.cidrs.*Too many: 1025: must have at most 1024 items/],
  ];

  for (const [name, obj, expected] of cases) {
    it(`refuses ${name} with the field path`, (t) => {
      if (skip(t)) return;
      const message = apply(obj);
      assert.ok(message, 'refused');
      refusals.push({ kind: obj.kind as string, message });
      assert.match(message, expected);
    });
  }

  it('every CEL rule of every CRD refused one of the cases above', (t) => {
    if (skip(t)) return;
    // The messages of x-kubernetes-validations in crds/, by kind: each must be the refusal of some case.
    const kinds: Record<string, string> = { 'mailgw.io_mailgateways.yaml': 'MailGateway', 'mailgw.io_localdomains.yaml': 'LocalDomain', 'mailgw.io_trustednetworks.yaml': 'TrustedNetwork' };
    const rules: string[] = [];
    const walk = (node: unknown, kind: string): void => {
      if (!node || typeof node !== 'object') return;
      for (const v of ((node as Json)['x-kubernetes-validations'] as { message: string }[] | undefined) ?? []) rules.push(`${kind}: ${v.message}`);
      for (const child of Object.values(node as Json)) walk(child, kind);
    };
    for (const [file, kind] of Object.entries(kinds)) {
      const crd = parse(readFileSync(join(ROOT, 'crds', file), 'utf8')) as { spec: { versions: { schema: unknown }[] } };
      walk(crd.spec.versions[0]!.schema, kind);
    }
    const covered = (rule: string) => refusals.some((r) => rule.startsWith(`${r.kind}: `) && r.message.replace(/\\"/g, '"').includes(rule.slice(rule.indexOf(': ') + 2)));
    assert.deepEqual(rules.filter((r) => !covered(r)), [], 'CEL rules that no case above was refused by');
  });

  it('kubectl get shows the printer columns, explain the descriptions, scale works through /scale', (t) => {
    if (skip(t)) return;
    assert.equal(apply({ ...gw({ integration: 'BehindEdgeGateway', relayHost: { host: '192.0.2.1' } }), metadata: { name: 'gw', namespace: 'mail' } }), undefined);
    const header = cluster!.kubectl('get', 'mailgateways', '-n', 'mail').split('\n')[0]!;
    for (const column of ['NAME', 'INTEGRATION', 'READY']) assert.match(header, new RegExp(column));
    assert.match(cluster!.kubectl('explain', 'mailgateway.spec.relayHost'), /Where mail for non-local domains goes/);
    cluster!.kubectl('scale', 'mailgateway/gw', '-n', 'mail', '--replicas=3');
    assert.equal(JSON.parse(cluster!.kubectl('get', 'mailgateway/gw', '-n', 'mail', '-o', 'json')).spec.replicas, 3);
  });
});
