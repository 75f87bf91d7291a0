/**
 * Reconcile one MailGateway, in numbered steps (controller-runtime style):
 *
 *   1. load      the MailGateway; gone → mark its LocalDomains/TrustedNetworks
 *                not in effect and stop (owner references let the garbage
 *                collector delete what it owned)
 *   2. gather    its LocalDomains and TrustedNetworks (same namespace, gatewayRef)
 *   3. render    pure: config + objects + lint findings; a spec that can never
 *                work (schema or lint error) is Degraded and nothing is applied,
 *                so the running config stays
 *   4. apply     server-side apply of each owned object whose desired state
 *                differs from the live one (a no-op reconcile writes nothing);
 *                the handover token Secret is created once, never re-applied
 *   5. status    computed, written through /status only when it changed;
 *                Events for transitions (rolled out, degraded, recovered)
 *
 * Errors from the API server propagate: the work queue retries with backoff.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { localDomain, mailGateway, trustedNetwork, type LocalDomain, type MailGateway, type TrustedNetwork } from '../api/index.ts';
import { canonical, holds } from './object-diff.ts';
import type { K8sApi } from './k8s-api.ts';
import type { Finding } from './lint.ts';
import { render } from './render.ts';
import type { StatusWriter } from './status-writer.ts';
import { handoverSecret, podSelector, replicasOf } from './render-objects.ts';
import { attachedStatus, gatewayStatus, type GatewayStatus } from './status-compute.ts';

type Obj = Record<string, unknown>;
const APPLIED = 'mailgw.io/applied';

export interface ClusterView {
  gateway(namespace: string, name: string): Obj | undefined;
  domains(namespace: string): Obj[];
  networks(namespace: string): Obj[];
  owned(kind: string, namespace: string, name: string): Obj | undefined;
  /** The objects of a kind in a namespace whose controller is MailGateway `gateway`. */
  ownedBy(kind: string, namespace: string, gateway: string): Obj[];
}

export interface ReconcileContext {
  api: K8sApi;
  view: ClusterView;
  logger: Logger;
  now: () => Date;
  /** Image for gateway pods whose MailGateway sets no spec.image. */
  gatewayImage?: string | undefined;
  configLimit?: number | undefined;
  /**
   * Handover tokens known to exist, as "namespace/name@uid/generation": the
   * operator may not read Secrets, so it learns this from its own create
   * (created, or 409). A new MailGateway generation (or an operator restart)
   * checks again, which recreates a deleted token.
   */
  tokens?: Set<string>;
  /** Writes the attached objects' statuses in the background. */
  statuses: StatusWriter;
}

/** Parsed resources by object: an informer replaces an object on every change, so an unchanged one is parsed once. */
const parsedCache = new WeakMap<Obj, { data?: unknown }>();
function parseCached<T>(schema: { safeParse(o: unknown): { success: true; data: T } | { success: false } }, o: Obj): T | undefined {
  let hit = parsedCache.get(o);
  if (!hit) {
    const p = schema.safeParse(o);
    hit = p.success ? { data: p.data } : {};
    parsedCache.set(o, hit);
  }
  return hit.data as T | undefined;
}

const metaOf = (o: Obj) => (o.metadata ?? {}) as { name: string; namespace?: string; generation?: number; uid?: string; annotations?: Record<string, string> };

/** The applied-object fingerprint stored on each owned object, so an unchanged desired state is not sent again. */
function fingerprint(obj: Obj): string {
  return createHash('sha256').update(canonical(obj)).digest('hex').slice(0, 16);
}

function withFingerprint(obj: Obj): Obj {
  const m = metaOf(obj);
  const fp = fingerprint(obj);
  return { ...obj, metadata: { ...m, annotations: { ...(m.annotations ?? {}), [APPLIED]: fp } } };
}

/** True when the live object carries our last fingerprint and still holds every field we set (no drift). */
export function upToDate(desired: Obj, live: Obj | undefined): boolean {
  if (!live) return false;
  if (metaOf(live).annotations?.[APPLIED] !== metaOf(desired).annotations?.[APPLIED]) return false;
  // Everything we set is still there; what the server defaulted around it is not drift.
  return holds(live, desired);
}

/**
 * Server-side apply, then a check that the object now holds what we want.
 * Where another field manager's list entries keep it from doing so (or make
 * the apply invalid, 422), the spec is taken back wholesale and applied again.
 */
async function applyHealing(ctx: ReconcileContext, desired: Obj): Promise<void> {
  let live: Obj | undefined;
  try {
    live = await ctx.api.apply(desired) as unknown as Obj;
  } catch (err) {
    if ((err as { code?: number }).code !== 422) throw err;
  }
  if (live && holds(live, desired)) return;
  const m = metaOf(desired);
  ctx.logger.warn({ event: 'drift-replaced', object: `${String(desired.kind)}/${m.namespace}/${m.name}` }, 'another field manager changed list entries the operator owns; taking the spec back');
  await ctx.api.replaceSpec(desired);
  await ctx.api.apply(desired);
}

function refersTo(o: Obj, name: string): boolean {
  return ((o.spec as { gatewayRef?: { name?: string } } | undefined)?.gatewayRef?.name) === name;
}

async function writeAttached(ctx: ReconcileContext, plural: string, obj: Obj, accepted: boolean, reason: string, message: string): Promise<void> {
  const m = metaOf(obj);
  const prev = obj.status as { conditions?: never[] } | undefined;
  const next = attachedStatus(prev, m.generation ?? 0, accepted, reason, message, ctx.now().toISOString());
  if (canonical(prev) === canonical(next)) return;
  ctx.statuses.enqueue(plural, m.namespace ?? 'default', m.name, next, prev as Obj | undefined);
}

/** The Error findings by object ("Kind/namespace/name"): looked up once per attached object, not searched (100,000 of them). */
function errorsByObject(findings: readonly Finding[]): Map<string, Finding[]> {
  const out = new Map<string, Finding[]>();
  for (const f of findings) if (f.severity === 'Error') out.set(f.object, [...(out.get(f.object) ?? []), f]);
  return out;
}

/** Reconciles one gateway; resolves to whether it is Degraded (undefined when it does not exist). */
export async function reconcile(ctx: ReconcileContext, key: string): Promise<boolean | undefined> {
  const [namespace, name] = key.split('/') as [string, string];
  const log = ctx.logger.child({ key });

  // 1. load
  const raw = ctx.view.gateway(namespace, name);
  const attachedDomains = ctx.view.domains(namespace).filter((d) => refersTo(d, name));
  const attachedNetworks = ctx.view.networks(namespace).filter((n) => refersTo(n, name));
  if (!raw) {
    for (const d of attachedDomains) await writeAttached(ctx, 'localdomains', d, false, 'GatewayNotFound', `MailGateway ${name} does not exist`);
    for (const n of attachedNetworks) await writeAttached(ctx, 'trustednetworks', n, false, 'GatewayNotFound', `MailGateway ${name} does not exist`);
    log.debug({ event: 'reconcile', step: 'load' }, 'gateway gone');
    return undefined;
  }

  // 2. gather (objects that fail the schema are left out and told why)
  const invalidReasons: string[] = [];
  const domains: { raw: Obj; parsed?: LocalDomain }[] = attachedDomains.map((d) => {
    const parsed = parseCached<LocalDomain>(localDomain, d);
    return parsed ? { raw: d, parsed } : { raw: d };
  });
  const networks: { raw: Obj; parsed?: TrustedNetwork }[] = attachedNetworks.map((n) => {
    const parsed = parseCached<TrustedNetwork>(trustedNetwork, n);
    return parsed ? { raw: n, parsed } : { raw: n };
  });
  const gwParsed = mailGateway.safeParse(raw);
  if (!gwParsed.success) invalidReasons.push(...gwParsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));

  // 3. render
  const gwMeta = metaOf(raw);
  let rendered: ReturnType<typeof render> | undefined;
  let findings: Finding[] = [];
  if (gwParsed.success) {
    const gw: MailGateway = gwParsed.data;
    rendered = render(gw, domains.flatMap((d) => (d.parsed ? [d.parsed] : [])), networks.flatMap((n) => (n.parsed ? [n.parsed] : [])), { gatewayImage: ctx.gatewayImage, configLimit: ctx.configLimit });
    findings = rendered.findings;
    const errors = findings.filter((f) => f.severity === 'Error');
    if (errors.length > 0) invalidReasons.push(...errors.map((f) => `${f.code} ${f.object} ${f.field}: ${f.message}`));
  }
  const invalid = invalidReasons.length > 0 ? invalidReasons.join('; ').slice(0, 4000) : undefined;

  // 4. apply (only a valid spec; otherwise the running config stays)
  let applied = 0;
  /** Kind/name of each object written, for the log line (a steady stream of them means drift). */
  const wrote: string[] = [];
  if (rendered && !invalid) {
    // The handover token, by name and with create only: the operator never lists, watches or reads Secrets
    // (least privilege). An existing token answers 409 and stays; a deleted one is made again here.
    const tokenKey = `${namespace}/${gwMeta.name}@${gwMeta.uid ?? ''}/${gwMeta.generation ?? 0}`;
    if (!ctx.tokens?.has(tokenKey)) {
      if (await ctx.api.createOnce(handoverSecret(gwParsed.data!, randomBytes(32).toString('base64url')))) {
        applied++;
        wrote.push('Secret/handover');
      }
      ctx.tokens?.add(tokenKey);
    }
    for (const desired of rendered.objects.map(withFingerprint)) {
      const m = metaOf(desired);
      if (upToDate(desired, ctx.view.owned(String(desired.kind), m.namespace ?? namespace, m.name))) continue;
      await applyHealing(ctx, desired);
      applied++;
      wrote.push(`${String(desired.kind)}/${m.name}`);
    }
    // A config that shrank to fewer parts leaves ConfigMaps no manifest names: deleted after the StatefulSet stopped
    // mounting them (its projected sources beyond the first are optional, so pods not yet rolled keep working).
    const keep = new Set(rendered.objects.filter((o) => o.kind === 'ConfigMap').map((o) => metaOf(o).name));
    for (const cm of ctx.view.ownedBy('ConfigMap', namespace, name)) {
      const cmName = metaOf(cm).name;
      if (keep.has(cmName) || !cmName.startsWith(`${name}-config-`)) continue;
      await ctx.api.deleteConfigMap(namespace, cmName);
      applied++;
      wrote.push(`-ConfigMap/${cmName}`);
    }
  }

  // 5. status
  const prev = raw.status as GatewayStatus | undefined;
  const stsName = `${name}-gateway`;
  const sts = ctx.view.owned('StatefulSet', namespace, stsName) as { metadata?: { generation?: number }; status?: Record<string, number> } | undefined;
  const spec = (raw.spec ?? {}) as { replicas?: number; autoscaling?: { mode?: string } };
  const autoscaled = !!spec.autoscaling && (spec.autoscaling.mode ?? 'Operator') === 'Operator';
  const hash = !invalid ? rendered?.configHash : undefined;
  const status = gatewayStatus(prev, {
    generation: gwMeta.generation ?? 0,
    // As rendered (the autopilot's decision included); with an HPA, what it set on the StatefulSet.
    replicasWanted: (gwParsed.success ? replicasOf(gwParsed.data) : spec.replicas) ?? (sts as { spec?: { replicas?: number } } | undefined)?.spec?.replicas ?? 2,
    statefulSet: sts ? { generation: sts.metadata?.generation ?? 0, status: sts.status ?? {} } : undefined,
    domains: invalid ? 0 : (rendered?.gatewayConfig.localDomains.length ?? 0),
    networks: invalid ? 0 : (rendered ? new Set(rendered.gatewayConfig.trustedNetworks.map((t) => t.source)).size : 0),
    configHash: hash,
    findings,
    invalid,
    selector: podSelector(name),
  }, ctx.now().toISOString());
  // status.autoscaling is the autopilot's (autopilot.ts): never written from here, where it may be a moment stale (that
  // would undo a decision); cleared once spec.autoscaling is gone.
  const prevOwn = prev ? Object.fromEntries(Object.entries(prev).filter(([k]) => k !== 'autoscaling')) : undefined;
  const previous = (autoscaled ? prevOwn : prev) as Obj | undefined;
  if (canonical(autoscaled ? prevOwn : prev) !== canonical(status)) {
    await ctx.api.writeStatus('mailgateways', namespace, name, status as Obj, previous);
    const involved = { kind: 'MailGateway', namespace, name, uid: gwMeta.uid };
    const wasDegraded = prev?.conditions?.find((c) => c.type === 'Degraded')?.status === 'True';
    if (invalid && !wasDegraded) await ctx.api.event(involved, 'Warning', 'Degraded', invalid, ctx.now());
    if (!invalid && wasDegraded) await ctx.api.event(involved, 'Normal', 'Recovered', 'the spec is valid again and has been applied', ctx.now());
    if (hash && prev?.configHash !== hash) await ctx.api.event(involved, 'Normal', 'ConfigRolledOut', `gateway config ${hash} applied (${status.domains} domains, ${status.networks} trusted networks)`, ctx.now());
  }
  const errors = errorsByObject(findings);
  const attached: [kind: string, plural: string, items: { raw: Obj; parsed?: unknown }[]][] = [['LocalDomain', 'localdomains', domains], ['TrustedNetwork', 'trustednetworks', networks]];
  for (const [kind, plural, items] of attached) {
    for (const item of items) {
      const m = metaOf(item.raw);
      const errs = errors.get(`${kind}/${m.namespace ?? 'default'}/${m.name}`) ?? [];
      const [accepted, reason, message] = !item.parsed ? [false, 'InvalidSpec', 'the spec does not pass validation']
        : errs.length > 0 ? [false, errs[0]!.code, errs[0]!.message]
        : invalid ? [false, 'GatewayDegraded', `MailGateway ${name} is degraded: ${invalid.slice(0, 500)}`]
        : [true, 'Accepted', `in effect on MailGateway ${name}`];
      await writeAttached(ctx, plural, item.raw, accepted, reason, message);
    }
  }
  log.info({ event: 'reconcile', applied, ...(wrote.length ? { wrote } : {}), degraded: Boolean(invalid), domains: status.domains, networks: status.networks, ready: status.readyReplicas }, 'reconciled');
  return Boolean(invalid);
}
