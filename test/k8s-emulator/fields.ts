/**
 * Field sets for server-side apply: an object flattened into leaf paths
 * (lists are atomic), plus set/delete by path. Enough of structured-merge-diff
 * to model field ownership and conflicts of the fields the operator sets.
 */
type Json = Record<string, unknown>;

export const IGNORED = new Set(['["apiVersion"]', '["kind"]', '["metadata","name"]', '["metadata","namespace"]', '["metadata","uid"]', '["metadata","resourceVersion"]', '["metadata","generation"]', '["metadata","creationTimestamp"]', '["metadata","managedFields"]', '["metadata","deletionTimestamp"]']);

export function leaves(obj: unknown, path: string[] = [], out = new Map<string, unknown>()): Map<string, unknown> {
  if (obj && typeof obj === 'object' && !Array.isArray(obj) && Object.keys(obj).length > 0) {
    for (const [k, v] of Object.entries(obj as Json)) leaves(v, [...path, k], out);
  } else if (path.length > 0) {
    const key = JSON.stringify(path);
    if (!IGNORED.has(key)) out.set(key, obj);
  }
  return out;
}

export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Json)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

export function getPath(obj: unknown, path: string[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (!cur || typeof cur !== 'object') return undefined;
    cur = (cur as Json)[p];
  }
  return cur;
}

export function setPath(obj: Json, path: string[], value: unknown): void {
  let cur = obj;
  for (const p of path.slice(0, -1)) {
    if (!cur[p] || typeof cur[p] !== 'object' || Array.isArray(cur[p])) cur[p] = {};
    cur = cur[p] as Json;
  }
  cur[path[path.length - 1]!] = structuredClone(value);
}

export function deletePath(obj: Json, path: string[]): void {
  const parents: Json[] = [];
  let cur: Json | undefined = obj;
  for (const p of path.slice(0, -1)) {
    parents.push(cur);
    const next: unknown = cur[p];
    if (!next || typeof next !== 'object') return;
    cur = next as Json;
  }
  delete cur[path[path.length - 1]!];
  // prune parents left empty by the removal
  for (let i = path.length - 2; i >= 0; i--) {
    const parent = parents[i]!;
    const child = parent[path[i]!] as Json;
    if (child && typeof child === 'object' && Object.keys(child).length === 0) delete parent[path[i]!];
    else break;
  }
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return structuredClone(patch);
  const out: Json = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Json) } : {};
  for (const [k, v] of Object.entries(patch as Json)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
