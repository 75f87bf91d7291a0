/**
 * The operator as a real process (`mailgw operator`) against the Kubernetes
 * API emulator: objects and status appear, edits roll exactly what changed,
 * deletions shrink the config, invalid specs degrade without touching the
 * running config, and a resync with nothing changed writes nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startEmulator, type Emulator } from '../k8s-emulator/server.ts';
import { eventually, kubectl, startOperator, type OperatorProcess } from '../helpers/operator-process.ts';

const NS = 'mail';
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const gateway = (name: string, spec: Json = {}) => ({ apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name }, spec: { integration: 'BehindEdgeGateway', relayHost: { host: '192.0.2.10' }, replicas: 2, ...spec } });
const domain = (name: string, d: string, gw = 'gw') => ({ apiVersion: 'mailgw.io/v1alpha1', kind: 'LocalDomain', metadata: { name }, spec: { gatewayRef: { name: gw }, domain: d, routing: { host: '10.1.0.5' } } });
const network = (name: string, cidrs: string[], gw = 'gw') => ({ apiVersion: 'mailgw.io/v1alpha1', kind: 'TrustedNetwork', metadata: { name }, spec: { gatewayRef: { name: gw }, cidrs } });

describe('operator reconcile', () => {
  let em: Emulator;
  let op: OperatorProcess;
  let k: ReturnType<typeof kubectl>;
  const cm = () => em.store.get(em.store.typeOf!('', 'configmaps')!, NS, 'gw-config') as Json;
  const sts = () => em.store.get(em.store.typeOf!('apps', 'statefulsets')!, NS, 'gw-gateway') as Json;
  const config = () => JSON.parse(cm().data['gateway.json']) as Json;
  const cond = (o: Json, type: string) => (o.status?.conditions ?? []).find((c: Json) => c.type === type);

  before(async () => {
    em = await startEmulator();
    k = kubectl(em);
    op = startOperator(em, 'op-a');
    await op.waitFor((l) => l.event === 'controllers-started');
  });
  after(async () => {
    await op.stop();
    await em.stop();
  });

  it('creates the owned objects and status, Ready once the StatefulSet reports ready replicas', async () => {
    await k.create('mailgateways', NS, gateway('gw'));
    await k.create('localdomains', NS, domain('example-com', 'example.com'));
    await k.create('trustednetworks', NS, network('internal', ['10.1.0.0/24']));
    const gw = await eventually('Ready', async () => {
      const g = await k.get('mailgateways', NS, 'gw');
      return cond(g, 'Ready')?.status === 'True' && g.status.domains === 1 && g.status.networks === 1 ? g : undefined;
    });
    assert.equal(gw.status.observedGeneration, gw.metadata.generation);
    assert.equal(gw.status.readyReplicas, 2);
    assert.equal(cond(gw, 'Degraded').status, 'False');
    assert.equal(gw.status.selector, 'app.kubernetes.io/name=mailgw,app.kubernetes.io/instance=gw,app.kubernetes.io/component=gateway');
    assert.deepEqual(config().localDomains.map((d: Json) => d.domain), ['example.com']);
    for (const [group, resource, name] of [['', 'configmaps', 'gw-config'], ['', 'services', 'gw-smtp'], ['', 'services', 'gw-gateway-headless'], ['apps', 'statefulsets', 'gw-gateway'], ['policy', 'poddisruptionbudgets', 'gw-gateway'],
      ['', 'serviceaccounts', 'gw-gateway'], ['rbac.authorization.k8s.io', 'roles', 'gw-gateway'], ['rbac.authorization.k8s.io', 'rolebindings', 'gw-gateway'],
      ['networking.k8s.io', 'networkpolicies', 'gw-gateway']] as const) {
      const o = em.store.get(em.store.typeOf!(group, resource)!, NS, name) as Json;
      assert.equal(o.metadata.ownerReferences[0].uid, gw.metadata.uid, `${resource}/${name} is owned by the gateway`);
      assert.ok(o.metadata.managedFields.some((m: Json) => m.manager === 'mailgw-operator' && m.operation === 'Apply'), `${resource}/${name} applied server-side by mailgw-operator`);
    }
    assert.equal(sts().spec.template.metadata.annotations['mailgw.io/config-hash'], gw.status.configHash);
    // The NetworkPolicy arrives whole: an ingress rule that lost its `from` would admit every source.
    const np = em.store.get(em.store.typeOf!('networking.k8s.io', 'networkpolicies')!, NS, 'gw-gateway') as Json;
    assert.deepEqual(np.spec.ingress[1].from, [{ podSelector: { matchLabels: sts().spec.selector.matchLabels } }]);
    // The handover token: created once (not applied), random, owned by the gateway.
    const secret = em.store.get(em.store.typeOf!('', 'secrets')!, NS, 'gw-handover') as Json;
    const token = secret.data?.token ? Buffer.from(secret.data.token, 'base64').toString() : secret.stringData?.token;
    assert.match(String(token), /^[A-Za-z0-9_-]{40,}$/);
    assert.equal(secret.metadata.ownerReferences[0].uid, gw.metadata.uid);
    const ld = await eventually('domain Ready', async () => {
      const d = await k.get('localdomains', NS, 'example-com');
      return cond(d, 'Ready')?.status === 'True' ? d : undefined;
    });
    assert.equal(cond(ld, 'Ready').reason, 'Accepted');
    const events = em.store.list(em.store.typeOf!('', 'events')!, NS) as Json[];
    assert.ok(events.some((e) => e.reason === 'ConfigRolledOut' && e.involvedObject.name === 'gw'));
  });

  it('a resync with nothing changed makes zero writes', async () => {
    await new Promise((r) => setTimeout(r, 500));
    // Lease renewals are leader election's heartbeat, not reconcile writes.
    const writes = () => new Map([...em.store.counters.requests].filter(([k]) => !k.endsWith(' leases')));
    const before = writes();
    const resyncs = op.lines.filter((l) => l.event === 'reconcile').length;
    await eventually('two more resyncs', () => op.lines.filter((l) => l.event === 'reconcile').length >= resyncs + 2, 10_000);
    assert.deepEqual(writes(), before, 'no create/update/patch/apply/delete requests');
  });

  it('never reads Secrets: a deleted handover token is made again at the next change of its MailGateway', async () => {
    const secrets = em.store.typeOf!('', 'secrets')!;
    const old = em.store.get(secrets, NS, 'gw-handover') as Json;
    await k.raw('DELETE', `/api/v1/namespaces/${NS}/secrets/gw-handover`);
    await k.patch('mailgateways', NS, 'gw', { spec: { banner: 'token check' } });
    const again = await eventually('a new handover token', () => em.store.get(secrets, NS, 'gw-handover') as Json | undefined);
    assert.notEqual(again.metadata.uid, old.metadata.uid);
    const verbs = [...em.store.counters.requests.keys()].filter((k) => k.endsWith(' secrets'));
    assert.ok(verbs.every((v) => v.startsWith('create ') || v.startsWith('delete ')), `the operator only creates Secrets: ${verbs.join(', ')}`);
  });

  it('editing a LocalDomain changes the ConfigMap and the pod-template hash, nothing else is rewritten', async () => {
    const rv = (group: string, resource: string, name: string) => (em.store.get(em.store.typeOf!(group, resource)!, NS, name) as Json).metadata.resourceVersion;
    const svcRv = rv('', 'services', 'gw-smtp');
    const pdbRv = rv('policy', 'poddisruptionbudgets', 'gw-gateway');
    const hashBefore = sts().spec.template.metadata.annotations['mailgw.io/config-hash'];
    await k.patch('localdomains', NS, 'example-com', { spec: { routing: { host: '10.1.0.6' } } });
    await eventually('new routing in the ConfigMap', () => config().localDomains[0].routing.host === '10.1.0.6');
    // The StatefulSet is applied right after the ConfigMap, in the same reconcile.
    const hashAfter = await eventually('a new pod-template hash', () => {
      const h = sts().spec.template.metadata.annotations['mailgw.io/config-hash'] as string;
      return h !== hashBefore ? h : undefined;
    }, 5000);
    assert.equal(rv('', 'services', 'gw-smtp'), svcRv, 'Service untouched');
    assert.equal(rv('policy', 'poddisruptionbudgets', 'gw-gateway'), pdbRv, 'PodDisruptionBudget untouched');
    await eventually('status hash', async () => (await k.get('mailgateways', NS, 'gw')).status.configHash === hashAfter);
  });

  it('deleting a TrustedNetwork shrinks the config', async () => {
    await k.create('trustednetworks', NS, network('extra', ['10.2.0.0/16']));
    await eventually('two networks', () => config().trustedNetworks.length === 2);
    await k.delete('trustednetworks', NS, 'extra');
    await eventually('one network', () => config().trustedNetworks.length === 1 && config().trustedNetworks[0].cidr === '10.1.0.0/24');
  });

  it('an unsafe resource degrades the gateway with the reason; the running config stays', async () => {
    const before = cm().data['gateway.json'];
    await k.create('trustednetworks', NS, network('everyone', ['0.0.0.0/0']));
    const gw = await eventually('Degraded', async () => {
      const g = await k.get('mailgateways', NS, 'gw');
      return cond(g, 'Degraded')?.status === 'True' ? g : undefined;
    });
    assert.match(cond(gw, 'Degraded').message, /MGW201 TrustedNetwork\/mail\/everyone spec\.cidrs\[0\]: 0\.0\.0\.0\/0 trusts a prefix shorter than \/8/);
    assert.equal(cond(gw, 'Ready').status, 'False');
    assert.ok(gw.status.lint.some((f: Json) => f.code === 'MGW201'));
    const tn = await eventually('network refused', async () => {
      const t = await k.get('trustednetworks', NS, 'everyone');
      return cond(t, 'Ready')?.status === 'False' ? t : undefined;
    });
    assert.equal(cond(tn, 'Ready').reason, 'MGW201');
    assert.equal(cm().data['gateway.json'], before, 'the running config is untouched');
    await k.delete('trustednetworks', NS, 'everyone');
    await eventually('recovered', async () => cond(await k.get('mailgateways', NS, 'gw'), 'Degraded')?.status === 'False');
    // Events are written just after the status, in the same reconcile.
    await eventually('Degraded and Recovered events', () => {
      const events = em.store.list(em.store.typeOf!('', 'events')!, NS) as Json[];
      return events.some((e) => e.reason === 'Degraded') && events.some((e) => e.reason === 'Recovered');
    }, 5000);
  });

  it('the API server refuses an invalid resource at admission with the field path', async () => {
    await assert.rejects(k.create('localdomains', NS, domain('bad', 'not a domain')), (err: Error & { status?: number }) => {
      assert.equal(err.status, 422);
      assert.match(err.message, /spec\.domain: must be a domain name/);
      return true;
    });
  });

  it('heals drift in an owned object', async () => {
    await k.raw('PATCH', `/api/v1/namespaces/${NS}/services/gw-smtp`, { spec: { ports: [{ name: 'smtp', port: 2500, targetPort: 'smtp', protocol: 'TCP' }] } }, 'application/merge-patch+json');
    await eventually('port healed', () => (em.store.get(em.store.typeOf!('', 'services')!, NS, 'gw-smtp') as Json).spec.ports[0].port === 25);
  });

  it('serves /metrics, /healthz and /readyz', async () => {
    const started = await op.waitFor((l) => l.event === 'operator-started');
    const base = `http://${String(started.metrics)}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, /^mailgw_operator_reconciles_total\{result="ok"\} [1-9]\d*$/m);
    assert.match(text, /^mailgw_operator_is_leader 1$/m);
    assert.match(text, /^mailgw_operator_reconcile_duration_seconds_count [1-9]/m);
    assert.match(text, /^mailgw_operator_work_queue_depth \d+$/m);
  });

  it('an orphan LocalDomain reports that its gateway does not exist', async () => {
    await k.create('localdomains', NS, domain('orphan', 'orphan.example', 'nope'));
    const d = await eventually('orphan status', async () => {
      const o = await k.get('localdomains', NS, 'orphan');
      return cond(o, 'Ready') ? o : undefined;
    });
    assert.equal(cond(d, 'Ready').reason, 'GatewayNotFound');
  });
});

describe('operator RBAC', () => {
  it('deploy/rbac.yaml grants exactly what the operator uses (create only where an apply may create)', async () => {
    const { readFileSync } = await import('node:fs');
    const { parseAllDocuments } = await import('yaml');
    const em = await startEmulator();
    const k = kubectl(em);
    const op = startOperator(em, 'op-rbac');
    try {
      await op.waitFor((l) => l.event === 'controllers-started');
      await k.create('mailgateways', NS, gateway('gw'));
      await k.create('localdomains', NS, domain('d', 'rbac.example'));
      await k.create('trustednetworks', NS, network('n', ['10.9.0.0/16']));
      await eventually('status', async () => (await k.get('localdomains', NS, 'd')).status?.conditions?.[0]?.status === 'True'
        && (await k.get('trustednetworks', NS, 'n')).status?.conditions?.[0]?.status === 'True');
      await eventually('lease renewed', () => [...em.store.audit].some((a) => a.includes('update coordination.k8s.io/leases')), 5000);
    } finally {
      await op.stop();
      await em.stop();
    }
    // Everything but the test's own kubectl is the operator (its watches go out with Node's fetch user agent).
    const used = new Set([...em.store.audit].filter((a) => !a.startsWith('kubectl ')).map((a) => {
      const [, verb, res, ns] = a.split(' ') as [string, string, string, string];
      return `${ns === 'mailgw-system' && res.includes('leases') ? 'Role' : 'ClusterRole'} ${verb} ${res}`;
    }));
    const granted = new Set<string>();
    for (const doc of parseAllDocuments(readFileSync(new URL('../../deploy/rbac.yaml', import.meta.url), 'utf8'))) {
      const o = doc.toJS() as Json;
      if (o.kind !== 'ClusterRole' && o.kind !== 'Role') continue;
      for (const rule of o.rules) for (const g of rule.apiGroups) for (const r of rule.resources) for (const v of rule.verbs) granted.add(`${o.kind} ${v} ${g}/${r}`);
    }
    assert.deepEqual([...used].filter((u) => !granted.has(u)), [], 'every request is allowed');
    // Creates happen through applies; get on statefulsets is held only so the operator may grant it to the gateway pods' Role.
    const unused = [...granted].filter((g) => !used.has(g)
      && !/^ClusterRole create (\/configmaps|\/services|\/serviceaccounts|apps\/statefulsets|policy\/poddisruptionbudgets|rbac\.authorization\.k8s\.io\/roles|rbac\.authorization\.k8s\.io\/rolebindings|networking\.k8s\.io\/networkpolicies)$/.test(g)
      && g !== 'ClusterRole get apps/statefulsets');
    assert.deepEqual(unused, [], 'nothing granted that is not used');
  });
});
