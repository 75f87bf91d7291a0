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
  assert.deepEqual(objects.map((o) => o.kind), ['ConfigMap', 'Service', 'Service', 'StatefulSet', 'PodDisruptionBudget']);
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
