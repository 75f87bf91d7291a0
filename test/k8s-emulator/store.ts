/**
 * The emulator's storage ("etcd" + the parts of the API server that act on
 * writes): objects by resource/namespace/name, one monotonic resourceVersion,
 * a bounded event history for watches (older → 410 Gone), generation bumps
 * on spec changes only, status split, field ownership for server-side
 * apply, owner-reference cascade on delete, CRD validation and defaulting.
 * Counts every mutating request and every real change, per resource.
 */
import { randomUUID } from 'node:crypto';
import { admit } from '../helpers/crd-validate.ts';
import { apiVersionOf, type ResourceType } from './resources.ts';
import { canonical, deletePath, getPath, leaves, mergePatch, setPath } from './fields.ts';

type Json = Record<string, unknown>;

export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly causes: { field?: string | undefined; message: string; reason?: string }[];
  constructor(code: number, reason: string, message: string, causes: { field?: string | undefined; message: string; reason?: string }[] = []) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.causes = causes;
  }
}

export interface WatchEvent { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: Json; rv: number; resource: ResourceType }

interface Owned { operation: 'Apply' | 'Update'; paths: Set<string> }

export interface Counters {
  /** Mutating requests (create, update, patch, apply, delete), by "verb resource". */
  requests: Map<string, number>;
  /** Requests that changed an object (resourceVersion bumped), by resource. */
  changes: Map<string, number>;
}

const meta = (o: Json) => (o.metadata ?? (o.metadata = {})) as Json;

export class Store {
  private rv = 1;
  private readonly objects = new Map<string, Json>();
  private readonly owners = new Map<string, Map<string, Owned>>();
  private history: WatchEvent[] = [];
  private readonly historyLimit: number;
  readonly watchers = new Set<(e: WatchEvent) => void>();
  readonly counters: Counters = { requests: new Map(), changes: new Map() };
  /** Every request as RBAC sees it: "agent verb group/resource[/sub] namespace". */
  readonly audit = new Set<string>();
  /** Emulates the StatefulSet controller: status follows spec.replicas. */
  autoReadyStatefulSets = true;

  constructor(historyLimit = 10_000) {
    this.historyLimit = historyLimit;
  }

  get resourceVersion(): string {
    return String(this.rv);
  }

  /** Oldest resourceVersion a watch can start from. */
  get oldestWatchable(): number {
    return this.history.length > 0 ? this.history[0]!.rv - 1 : this.rv;
  }

  /** Forgets the event history, as a compaction does: older watches get 410. */
  compact(): void {
    this.history = [];
  }

  private key(t: ResourceType, ns: string | undefined, name: string): string {
    return `${t.group}/${t.resource}/${ns ?? ''}/${name}`;
  }

  private count(map: Map<string, number>, k: string): void {
    map.set(k, (map.get(k) ?? 0) + 1);
  }

  list(t: ResourceType, ns: string | undefined, labelSelector?: string): Json[] {
    const prefix = `${t.group}/${t.resource}/${ns !== undefined ? `${ns}/` : ''}`;
    const want = parseSelector(labelSelector);
    return [...this.objects.entries()].filter(([k, o]) => k.startsWith(prefix) && matches(o, want)).map(([, o]) => structuredClone(o));
  }

  get(t: ResourceType, ns: string | undefined, name: string): Json {
    const o = this.objects.get(this.key(t, ns, name));
    if (!o) throw new ApiError(404, 'NotFound', `${t.resource} "${name}" not found`);
    return structuredClone(o);
  }

  eventsSince(rv: number): WatchEvent[] {
    return this.history.filter((e) => e.rv > rv);
  }

  private emit(type: WatchEvent['type'], t: ResourceType, object: Json): void {
    const e: WatchEvent = { type, object: structuredClone(object), rv: Number(meta(object).resourceVersion), resource: t };
    this.history.push(e);
    if (this.history.length > this.historyLimit) this.history.shift();
    for (const w of this.watchers) w(e);
  }

  private validate(t: ResourceType, obj: Json): Json {
    if (!t.crd) return obj;
    const r = admit(t.crd, obj);
    if (r.errors.length > 0) {
      throw new ApiError(422, 'Invalid', `${t.kind}.${t.group} "${String(meta(obj).name)}" is invalid: ${r.errors.join(', ')}`,
        r.errors.map((e) => ({ field: e.split(':')[0], message: e, reason: 'FieldValueInvalid' })));
    }
    return r.object;
  }

  /** Writes `next` in place of `prev` (undefined: create), bumping rv and generation as the API server does. */
  private commit(t: ResourceType, key: string, prev: Json | undefined, next: Json, manager: string, operation: 'Apply' | 'Update', owned?: Map<string, unknown>): Json {
    next.apiVersion = apiVersionOf(t);
    next.kind = t.kind;
    const m = meta(next);
    if (prev) {
      const pm = meta(prev);
      m.uid = pm.uid;
      m.creationTimestamp = pm.creationTimestamp;
      m.generation = pm.generation;
      m.resourceVersion = pm.resourceVersion;
      delete m.managedFields;
      const strip = (o: Json) => canonical({ ...o, metadata: { ...(o.metadata as Json), managedFields: undefined } });
      if (strip(prev) === strip(next)) return structuredClone(prev); // no-op: nothing written
      if (t.generation) {
        const spec = (o: Json) => canonical(Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'metadata' && k !== 'status')));
        if (spec(prev) !== spec(next)) m.generation = Number(pm.generation ?? 1) + 1;
      }
    } else {
      m.uid = randomUUID();
      m.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      if (t.generation) m.generation = 1;
    }
    this.rv++;
    m.resourceVersion = String(this.rv);
    // Field ownership: what this request set belongs to its manager now.
    const own = this.owners.get(key) ?? new Map<string, Owned>();
    const nextLeaves = leaves(next);
    const changed = owned ?? new Map([...nextLeaves].filter(([p, v]) => !prev || canonical(getPath(prev, JSON.parse(p) as string[])) !== canonical(v)));
    for (const [mgr, o] of own) {
      if (mgr === manager) continue;
      for (const p of changed.keys()) if (canonical(getPath(prev ?? {}, JSON.parse(p) as string[])) !== canonical(nextLeaves.get(p))) o.paths.delete(p);
      for (const p of [...o.paths]) if (!nextLeaves.has(p)) o.paths.delete(p);
      if (o.paths.size === 0) own.delete(mgr);
    }
    const mine = own.get(manager) ?? { operation, paths: new Set<string>() };
    mine.operation = operation;
    for (const p of changed.keys()) if (nextLeaves.has(p)) mine.paths.add(p);
    if (mine.paths.size > 0) own.set(manager, mine);
    this.owners.set(key, own);
    m.managedFields = [...own].map(([mgr, o]) => ({ manager: mgr, operation: o.operation, apiVersion: apiVersionOf(t), fieldsType: 'FieldsV1', fieldsV1: { paths: [...o.paths].sort() } }));
    this.objects.set(key, next);
    this.count(this.counters.changes, t.resource);
    this.emit(prev ? 'MODIFIED' : 'ADDED', t, next);
    if (t.kind === 'StatefulSet' && this.autoReadyStatefulSets) queueMicrotask(() => this.settleStatefulSet(t, next));
    return structuredClone(next);
  }

  private settleStatefulSet(t: ResourceType, sts: Json): void {
    const m = meta(sts);
    const key = this.key(t, m.namespace as string, m.name as string);
    const cur = this.objects.get(key);
    if (!cur || meta(cur).resourceVersion !== m.resourceVersion) return;
    const replicas = Number(getPath(cur, ['spec', 'replicas']) ?? 1);
    const status = { observedGeneration: meta(cur).generation, replicas, readyReplicas: replicas, currentReplicas: replicas, updatedReplicas: replicas, availableReplicas: replicas };
    if (canonical(cur.status) === canonical(status)) return;
    this.commit(t, key, cur, { ...structuredClone(cur), status }, 'kube-controller-manager', 'Update');
  }

  create(t: ResourceType, ns: string | undefined, body: Json, manager: string): Json {
    this.count(this.counters.requests, `create ${t.resource}`);
    const m = meta(body);
    if (!m.name && m.generateName) m.name = `${String(m.generateName)}${Math.random().toString(36).slice(2, 7)}`;
    if (!m.name) throw new ApiError(422, 'Invalid', 'metadata.name: Required value');
    if (t.namespaced) m.namespace = ns;
    const key = this.key(t, ns, m.name as string);
    if (this.objects.has(key)) throw new ApiError(409, 'AlreadyExists', `${t.resource} "${String(m.name)}" already exists`);
    const obj = this.validate(t, { ...body, ...(t.status && t.crd ? { status: undefined } : {}) });
    if (obj.status === undefined) delete obj.status;
    return this.commit(t, key, undefined, obj, manager, 'Update');
  }

  /** PUT on the object (status kept as stored when there is a status subresource) or on /status (only status taken). */
  update(t: ResourceType, ns: string | undefined, name: string, body: Json, manager: string, subresource?: 'status'): Json {
    this.count(this.counters.requests, `update ${t.resource}${subresource ? '/status' : ''}`);
    const key = this.key(t, ns, name);
    const prev = this.objects.get(key);
    if (!prev) throw new ApiError(404, 'NotFound', `${t.resource} "${name}" not found`);
    const rv = meta(body).resourceVersion;
    if (rv !== undefined && rv !== meta(prev).resourceVersion) {
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${t.resource} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    const next = subresource === 'status'
      ? { ...structuredClone(prev), status: body.status }
      : { ...body, ...(t.status ? { status: prev.status } : {}) };
    if (next.status === undefined) delete next.status;
    return this.commit(t, key, prev, this.validate(t, next), manager, 'Update');
  }

  /** JSON merge patch (RFC 7386) on the object or its status. */
  patch(t: ResourceType, ns: string | undefined, name: string, patch: Json, manager: string, subresource?: 'status'): Json {
    this.count(this.counters.requests, `patch ${t.resource}${subresource ? '/status' : ''}`);
    const key = this.key(t, ns, name);
    const prev = this.objects.get(key);
    if (!prev) throw new ApiError(404, 'NotFound', `${t.resource} "${name}" not found`);
    const scoped = subresource === 'status' ? { status: patch.status } : (t.status ? { ...patch, status: undefined } : patch);
    const next = mergePatch(structuredClone(prev), JSON.parse(JSON.stringify(scoped))) as Json;
    return this.commit(t, key, prev, this.validate(t, next), manager, 'Update');
  }

  /** Server-side apply: create or merge the applied fields, own them, refuse others' fields unless forced. */
  apply(t: ResourceType, ns: string | undefined, name: string, applied: Json, manager: string, force: boolean, subresource?: 'status'): Json {
    this.count(this.counters.requests, `apply ${t.resource}${subresource ? '/status' : ''}`);
    if (!manager) throw new ApiError(422, 'Invalid', 'fieldManager is required for apply requests');
    const key = this.key(t, ns, name);
    const prev = this.objects.get(key);
    const inScope = (p: string) => (subresource === 'status' ? p.startsWith('["status"') : !(t.status && p.startsWith('["status"')));
    const appliedLeaves = new Map([...leaves(applied)].filter(([p]) => inScope(p)));
    const own = this.owners.get(key) ?? new Map<string, Owned>();
    const conflicts: { field: string; message: string }[] = [];
    for (const [p, v] of appliedLeaves) {
      for (const [mgr, o] of own) {
        if (mgr === manager || !o.paths.has(p)) continue;
        if (canonical(getPath(prev ?? {}, JSON.parse(p) as string[])) !== canonical(v)) conflicts.push({ field: `.${(JSON.parse(p) as string[]).join('.')}`, message: `conflict with "${mgr}"` });
      }
    }
    if (conflicts.length > 0 && !force) {
      throw new ApiError(409, 'Conflict', `Apply failed with ${conflicts.length} conflict(s): ${conflicts.map((c) => `${c.message}: ${c.field}`).join(', ')}`, conflicts.map((c) => ({ ...c, reason: 'FieldManagerConflict' })));
    }
    const next = structuredClone(prev ?? { metadata: { name, ...(t.namespaced ? { namespace: ns } : {}) } }) as Json;
    const others = new Set<string>();
    for (const [mgr, o] of own) if (mgr !== manager) for (const p of o.paths) others.add(p);
    for (const p of own.get(manager)?.paths ?? []) {
      if (inScope(p) && !appliedLeaves.has(p) && !others.has(p)) deletePath(next, JSON.parse(p) as string[]);
    }
    for (const [p, v] of appliedLeaves) setPath(next, JSON.parse(p) as string[], v);
    if (force) for (const c of conflicts) for (const o of own.values()) o.paths.delete(JSON.stringify(c.field.slice(1).split('.')));
    const mine = own.get(manager);
    if (mine) for (const p of [...mine.paths]) if (inScope(p) && !appliedLeaves.has(p)) mine.paths.delete(p);
    const validated = this.validate(t, next);
    if (!prev) {
      meta(validated).name = name;
      if (t.namespaced) meta(validated).namespace = ns;
    }
    return this.commit(t, key, prev, validated, manager, 'Apply', appliedLeaves);
  }

  delete(t: ResourceType, ns: string | undefined, name: string): Json {
    this.count(this.counters.requests, `delete ${t.resource}`);
    const key = this.key(t, ns, name);
    const prev = this.objects.get(key);
    if (!prev) throw new ApiError(404, 'NotFound', `${t.resource} "${name}" not found`);
    this.objects.delete(key);
    this.owners.delete(key);
    this.rv++;
    meta(prev).resourceVersion = String(this.rv);
    this.count(this.counters.changes, t.resource);
    this.emit('DELETED', t, prev);
    this.cascade(String(meta(prev).uid));
    return structuredClone(prev);
  }

  /** Garbage collector (background propagation): dependents of a deleted owner go too. */
  private cascade(uid: string): void {
    for (const [key, o] of [...this.objects]) {
      const refs = (meta(o).ownerReferences as { uid: string }[] | undefined) ?? [];
      if (!refs.some((r) => r.uid === uid)) continue;
      const [group, resource, ns, name] = key.split('/') as [string, string, string, string];
      const t = this.typeOf?.(group, resource);
      if (t) this.delete(t, ns || undefined, name);
    }
  }

  typeOf: ((group: string, resource: string) => ResourceType | undefined) | undefined;
}

function parseSelector(s: string | undefined): [string, string][] {
  if (!s) return [];
  return s.split(',').filter(Boolean).map((part) => {
    const [k, v] = part.split('=').map((x) => x.trim());
    return [k!, v ?? ''];
  });
}

function matches(o: Json, want: [string, string][]): boolean {
  const labels = (meta(o).labels ?? {}) as Record<string, string>;
  return want.every(([k, v]) => labels[k] === v);
}

export function selectorMatches(o: Json, selector: string | undefined): boolean {
  return matches(o, parseSelector(selector));
}
