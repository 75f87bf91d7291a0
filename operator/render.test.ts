import { it } from 'node:test';
import assert from 'node:assert/strict';
import { localDomain, mailGateway, trustedNetwork } from '../api/index.ts';
import { render } from './render.ts';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const gw = (spec: Obj = {}, uid = 'u-1') => mailGateway.parse({ apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw', namespace: 'mail', uid }, spec });
const ld = (domain: string, gateway = 'gw') => localDomain.parse({ apiVersion: 'mailgw.io/v1alpha1', kind: 'LocalDomain', metadata: { name: domain.replace(/\./g, '-'), namespace: 'mail' }, spec: { gatewayRef: { name: gateway }, domain } });
const tn = (cidrs: string[]) => trustedNetwork.parse({ apiVersion: 'mailgw.io/v1alpha1', kind: 'TrustedNetwork', metadata: { name: 'n', namespace: 'mail' }, spec: { gatewayRef: { name: 'gw' }, cidrs } });
const find = (objects: Obj[], kind: string, name?: string) => objects.find((o) => o.kind === kind && (!name || o.metadata.name === name))!;
const hashOf = (objects: Obj[]) => find(objects, 'StatefulSet').spec.template.metadata.annotations['mailgw.io/config-hash'];

it('rolls pods only when the rendered config changes', () => {
  const base = render(gw(), [ld('example.com')], [tn(['10.0.0.0/8'])]).objects as Obj[];
  assert.equal(hashOf(render(gw({ replicas: 5 }), [ld('example.com')], [tn(['10.0.0.0/8'])]).objects as Obj[]), hashOf(base), 'replicas do not roll pods');
  assert.notEqual(hashOf(render(gw(), [ld('example.com'), ld('example.org')], [tn(['10.0.0.0/8'])]).objects as Obj[]), hashOf(base), 'a new domain does');
  assert.equal(find(base, 'ConfigMap').metadata.annotations['mailgw.io/config-hash'], hashOf(base));
});

it('only takes the domains and networks of its own gateway', () => {
  const r = render(gw(), [ld('example.com'), ld('other.example', 'other-gw')], [tn(['10.0.0.0/8'])]);
  assert.deepEqual(r.gatewayConfig.localDomains.map((d) => d.domain), ['example.com']);
});

it('keeps client addresses on exposed Services unless told otherwise', () => {
  const svc = (spec: Obj) => find(render(gw({ service: spec }), [], []).objects as Obj[], 'Service', 'gw-smtp').spec;
  assert.equal(svc({}).type, 'ClusterIP');
  assert.equal(svc({}).externalTrafficPolicy, undefined);
  assert.equal(svc({ type: 'LoadBalancer' }).externalTrafficPolicy, 'Local');
  assert.equal(svc({ type: 'NodePort' }).externalTrafficPolicy, 'Local');
  assert.equal(svc({ type: 'LoadBalancer', externalTrafficPolicy: 'Cluster' }).externalTrafficPolicy, 'Cluster');
  assert.deepEqual(svc({}).ports, [{ name: 'smtp', port: 25, targetPort: 'smtp', protocol: 'TCP' }]);
});

it('owns every object, hardens the pod and puts the spool on a PVC per pod', () => {
  const objects = render(gw({ queue: { storage: { size: '5Gi', storageClassName: 'fast' } } }), [], []).objects as Obj[];
  assert.deepEqual(objects.map((o) => o.kind), ['ConfigMap', 'Service', 'Service', 'ServiceAccount', 'Role', 'RoleBinding', 'StatefulSet', 'PodDisruptionBudget', 'NetworkPolicy']);
  for (const o of objects) assert.deepEqual(o.metadata.ownerReferences, [{ apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', name: 'gw', uid: 'u-1', controller: true, blockOwnerDeletion: true }]);
  const sts = find(objects, 'StatefulSet');
  const pod = sts.spec.template.spec;
  const c = pod.containers[0];
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
  assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
  assert.equal(c.ports[0].containerPort, 2525);
  assert.ok(c.readinessProbe && c.livenessProbe);
  assert.ok(pod.terminationGracePeriodSeconds >= 30);
  assert.deepEqual(sts.spec.volumeClaimTemplates[0].spec, { accessModes: ['ReadWriteOnce'], storageClassName: 'fast', resources: { requests: { storage: '5Gi' } } });
  assert.deepEqual(find(objects, 'PodDisruptionBudget').spec.selector, sts.spec.selector);
  assert.equal(render(gw({}, ''), [], []).objects.every((o) => !(o as Obj).metadata.ownerReferences), true, 'no owner reference without a uid (rendered from files)');
});

it('lets a gateway pod read its own StatefulSet and nothing else, and hand its queue to the pods that stay', () => {
  const objects = render(gw(), [], []).objects as Obj[];
  const sts = find(objects, 'StatefulSet');
  const pod = sts.spec.template.spec;
  const c = pod.containers[0];
  assert.deepEqual(find(objects, 'Role').rules, [{ apiGroups: ['apps'], resources: ['statefulsets'], resourceNames: ['gw-gateway'], verbs: ['get'] }]);
  assert.deepEqual(find(objects, 'RoleBinding').subjects, [{ kind: 'ServiceAccount', name: 'gw-gateway', namespace: 'mail' }]);
  assert.equal(find(objects, 'RoleBinding').roleRef.name, 'gw-gateway');
  assert.equal(pod.serviceAccountName, 'gw-gateway');
  assert.equal(find(objects, 'ServiceAccount').automountServiceAccountToken, false, 'no token for other pods that might use the account');
  const flag = (name: string) => c.args[c.args.indexOf(name) + 1];
  assert.equal(flag('--handover-statefulset'), 'gw-gateway');
  assert.equal(flag('--handover-peer-address'), '{pod}.gw-gateway-headless.{namespace}.svc:2526');
  assert.equal(flag('--handover-token-file'), '/etc/mailgw/handover/token');
  assert.deepEqual(c.env.filter((e: Obj) => e.valueFrom).map((e: Obj) => [e.name, e.valueFrom.fieldRef.fieldPath]), [['POD_NAME', 'metadata.name'], ['POD_NAMESPACE', 'metadata.namespace']]);
  assert.deepEqual(pod.volumes.find((v: Obj) => v.name === 'handover').secret.secretName, 'gw-handover');
  assert.ok(find(objects, 'Service', 'gw-gateway-headless').spec.ports.some((p: Obj) => p.port === 2526), 'peers reach the handover port through the headless Service');
  assert.ok(!find(objects, 'Service', 'gw-smtp').spec.ports.some((p: Obj) => p.port === 2526), 'the public Service never exposes it');
  const np = find(objects, 'NetworkPolicy').spec;
  assert.deepEqual(np.podSelector, sts.spec.selector);
  assert.deepEqual(np.ingress, [
    { ports: [{ protocol: 'TCP', port: 2525 }, { protocol: 'TCP', port: 9090 }] },
    { from: [{ podSelector: sts.spec.selector }], ports: [{ protocol: 'TCP', port: 2526 }] },
    { from: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'mailgw', 'app.kubernetes.io/component': 'console' } } }], ports: [{ protocol: 'TCP', port: 8081 }] },
  ], 'SMTP and metrics open as before; the handover port only to the gateway\'s own pods');
  // Sessions (10 s) + drain + handover fit in the grace period.
  const seconds = (d: string) => Number(d.replace(/s$/, ''));
  assert.ok(10 + seconds(flag('--handover-drain')) + seconds(flag('--handover-time')) <= pod.terminationGracePeriodSeconds);
});

it('gateway pods run the operator\'s image unless spec.image says otherwise', () => {
  const image = (spec: Obj, gatewayImage?: string) => find(render(gw(spec), [], [], { gatewayImage }).objects as Obj[], 'StatefulSet').spec.template.spec.containers[0].image;
  assert.equal(image({}, 'registry.example/mailgw:1.2.3'), 'registry.example/mailgw:1.2.3');
  assert.equal(image({ image: 'mine/gw:9' }, 'registry.example/mailgw:1.2.3'), 'mine/gw:9');
  assert.equal(image({}), 'mailgw/mailgw:0.1.0', 'rendered from files (no operator): the release default');
});

it('pod memory follows the memory budget unless spec.resources is set', () => {
  const res = (spec: Obj) => find(render(gw(spec), [], []).objects as Obj[], 'StatefulSet').spec.template.spec.containers[0].resources;
  assert.deepEqual(res({}), { requests: { cpu: '100m', memory: '512Mi' }, limits: { memory: '1Gi' } });
  assert.deepEqual(res({ limits: { memoryBudget: '1Gi' } }), { requests: { cpu: '100m', memory: '1280Mi' }, limits: { memory: '2560Mi' } });
  assert.deepEqual(res({ resources: { limits: { memory: '3Gi' } } }), { limits: { memory: '3Gi' } });
});
