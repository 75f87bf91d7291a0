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
