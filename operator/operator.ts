/**
 * The operator: informers on the three resources and on what it owns, a
 * keyed work queue (one key per MailGateway), the reconcile of
 * reconcile.ts, a periodic resync, leader election, metrics and health.
 * Only the leader runs the controllers; a standby keeps campaigning.
 */
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { GROUP, K8sApi, VERSION } from './k8s-api.ts';
import { LeaderElector } from './leader-election.ts';
import { OperatorMetrics } from './metrics.ts';
import { reconcile, type ClusterView } from './reconcile.ts';
import { StatusWriter } from './status-writer.ts';
import { ResilientInformer } from './watch.ts';
import { WorkQueue } from './work-queue.ts';
import { Autopilot } from './autopilot.ts';
import { METRICS_PORT } from './render-objects.ts';

type Obj = KubernetesObject & Record<string, unknown>;

export interface OperatorOptions {
  logger: Logger;
  identity: string;
  leaseNamespace: string;
  leaseName?: string;
  leaseDurationMs?: number;
  resyncMs?: number;
  watchSilenceMs?: number;
  metricsHost?: string;
  metricsPort?: number;
  concurrency?: number;
  /** Image for gateway pods whose MailGateway sets no spec.image (the chart passes the operator's own). */
  gatewayImage?: string | undefined;
  /** Cap on a gateway's compressed config (--config-limit; api/config-pack.ts). */
  configLimit?: number | undefined;
  /** Namespaces to watch (the chart's watchNamespaces); empty or absent: all. */
  watchNamespaces?: string[] | undefined;
  /** How often the autopilot samples autoscaled gateways (default 15 s). */
  autoscaleIntervalMs?: number | undefined;
  /** The gateway pods' metrics port the autopilot reads (default 9090, the rendered container port). */
  gatewayMetricsPort?: number | undefined;
}

const OWNED_SELECTOR = 'app.kubernetes.io/managed-by=mailgw-operator';

/** An informer event is reconciled after this long without another for the same gateway… */
const SETTLE_QUIET_MS = 250;
/** …and at the latest this long after the first of a burst. */
const SETTLE_MAX_MS = 2000;

export class Operator {
  readonly api: K8sApi;
  readonly metrics = new OperatorMetrics();
  private readonly o: OperatorOptions;
  private readonly logger: Logger;
  private readonly queue: WorkQueue;
  private readonly informers: ResilientInformer<Obj>[] = [];
  private readonly byKind = new Map<string, { ns: string | undefined; inf: ResilientInformer<Obj> }[]>();
  private readonly elector: LeaderElector;
  private resyncTimer: NodeJS.Timeout | undefined;
  private metricsServer: Server | undefined;
  private running = false;
  /** Handover tokens known to exist (reconcile.ts): the operator never reads Secrets. */
  private readonly tokens = new Set<string>();
  private readonly statuses: StatusWriter;
  private autopilot: Autopilot | undefined;

  constructor(api: K8sApi, options: OperatorOptions) {
    this.api = api;
    this.o = options;
    this.logger = options.logger;
    this.statuses = new StatusWriter((...a) => api.writeStatus(...a), this.logger);
    // Paused until every informer has listed (startControllers): no reconcile from a partial view.
    this.queue = new WorkQueue((key) => this.reconcileKey(key), { concurrency: options.concurrency ?? 4, paused: true });
    const leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.elector = new LeaderElector(api, {
      namespace: options.leaseNamespace, name: options.leaseName ?? 'mailgw-operator', identity: options.identity,
      leaseDurationMs, retryPeriodMs: Math.max(100, Math.floor(leaseDurationMs / 3)),
    }, this.logger);
    this.elector.onStartedLeading = () => {
      this.metrics.leader.set(1);
      void this.startControllers();
    };
    this.elector.onStoppedLeading = () => {
      this.metrics.leader.set(0);
      // Like controller-runtime: a replica that lost the lease exits and is restarted as a standby.
      this.logger.error({ event: 'leader-lost' }, 'lost leadership; exiting');
      process.exit(1);
    };
  }

  get metricsAddress(): { host: string; port: number } | undefined {
    const a = this.metricsServer?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : undefined;
  }

  async start(): Promise<void> {
    this.metricsServer = await this.metrics.serve(this.o.metricsHost ?? '0.0.0.0', this.o.metricsPort ?? 8080, () => this.informers.every((i) => i.hasSynced));
    this.elector.start();
  }

  /**
   * One informer per kind over all namespaces, or, with watchNamespaces, one
   * per kind and namespace (namespaced list and watch: the operator then
   * needs permissions in those namespaces only).
   */
  private informer(kind: string, path: string, list: () => Promise<unknown>, toKey: (o: Obj) => string[], selector?: string, apiVersion?: string): void {
    const namespaces = this.o.watchNamespaces?.length ? this.o.watchNamespaces : [undefined];
    for (const ns of namespaces) {
      // "/apis/g/v/plural" → "/apis/g/v/namespaces/NS/plural"
      const at = ns ? path.replace(/\/([a-z]+)$/, `/namespaces/${ns}/$1`) : path;
      const lister = ns ? () => this.api.objects.list(apiVersion!, kind, ns, undefined, undefined, undefined, undefined, selector) : list;
      const inf = new ResilientInformer<Obj>(this.api.kc, at, lister as () => Promise<KubernetesListObject<Obj>>, (o) => {
        // Changes settle for a moment first (coalescing bursts); resyncs and retries go straight in.
        for (const k of toKey(o)) this.queue.addSettled(k, SETTLE_QUIET_MS, SETTLE_MAX_MS);
        this.metrics.queueDepth.set(this.queue.depth);
      }, this.logger, { silenceMs: this.o.watchSilenceMs ?? 5 * 60_000, onRestart: (p) => this.metrics.watchRestarts.inc({ path: p }) }, selector);
      this.informers.push(inf);
      this.byKind.set(kind, [...(this.byKind.get(kind) ?? []), { ns, inf }]);
    }
  }

  private listOf(kind: string): Obj[] {
    return (this.byKind.get(kind) ?? []).flatMap((x) => x.inf.list());
  }

  private getOf(kind: string, namespace: string, name: string): Obj | undefined {
    for (const x of this.byKind.get(kind) ?? []) if (!x.ns || x.ns === namespace) return x.inf.get(name, namespace);
    return undefined;
  }

  private async startControllers(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const ns = (o: Obj) => o.metadata?.namespace ?? 'default';
    const gatewayKey = (o: Obj) => [`${ns(o)}/${o.metadata?.name ?? ''}`];
    // A domain or network that moves to another gateway must reconcile both: remember where each pointed.
    const lastRef = new Map<string, string>();
    const refKey = (o: Obj) => {
      const id = `${ns(o)}/${o.kind}/${o.metadata?.name}`;
      const now = `${ns(o)}/${(o.spec as { gatewayRef?: { name?: string } } | undefined)?.gatewayRef?.name ?? ''}`;
      const before = lastRef.get(id);
      lastRef.set(id, now);
      return before && before !== now ? [now, before] : [now];
    };
    const ownerKey = (o: Obj) => (o.metadata?.ownerReferences ?? []).filter((r) => r.kind === 'MailGateway' && r.controller).map((r) => `${ns(o)}/${r.name}`);
    const crList = (plural: string) => () => this.api.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural });
    this.informer('MailGateway', `/apis/${GROUP}/${VERSION}/mailgateways`, crList('mailgateways'), gatewayKey, undefined, `${GROUP}/${VERSION}`);
    this.informer('LocalDomain', `/apis/${GROUP}/${VERSION}/localdomains`, crList('localdomains'), refKey, undefined, `${GROUP}/${VERSION}`);
    this.informer('TrustedNetwork', `/apis/${GROUP}/${VERSION}/trustednetworks`, crList('trustednetworks'), refKey, undefined, `${GROUP}/${VERSION}`);
    this.informer('ConfigMap', '/api/v1/configmaps', () => this.api.core.listConfigMapForAllNamespaces({ labelSelector: OWNED_SELECTOR }), ownerKey, OWNED_SELECTOR, 'v1');
    this.informer('Service', '/api/v1/services', () => this.api.core.listServiceForAllNamespaces({ labelSelector: OWNED_SELECTOR }), ownerKey, OWNED_SELECTOR, 'v1');
    this.informer('StatefulSet', '/apis/apps/v1/statefulsets', () => this.api.apps.listStatefulSetForAllNamespaces({ labelSelector: OWNED_SELECTOR }), ownerKey, OWNED_SELECTOR, 'apps/v1');
    this.informer('PodDisruptionBudget', '/apis/policy/v1/poddisruptionbudgets', () => this.api.policy.listPodDisruptionBudgetForAllNamespaces({ labelSelector: OWNED_SELECTOR }), ownerKey, OWNED_SELECTOR, 'policy/v1');
    this.informer('ServiceAccount', '/api/v1/serviceaccounts', () => this.api.core.listServiceAccountForAllNamespaces({ labelSelector: OWNED_SELECTOR }), ownerKey, OWNED_SELECTOR, 'v1');
    this.informer('Role', '/apis/rbac.authorization.k8s.io/v1/roles', () => this.api.rbac.listRoleForAllNamespaces({ labelSelector: OWNED_SELECTOR }), ownerKey, OWNED_SELECTOR, 'rbac.authorization.k8s.io/v1');
    // Listed untyped: the typed client renames the ingress rules' `from` to `_from`, which would look like drift forever.
    this.informer('NetworkPolicy', '/apis/networking.k8s.io/v1/networkpolicies', () => this.api.custom.listClusterCustomObject({ group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', labelSelector: OWNED_SELECTOR }), ownerKey, OWNED_SELECTOR, 'networking.k8s.io/v1');
    this.informer('RoleBinding', '/apis/rbac.authorization.k8s.io/v1/rolebindings', () => this.api.rbac.listRoleBindingForAllNamespaces({ labelSelector: OWNED_SELECTOR }), ownerKey, OWNED_SELECTOR, 'rbac.authorization.k8s.io/v1');
    await Promise.all(this.informers.map((i) => i.start()));
    // Nothing is reconciled from a partial view: with LocalDomains not listed yet, a gateway would be rendered without them.
    await Promise.all(this.informers.map((i) => i.whenSynced()));
    this.queue.resume();
    const scope = this.o.watchNamespaces?.length ? this.o.watchNamespaces : undefined;
    this.logger.info({ event: 'controllers-started', informers: this.informers.length, namespaces: scope ?? 'all' }, scope
      ? `watching MailGateways, LocalDomains, TrustedNetworks and owned objects in ${scope.join(', ')} only; MailGateways in other namespaces are ignored`
      : 'watching MailGateways, LocalDomains, TrustedNetworks and owned objects in all namespaces');
    this.resync();
    const every = this.o.resyncMs ?? 10 * 60_000;
    this.resyncTimer = setInterval(() => this.resync(), every);
    this.resyncTimer.unref();
    this.autopilot = new Autopilot({
      api: this.api, logger: this.logger, gateways: () => this.listOf('MailGateway'), statefulSet: (ns, name) => this.getOf('StatefulSet', ns, name),
      metricsPort: this.o.gatewayMetricsPort ?? METRICS_PORT, intervalMs: this.o.autoscaleIntervalMs ?? 15_000, reconcile: (key) => this.queue.add(key),
    });
    this.autopilot.start();
  }

  /** Every gateway (and every gateway a domain or network points at) gets a reconcile. */
  private resync(): void {
    const keys = new Set<string>();
    for (const kind of ['MailGateway', 'LocalDomain', 'TrustedNetwork']) {
      for (const o of this.listOf(kind)) {
        const ns = o.metadata?.namespace ?? 'default';
        keys.add(kind === 'MailGateway' ? `${ns}/${o.metadata?.name}` : `${ns}/${(o.spec as { gatewayRef?: { name?: string } }).gatewayRef?.name ?? ''}`);
      }
    }
    for (const k of keys) this.queue.add(k);
  }

  private view(): ClusterView {
    const list = (kind: string, namespace: string) => this.listOf(kind).filter((o) => (o.metadata?.namespace ?? 'default') === namespace) as Record<string, unknown>[];
    return {
      gateway: (namespace, name) => this.getOf('MailGateway', namespace, name) as Record<string, unknown> | undefined,
      domains: (namespace) => list('LocalDomain', namespace),
      networks: (namespace) => list('TrustedNetwork', namespace),
      owned: (kind, namespace, name) => this.getOf(kind, namespace, name) as Record<string, unknown> | undefined,
      ownedBy: (kind, namespace, gateway) => this.listOf(kind).filter((o) => (o.metadata?.namespace ?? 'default') === namespace
        && (o.metadata?.ownerReferences ?? []).some((r) => r.kind === 'MailGateway' && r.controller && r.name === gateway)) as Record<string, unknown>[],
    };
  }

  private async reconcileKey(key: string): Promise<void> {
    const end = this.metrics.duration.startTimer();
    try {
      const degraded = await reconcile({ api: this.api, view: this.view(), logger: this.logger, now: () => new Date(), gatewayImage: this.o.gatewayImage, configLimit: this.o.configLimit, tokens: this.tokens, statuses: this.statuses }, key);
      if (degraded === undefined) this.metrics.degraded.remove({ gateway: key });
      else this.metrics.degraded.set({ gateway: key }, degraded ? 1 : 0);
      this.metrics.reconciles.inc({ result: 'ok' });
    } catch (err) {
      this.metrics.reconciles.inc({ result: 'error' });
      this.logger.warn({ event: 'reconcile-error', key, err: (err as Error).message }, 'reconcile failed; retrying with backoff');
      throw err;
    } finally {
      end();
      this.metrics.queueDepth.set(this.queue.depth);
    }
  }

  /** Graceful stop: release the lease first so a standby takes over at once. */
  async stop(): Promise<void> {
    await this.elector.stop();
    this.queue.stop();
    this.autopilot?.stop();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await Promise.all(this.informers.map((i) => i.stop()));
    await new Promise<void>((r) => (this.metricsServer ? this.metricsServer.close(() => r()) : r()));
  }
}
