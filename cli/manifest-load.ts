/**
 * Reads manifests (files or directories, multi-document YAML or JSON) and
 * validates each document against the mailgw schemas.
 *
 * Interface: loadManifests(paths) → { gateways, domains, networks, secrets, problems }.
 * Every problem carries its location: file, document number, field path and
 * line, so a user finds it without guessing. Nothing here throws for bad
 * input; I/O errors (missing file) become problems too.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, parseAllDocuments, isNode, type Document } from 'yaml';
import type { z } from 'zod';
import {
  localDomain, mailGateway, trustedNetwork,
  type LocalDomain, type MailGateway, type TrustedNetwork,
} from '../api/index.ts';

export interface Problem {
  severity: 'error' | 'warning';
  file: string;
  document?: number;
  line?: number | undefined;
  path?: string;
  message: string;
}

export interface Secret {
  name: string;
  namespace: string;
  data: Record<string, Buffer>;
}

export interface Location {
  file: string;
  document: number;
  line?: number | undefined;
}

export interface Manifests {
  gateways: MailGateway[];
  domains: LocalDomain[];
  networks: TrustedNetwork[];
  secrets: Secret[];
  problems: Problem[];
  /** Where an object (Kind/namespace/name, as lint names it) and one of its fields (spec.cidrs[0]) were written. */
  locate(object: string, field?: string): Location | undefined;
}

/** "spec.cidrs[0]" → ['spec', 'cidrs', 0]. */
export function parsePath(field: string): (string | number)[] {
  return [...field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]!));
}

const SCHEMAS: Record<string, z.ZodType> = {
  MailGateway: mailGateway,
  LocalDomain: localDomain,
  TrustedNetwork: trustedNetwork,
};

async function expand(path: string): Promise<string[]> {
  const info = await stat(path);
  if (!info.isDirectory()) return [path];
  const entries = (await readdir(path, { withFileTypes: true }))
    .filter((e) => !e.name.startsWith('.'))
    .sort((a, b) => a.name.localeCompare(b.name));
  const files: string[] = [];
  for (const e of entries) {
    const full = join(path, e.name);
    if (e.isDirectory()) files.push(...(await expand(full)));
    else if (/\.(ya?ml|json)$/i.test(e.name)) files.push(full);
  }
  return files;
}

export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), '');
}

function lineOf(doc: Document, lines: LineCounter, path: readonly PropertyKey[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as unknown[], true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}

function decodeSecret(obj: Record<string, unknown>): Secret | string {
  const meta = (obj.metadata ?? {}) as Record<string, unknown>;
  if (typeof meta.name !== 'string') return 'Secret without metadata.name';
  const data: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries((obj.data ?? {}) as Record<string, unknown>)) {
    if (typeof v !== 'string') return `Secret data.${k} is not a base64 string`;
    data[k] = Buffer.from(v, 'base64');
  }
  for (const [k, v] of Object.entries((obj.stringData ?? {}) as Record<string, unknown>)) {
    if (typeof v !== 'string') return `Secret stringData.${k} is not a string`;
    data[k] = Buffer.from(v, 'utf8');
  }
  return { name: meta.name, namespace: typeof meta.namespace === 'string' ? meta.namespace : 'default', data };
}

export async function loadManifests(paths: readonly string[]): Promise<Manifests> {
  const sources = new Map<string, { file: string; document: number; doc: Document; lines: LineCounter }>();
  const out: Manifests = {
    gateways: [], domains: [], networks: [], secrets: [], problems: [],
    locate: (object, field) => {
      const s = sources.get(object);
      return s ? { file: s.file, document: s.document, line: lineOf(s.doc, s.lines, field ? parsePath(field) : []) } : undefined;
    },
  };
  const files: string[] = [];
  for (const p of paths) {
    try {
      files.push(...(await expand(p)));
    } catch (err) {
      out.problems.push({ severity: 'error', file: p, message: `cannot read: ${(err as Error).message}` });
    }
  }
  if (paths.length > 0 && files.length === 0 && out.problems.length === 0) {
    out.problems.push({ severity: 'error', file: paths.join(' '), message: 'no manifest files (*.yaml, *.yml, *.json) found' });
  }
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    const lines = new LineCounter();
    const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
    const list = Array.isArray(docs) ? docs : [docs];
    list.forEach((doc, index) => {
      const document = index + 1;
      if (doc.errors.length > 0) {
        for (const e of doc.errors) {
          out.problems.push({ severity: 'error', file, document, line: lines.linePos(e.pos[0]).line, message: `YAML: ${e.message.split('\n')[0]}` });
        }
        return;
      }
      const obj = doc.toJS() as unknown;
      if (obj === null || obj === undefined) return; // empty document
      if (typeof obj !== 'object' || Array.isArray(obj)) {
        out.problems.push({ severity: 'error', file, document, line: 1, message: 'a manifest must be a mapping with apiVersion and kind' });
        return;
      }
      const record = obj as Record<string, unknown>;
      const kind = record.kind;
      if (kind === 'Secret' && record.apiVersion === 'v1') {
        const secret = decodeSecret(record);
        if (typeof secret === 'string') out.problems.push({ severity: 'error', file, document, message: secret });
        else out.secrets.push(secret);
        return;
      }
      if (typeof kind !== 'string' || kind === '') {
        out.problems.push({
          severity: 'error', file, document, line: kind === undefined ? 1 : lineOf(doc, lines, ['kind']),
          message: kind === undefined ? 'the document has no kind; a manifest needs apiVersion and kind' : `kind must be a non-empty string, not ${JSON.stringify(kind)}`,
        });
        return;
      }
      const schema = SCHEMAS[kind];
      if (!schema) {
        out.problems.push({
          severity: 'warning', file, document, line: lineOf(doc, lines, ['kind']),
          message: `kind ${JSON.stringify(kind)} is not a mailgw resource; ignored`,
        });
        return;
      }
      const result = schema.safeParse(obj);
      if (!result.success) {
        for (const issue of result.error.issues) {
          // An unknown field is best shown at the field itself.
          const at = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
          const hint = issue.code === 'unrecognized_keys' ? suggestKey(schema, issue.path, issue.keys[0]!) : undefined;
          out.problems.push({
            severity: 'error', file, document, line: lineOf(doc, lines, at), path: formatPath(issue.path),
            message: `${String(kind)}: ${issue.message}${hint ? ` (did you mean "${hint}"?)` : ''}`,
          });
        }
        return;
      }
      const meta = (result.data as { metadata: { name: string; namespace?: string | undefined } }).metadata;
      sources.set(`${kind}/${meta.namespace ?? 'default'}/${meta.name}`, { file, document, doc, lines });
      if (kind === 'MailGateway') out.gateways.push(result.data as MailGateway);
      else if (kind === 'LocalDomain') out.domains.push(result.data as LocalDomain);
      else out.networks.push(result.data as TrustedNetwork);
    });
  }
  return out;
}

/** The fields a schema knows at a path (through optional, default and array wrappers). */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let s: unknown = schema;
  const unwrap = () => {
    for (let i = 0; i < 10; i++) {
      const def = (s as { _zod?: { def?: { type?: string; innerType?: unknown; in?: unknown } } })._zod?.def;
      if (def && ['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch'].includes(def.type ?? '')) s = def.innerType;
      else if (def?.type === 'pipe') s = def.in;
      else break;
    }
  };
  for (const key of path) {
    unwrap();
    const def = (s as { _zod?: { def?: { type?: string; shape?: Record<string, unknown>; element?: unknown } } })._zod?.def;
    if (def?.type === 'object' && typeof key === 'string' && def.shape?.[key]) s = def.shape[key];
    else if (def?.type === 'array' && typeof key === 'number') s = def.element;
    else return [];
  }
  unwrap();
  const def = (s as { _zod?: { def?: { type?: string; shape?: Record<string, unknown> } } })._zod?.def;
  return def?.type === 'object' ? Object.keys(def.shape ?? {}) : [];
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The known field nearest to a misspelt one (case-insensitive first, then up to 3 edits). */
export function suggestKey(schema: z.ZodType, path: readonly PropertyKey[], wrong: string): string | undefined {
  const known = keysAt(schema, path);
  const same = known.find((k) => k.toLowerCase() === wrong.toLowerCase());
  if (same) return same;
  let best: string | undefined;
  let bestD = Math.min(3, Math.floor(wrong.length / 2)) + 1;
  for (const k of known) {
    const d = editDistance(k.toLowerCase(), wrong.toLowerCase());
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best;
}

export function formatProblem(p: Problem): string {
  const where = [p.file, p.document !== undefined ? `document ${p.document}` : '', p.line !== undefined ? `line ${p.line}` : '']
    .filter(Boolean).join(', ');
  return `${p.severity}: ${where}${p.path ? `: ${p.path}` : ''}: ${p.message}`;
}
