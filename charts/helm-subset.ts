/**
 * The small subset of Helm's template language the mailgw chart uses, so the
 * chart can be rendered and tested where no helm binary exists (and the
 * plain manifests in deploy/ generated from it). Anything outside the subset
 * is an error, which keeps the chart inside it:
 *
 *   {{ .Values.a.b }}  {{ .Release.Name }}  {{ .Release.Namespace }}  {{ .Chart.Version }}  {{ .Chart.AppVersion }}
 *   {{ X | quote }}    {{ toYaml X | nindent N }}    {{ X | default "v" }}
 *   {{ if X }} … {{ else }} … {{ end }}     {{/* comment *\/}}
 *   {{ range .Values.list }} … {{ . }} … {{ $.Release.Namespace }} … {{ end }}
 *   {{- … -}} trims whitespace (and newlines) before / after, as in Helm.
 *
 * Truthiness as in Go templates: false, 0, "", null, empty lists and maps
 * are false. Helm itself renders the same templates the same way.
 */
import { stringify } from 'yaml';

export interface RenderContext {
  Values: Record<string, unknown>;
  Release: { Name: string; Namespace: string };
  Chart: { Version: string; AppVersion: string };
  /** The element `.` stands for inside a range. */
  Dot?: unknown;
}

function lookup(ctx: RenderContext, path: string): unknown {
  if (path === '.' && 'Dot' in ctx) return ctx.Dot;
  if (path.startsWith('$.')) path = path.slice(1); // the root, also inside a range
  if (!/^\.(Values|Release|Chart)(\.[A-Za-z0-9_]+)*$/.test(path)) throw new Error(`unsupported reference ${path}`);
  let cur: unknown = ctx;
  for (const p of path.slice(1).split('.')) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[p] : undefined;
  return cur;
}

function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === 'object') return Object.keys(v).length > 0;
  return Boolean(v);
}

function evalPipeline(ctx: RenderContext, expr: string): string {
  const stages = expr.split('|').map((s) => s.trim());
  let value: unknown;
  const first = stages.shift()!;
  const toYaml = /^toYaml\s+(\S+)$/.exec(first);
  if (toYaml) value = stringify(lookup(ctx, toYaml[1]!), { lineWidth: 0 }).replace(/\n$/, '');
  else if (/^"(?:[^"\\]|\\.)*"$/.test(first)) value = JSON.parse(first);
  else value = lookup(ctx, first);
  for (const stage of stages) {
    const nindent = /^nindent\s+(\d+)$/.exec(stage);
    const def = /^default\s+("(?:[^"\\]|\\.)*"|\d+)$/.exec(stage);
    if (stage === 'quote') value = JSON.stringify(value === undefined || value === null ? '' : String(value));
    else if (nindent) value = `\n${String(value ?? '').split('\n').map((l) => (l ? ' '.repeat(Number(nindent[1])) + l : l)).join('\n')}`;
    else if (def) value = truthy(value) ? value : JSON.parse(def[1]!);
    else throw new Error(`unsupported pipeline stage "${stage}"`);
  }
  if (value === undefined || value === null) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

interface Token { kind: 'text' | 'action'; text: string }

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let at = 0;
  for (;;) {
    const open = src.indexOf('{{', at);
    if (open < 0) {
      out.push({ kind: 'text', text: src.slice(at) });
      return out;
    }
    const close = src.indexOf('}}', open);
    if (close < 0) throw new Error('unclosed {{');
    let text = src.slice(at, open);
    let action = src.slice(open + 2, close);
    if (action.startsWith('-')) {
      text = text.replace(/\s+$/, '');
      action = action.slice(1);
    }
    let trimAfter = false;
    if (action.endsWith('-')) {
      trimAfter = true;
      action = action.slice(0, -1);
    }
    out.push({ kind: 'text', text }, { kind: 'action', text: action.trim() });
    at = close + 2;
    if (trimAfter) while (at < src.length && /\s/.test(src[at]!)) at++;
  }
}

export function renderTemplate(src: string, root: RenderContext): string {
  const tokens = tokenize(src);
  let i = 0;
  let ctx = root;
  const block = (stopAt: string[]): { out: string; stop: string } => {
    let out = '';
    while (i < tokens.length) {
      const t = tokens[i++]!;
      if (t.kind === 'text') {
        out += t.text;
        continue;
      }
      const a = t.text;
      if (a.startsWith('/*')) continue;
      if (stopAt.includes(a)) return { out, stop: a };
      const range = /^range\s+(\S+)$/.exec(a);
      if (range) {
        const items = lookup(ctx, range[1]!);
        const list = Array.isArray(items) ? items : [];
        const start = i;
        const outer = ctx;
        if (list.length === 0) {
          ctx = { ...outer, Dot: '' };
          block(['end']); // walk past the body, output discarded
        }
        for (const item of list) {
          i = start;
          ctx = { ...outer, Dot: item };
          out += block(['end']).out;
        }
        ctx = outer;
        continue;
      }
      const cond = /^if\s+(.+)$/.exec(a);
      if (cond) {
        const yes = block(['else', 'end']);
        const no = yes.stop === 'else' ? block(['end']) : { out: '', stop: 'end' };
        out += truthy(lookupOrPipeline(ctx, cond[1]!)) ? yes.out : no.out;
        continue;
      }
      out += evalPipeline(ctx, a);
    }
    if (stopAt.length > 0) throw new Error(`missing {{ ${stopAt.join(' or ')} }}`);
    return { out, stop: '' };
  };
  return block([]).out;
}

function lookupOrPipeline(ctx: RenderContext, expr: string): unknown {
  return expr.includes('|') ? evalPipeline(ctx, expr) : lookup(ctx, expr.trim());
}
