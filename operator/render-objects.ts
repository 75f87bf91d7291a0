/**
 * The Kubernetes objects of one gateway, built from its MailGateway and its
 * rendered config. Pure: plain objects, no I/O, no clock; the same input
 * gives the same objects. The operator applies them with server-side apply;
 * `mailgw render` prints them for GitOps diffs.
 *
 * ConfigMaps (the rendered config, packed by api/config-pack.ts: one for
 * most gateways, more for very many domains) · Service (SMTP, port → 2525) · headless
 * Service (the StatefulSet's; also the pods' handover port) · StatefulSet
 * (spool on a PVC per pod; config hash as a pod-template annotation so only
 * real config changes roll pods; hardened pod) · PodDisruptionBudget ·
 * ServiceAccount, Role and RoleBinding of the gateway pods (the one thing a
 * pod may read: its own StatefulSet, to tell a scale-down from a restart) ·
 * NetworkPolicy (the handover port open only to the gateway's own pods).
 * All owned by the MailGateway. The handover token Secret is not rendered:
 * the operator creates it once with a random token (handoverSecret below).
 */
import { DEFAULT_SECRETS_DIR, referencedSecrets } from './render-gateway-config.ts';
import { DEFAULT_IMAGE, type GatewayConfig, type MailGateway } from '../api/index.ts';
import type { PackedConfig } from '../api/config-pack.ts';

type Obj = Record<string, unknown>;

export const CONTAINER_PORT = 2525;
export const METRICS_PORT = 9090;
export const HANDOVER_PORT = 2526;
/** The operations API (HTTP; each request carries the caller's Kubernetes token, checked by the API server). */
export const OPS_PORT = 8081;
export const HANDOVER_DIR = '/etc/mailgw/handover';
/** Grace period of a gateway pod: sessions in flight, a last delivery attempt, then the handover of what is left. */
export const GRACE_SECONDS = 120;
/** Where the pod mounts its config: the ConfigMaps of api/config-pack.ts as one projected volume. */
export const CONFIG_DIR = '/etc/mailgw/config';
export const TLS_DIR = '/etc/mailgw/tls';
export const SPOOL_DIR = '/var/spool/mailgw';
export const RUN_AS = 10001;

export function selectorLabels(gw: MailGateway): Record<string, string> {
  return { 'app.kubernetes.io/name': 'mailgw', 'app.kubernetes.io/instance': gw.metadata.name, 'app.kubernetes.io/component': 'gateway' };
}

/** The gateway pods' label selector as a query (`k=v,k=v`): the scale subresource's status.selector, and how the autopilot lists the pods. */
export function podSelector(name: string): string {
  return Object.entries(selectorLabels({ metadata: { name } } as MailGateway)).map(([k, v]) => `${k}=${v}`).join(',');
}

function labels(gw: MailGateway): Record<string, string> {
  return { ...selectorLabels(gw), 'app.kubernetes.io/part-of': 'mailgw', 'app.kubernetes.io/managed-by': 'mailgw-operator' };
}

function meta(gw: MailGateway, name: string, extra: Obj = {}): Obj {
  const uid = (gw.metadata as { uid?: string }).uid;
  return {
    name,
    namespace: gw.metadata.namespace ?? 'default',
    labels: labels(gw),
    ...extra,
    ...(uid ? { ownerReferences: [{ apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', name: gw.metadata.name, uid, controller: true, blockOwnerDeletion: true }] } : {}),
  };
}

export function objectNames(gw: MailGateway) {
  const base = gw.metadata.name;
  return {
    config: `${base}-config`, configPart: (i: number) => (i === 0 ? `${base}-config` : `${base}-config-${i}`), service: `${base}-smtp`, headless: `${base}-gateway-headless`, statefulSet: `${base}-gateway`, pdb: `${base}-gateway`,
    serviceAccount: `${base}-gateway`, role: `${base}-gateway`, handoverSecret: `${base}-handover`, networkPolicy: `${base}-gateway`,
  };
}

/** The handover token Secret, created once by the operator (never re-applied, so the token stays). */
export function handoverSecret(gw: MailGateway, token: string): Obj {
  return { apiVersion: 'v1', kind: 'Secret', metadata: meta(gw, objectNames(gw).handoverSecret), type: 'Opaque', stringData: { token } };
}

function quantity(v: number | string): string {
  return typeof v === 'number' ? String(v) : v;
}

/**
 * Pod resources when the MailGateway sets none: memory follows the memory
 * budget (limits.memoryBudget) — the process's own ~256 MiB plus the budget
 * requested, twice the budget plus 512 MiB as the limit (never below 1 GiB),
 * so the budget, not the kernel, is what says no (docs/operations.md, sizing).
 */
export function defaultResources(memoryBudget: number): Record<string, Record<string, string>> {
  // In the API server's canonical form (1024Mi is stored as 1Gi), or the live object would always look drifted.
  const mi = (b: number) => {
    const n = Math.ceil(b / (1024 * 1024));
    return n % 1024 === 0 ? `${n / 1024}Gi` : `${n}Mi`;
  };
  return { requests: { cpu: '100m', memory: mi(memoryBudget + 256 * 1024 * 1024) }, limits: { memory: mi(Math.max(1024 * 1024 * 1024, 2 * memoryBudget + 512 * 1024 * 1024)) } };
}

/** The StatefulSet's replica count: spec.replicas, or the autopilot's decision; undefined when a HorizontalPodAutoscaler owns it. */
export function replicasOf(gw: MailGateway): number | undefined {
  const a = gw.spec.autoscaling;
  if (!a) return gw.spec.replicas;
  if (a.mode === 'HorizontalPodAutoscaler') return undefined;
  return Math.max(a.minReplicas, Math.min(a.maxReplicas, gw.status?.autoscaling?.replicas ?? a.minReplicas));
}

export function renderObjects(gw: MailGateway, config: GatewayConfig, packed: PackedConfig, defaultImage = DEFAULT_IMAGE): Obj[] {
  const secrets = referencedSecrets(gw.spec);
  const spec = gw.spec;
  const names = objectNames(gw);
  const hash = packed.hash;
  const selector = selectorLabels(gw);
  const exposed = spec.service.type !== 'ClusterIP';
  const cert = spec.tls.inbound.certificate;

  const configMaps = packed.configMaps.map((c, i) => ({
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: meta(gw, names.configPart(i), { annotations: { 'mailgw.io/config-hash': hash, 'mailgw.io/config-part': `${i + 1}/${packed.configMaps.length}` } }),
    ...(Object.keys(c.data).length ? { data: c.data } : {}),
    ...(Object.keys(c.binaryData).length ? { binaryData: Object.fromEntries(Object.entries(c.binaryData).map(([k, v]) => [k, v.toString('base64')])) } : {}),
  }));

  const service = {
    apiVersion: 'v1', kind: 'Service',
    metadata: meta(gw, names.service, spec.service.annotations ? { annotations: spec.service.annotations } : {}),
    spec: {
      type: spec.service.type,
      selector,
      ports: [{ name: 'smtp', port: spec.service.port, targetPort: 'smtp', protocol: 'TCP' }],
      ...(exposed ? { externalTrafficPolicy: spec.service.externalTrafficPolicy ?? 'Local' } : {}),
      ...(spec.service.type === 'LoadBalancer' && spec.service.loadBalancerSourceRanges ? { loadBalancerSourceRanges: spec.service.loadBalancerSourceRanges } : {}),
    },
  };

  const headless = {
    apiVersion: 'v1', kind: 'Service',
    metadata: meta(gw, names.headless),
    spec: {
      clusterIP: 'None', publishNotReadyAddresses: true, selector,
      ports: [
        { name: 'smtp', port: CONTAINER_PORT, targetPort: 'smtp', protocol: 'TCP' },
        { name: 'metrics', port: METRICS_PORT, targetPort: 'metrics', protocol: 'TCP' },
        { name: 'handover', port: HANDOVER_PORT, targetPort: 'handover', protocol: 'TCP' },
        { name: 'ops', port: OPS_PORT, targetPort: 'ops', protocol: 'TCP' },
      ],
    },
  };

  const volumes: Obj[] = [
    // One projected volume: the kubelet updates all its sources at once. Parts beyond the first are optional, so a
    // pod not yet rolled keeps running when a shrinking config's surplus part is deleted.
    { name: 'config', projected: { sources: configMaps.map((c, i) => ({ configMap: { name: c.metadata.name, ...(i > 0 ? { optional: true } : {}) } })) } },
    { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
    { name: 'handover', secret: { secretName: names.handoverSecret, defaultMode: 0o440 } },
    ...(cert ? [{ name: 'tls', secret: { secretName: cert.secretName, defaultMode: 0o440 } }] : []),
    // Outbound CAs, client certificates and AUTH credentials: mounted, so a renewed Secret is read without a restart.
    ...secrets.map((name, i) => ({ name: `secret-${i}`, secret: { secretName: name, defaultMode: 0o440 } })),
  ];
  const mounts: Obj[] = [
    { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
    { name: 'spool', mountPath: SPOOL_DIR },
    { name: 'tmp', mountPath: '/tmp' },
    { name: 'handover', mountPath: HANDOVER_DIR, readOnly: true },
    ...(cert ? [{ name: 'tls', mountPath: TLS_DIR, readOnly: true }] : []),
    ...secrets.map((name, i) => ({ name: `secret-${i}`, mountPath: `${DEFAULT_SECRETS_DIR}/${name}`, readOnly: true })),
  ];
  const probe = (path: string, o: Obj) => ({ httpGet: { path, port: 'metrics' }, ...o });

  const statefulSet = {
    apiVersion: 'apps/v1', kind: 'StatefulSet',
    metadata: meta(gw, names.statefulSet),
    spec: {
      // Autoscaled by the operator: the count it decided (status.autoscaling, within the bounds); by an HPA: none, the HPA owns it.
      ...(replicasOf(gw) === undefined ? {} : { replicas: replicasOf(gw) }),
      serviceName: names.headless,
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'RollingUpdate' },
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: labels(gw), annotations: { 'mailgw.io/config-hash': hash } },
        spec: {
          terminationGracePeriodSeconds: GRACE_SECONDS,
          enableServiceLinks: false,
          serviceAccountName: names.serviceAccount,
          automountServiceAccountToken: true,
          securityContext: { runAsNonRoot: true, runAsUser: RUN_AS, runAsGroup: RUN_AS, fsGroup: RUN_AS, seccompProfile: { type: 'RuntimeDefault' } },
          ...(spec.priorityClassName ? { priorityClassName: spec.priorityClassName } : {}),
          ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
          ...(spec.tolerations ? { tolerations: spec.tolerations } : {}),
          ...(spec.affinity ? { affinity: spec.affinity } : {}),
          ...(spec.topologySpreadConstraints ? { topologySpreadConstraints: spec.topologySpreadConstraints } : {}),
          containers: [{
            name: 'gateway',
            image: spec.image ?? defaultImage,
            args: [
              'gateway', '--config', CONFIG_DIR, '--listen', `0.0.0.0:${CONTAINER_PORT}`, '--state-dir', SPOOL_DIR, '--metrics-address', `0.0.0.0:${METRICS_PORT}`, '--ops-listen', `0.0.0.0:${OPS_PORT}`,
              '--handover-listen', `0.0.0.0:${HANDOVER_PORT}`, '--handover-token-file', `${HANDOVER_DIR}/token`, '--handover-statefulset', names.statefulSet,
              '--handover-peer-address', `{pod}.${names.headless}.{namespace}.svc:${HANDOVER_PORT}`,
              // Of the grace period: up to 10 s for sessions in flight, 30 s for a last delivery attempt, 60 s to hand the rest over.
              '--handover-drain', '30s', '--handover-time', '60s',
            ],
            env: [
              { name: 'MAILGW_STATE_DIR', value: SPOOL_DIR },
              { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            ],
            ports: [
              { name: 'smtp', containerPort: CONTAINER_PORT, protocol: 'TCP' },
              { name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' },
              { name: 'handover', containerPort: HANDOVER_PORT, protocol: 'TCP' },
              { name: 'ops', containerPort: OPS_PORT, protocol: 'TCP' },
            ],
            resources: spec.resources ?? defaultResources(config.limits.memoryBudget),
            readinessProbe: probe('/readyz', { periodSeconds: 5, failureThreshold: 2 }),
            livenessProbe: probe('/healthz', { initialDelaySeconds: 10, periodSeconds: 20, failureThreshold: 3 }),
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
            volumeMounts: mounts,
          }],
          volumes,
        },
      },
      volumeClaimTemplates: [{
        metadata: { name: 'spool', labels: selector },
        spec: {
          accessModes: ['ReadWriteOnce'],
          ...(spec.queue.storage.storageClassName ? { storageClassName: spec.queue.storage.storageClassName } : {}),
          resources: { requests: { storage: quantity(spec.queue.storage.size) } },
        },
      }],
    },
  };

  const pdb = {
    apiVersion: 'policy/v1', kind: 'PodDisruptionBudget',
    metadata: meta(gw, names.pdb),
    spec: { maxUnavailable: 1, selector: { matchLabels: selector } },
  };
  const serviceAccount = {
    apiVersion: 'v1', kind: 'ServiceAccount',
    metadata: meta(gw, names.serviceAccount),
    automountServiceAccountToken: false, // mounted only where the pod spec asks for it (the gateway pods)
  };
  const role = {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role',
    metadata: meta(gw, names.role),
    rules: [{ apiGroups: ['apps'], resources: ['statefulsets'], resourceNames: [names.statefulSet], verbs: ['get'] }],
  };
  const roleBinding = {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding',
    metadata: meta(gw, names.role),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: names.role },
    subjects: [{ kind: 'ServiceAccount', name: names.serviceAccount, namespace: gw.metadata.namespace ?? 'default' }],
  };
  // SMTP and metrics stay open; the handover port admits only the gateway's own pods, the operations API only the console's pods (any namespace; kubectl port-forward still reaches it).
  const networkPolicy = {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy',
    metadata: meta(gw, names.networkPolicy),
    spec: {
      podSelector: { matchLabels: selector },
      policyTypes: ['Ingress'],
      ingress: [
        { ports: [{ protocol: 'TCP', port: CONTAINER_PORT }, { protocol: 'TCP', port: METRICS_PORT }] },
        { from: [{ podSelector: { matchLabels: selector } }], ports: [{ protocol: 'TCP', port: HANDOVER_PORT }] },
        { from: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'mailgw', 'app.kubernetes.io/component': 'console' } } }], ports: [{ protocol: 'TCP', port: OPS_PORT }] },
      ],
    },
  };
  return [...configMaps, service, headless, serviceAccount, role, roleBinding, statefulSet, pdb, networkPolicy];
}
