/**
 * `npm run gen:docs`: docs/reference.md, the field reference of the three
 * resources, generated from the CRDs (and so from the zod schemas). A test
 * fails when it drifts.
 */
import { writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import { generateCrds } from './crd-generate.ts';

type Json = Record<string, unknown>;

function typeOf(s: Json): string {
  if (s['x-kubernetes-int-or-string']) return 'integer or string';
  if (s.enum) return (s.enum as string[]).map((e) => `\`${e}\``).join(' \\| ');
  if (s.type === 'array') return `list of ${typeOf((s.items ?? {}) as Json)}`;
  if (s['x-kubernetes-preserve-unknown-fields']) return 'object (free-form)';
  if (s.type === 'object' && s.additionalProperties) return `map of ${typeOf(s.additionalProperties as Json)}`;
  return String(s.type ?? 'any');
}

function rows(s: Json, path: string, out: string[]): void {
  for (const [name, child] of Object.entries((s.properties ?? {}) as Record<string, Json>)) {
    const p = `${path}.${name}`;
    const required = ((s.required ?? []) as string[]).includes(name);
    const def = child.default !== undefined && !(typeof child.default === 'object' && Object.keys(child.default as object).length === 0) ? `\`${JSON.stringify(child.default)}\`` : '';
    const desc = String(child.description ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
    out.push(`| \`${p}\`${required ? ' (required)' : ''} | ${typeOf(child)} | ${def} | ${desc} |`);
    const inner = child.type === 'array' ? ((child.items ?? {}) as Json) : child;
    if (inner.properties) rows(inner, child.type === 'array' ? `${p}[]` : p, out);
  }
}

export function fieldReference(): string {
  const parts = ['# Field reference', '', 'Generated from the CRDs (and so from `api/`) by `npm run gen:docs`; `kubectl explain` shows the same descriptions.', ''];
  for (const text of Object.values(generateCrds())) {
    const crd = parse(text) as Json;
    const spec = crd.spec as Json;
    const kind = (spec.names as Json).kind as string;
    const version = (spec.versions as Json[])[0]!;
    const root = ((version.schema as Json).openAPIV3Schema as Json);
    const out: string[] = [];
    rows(((root.properties as Json).spec) as Json, 'spec', out);
    parts.push(`## ${kind} (mailgw.io/v1alpha1)`, '', String(root.description), '', '| field | type | default | description |', '|---|---|---|---|', ...out, '');
  }
  return `${parts.join('\n')}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(new URL('../docs/reference.md', import.meta.url), fieldReference());
  console.log('wrote docs/reference.md');
}
