/** Leaf paths of a plain object (lists are atomic) and canonical JSON, for comparing desired with live state. */
type Obj = Record<string, unknown>;

export function canonical(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).filter((k) => (v as Obj)[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Obj)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

export function leafPaths(obj: unknown, path: string[] = [], out: [string[], unknown][] = []): [string[], unknown][] {
  if (obj && typeof obj === 'object' && !Array.isArray(obj) && Object.keys(obj).length > 0) {
    for (const [k, v] of Object.entries(obj as Obj)) leafPaths(v, [...path, k], out);
  } else if (path.length > 0) {
    out.push([path, obj]);
  }
  return out;
}

export function getPathValue(obj: unknown, path: string[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (!cur || typeof cur !== 'object') return undefined;
    cur = (cur as Obj)[p];
  }
  return cur;
}

/**
 * Whether `live` holds everything `desired` says: objects key by key, lists
 * element by element (same length and order), so fields the API server adds
 * by defaulting (imagePullPolicy, a probe's scheme, a fieldRef's apiVersion,
 * a volume's defaultMode…) are not drift.
 */
export function holds(live: unknown, desired: unknown): boolean {
  if (Array.isArray(desired)) {
    return Array.isArray(live) && live.length === desired.length && desired.every((d, i) => holds(live[i], d));
  }
  if (desired && typeof desired === 'object') {
    if (!live || typeof live !== 'object' || Array.isArray(live)) return false;
    return Object.entries(desired as Obj).every(([k, v]) => v === undefined || holds((live as Obj)[k], v));
  }
  return canonical(live) === canonical(desired);
}
