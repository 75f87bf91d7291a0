/**
 * Admission as the API server would do it for our CRDs, as far as can be
 * done without one: the CRD's openAPIV3Schema checked with a JSON-schema
 * validator (ajv), unknown fields refused (kubectl's default strict field
 * validation), defaults applied, then every x-kubernetes-validations CEL rule
 * evaluated (cel-js, with Kubernetes' isIP/isCIDR library functions).
 * Returns the errors as "<field path>: <message>".
 */
import { isIP } from 'node:net';
import { Ajv, type ErrorObject } from 'ajv';
import { Environment } from '@marcbachmann/cel-js';

type Json = Record<string, unknown>;

const celEnv = new Environment({ unlistedVariablesAreDyn: true })
  .registerFunction('isIP(string): bool', (s: string) => isIP(s) !== 0 && !s.includes('%'))
  .registerFunction('isCIDR(string): bool', (s: string) => {
    const [addr, bits, ...rest] = s.split('/');
    if (rest.length > 0 || bits === undefined || !/^\d{1,3}$/.test(bits)) return false;
    const family = isIP(addr ?? '');
    return family !== 0 && Number(bits) <= (family === 4 ? 32 : 128);
  });

/** Copy of the schema with additionalProperties: false wherever properties are listed (strict field validation). */
function strict(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strict);
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json)) out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as Json).map(([p, s]) => [p, strict(s)])) : strict(v);
  if (out.properties && !out['x-kubernetes-preserve-unknown-fields'] && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

function applyDefaults(schema: Json, value: unknown): unknown {
  if (value === undefined && schema.default !== undefined) value = structuredClone(schema.default);
  if (value && typeof value === 'object' && !Array.isArray(value) && schema.properties) {
    const obj = value as Json;
    for (const [k, s] of Object.entries(schema.properties as Record<string, Json>)) {
      const v = applyDefaults(s, obj[k]);
      if (v !== undefined) obj[k] = v;
    }
  }
  if (Array.isArray(value) && schema.items) return value.map((v) => applyDefaults(schema.items as Json, v));
  return value;
}

function runCel(schema: Json, value: unknown, path: string, errors: string[]): void {
  if (value === undefined) return;
  for (const v of (schema['x-kubernetes-validations'] as { rule: string; message: string; fieldPath?: string }[] | undefined) ?? []) {
    let ok: unknown;
    try {
      ok = celEnv.evaluate(v.rule, { self: value });
    } catch (err) {
      errors.push(`${path}: CEL rule failed to evaluate (${(err as Error).message}): ${v.rule}`);
      continue;
    }
    if (ok !== true) errors.push(`${path}${v.fieldPath ?? ''}: ${v.message}`);
  }
  if (schema.properties && value && typeof value === 'object') {
    for (const [k, s] of Object.entries(schema.properties as Record<string, Json>)) runCel(s, (value as Json)[k], `${path}.${k}`, errors);
  }
  if (schema.items && Array.isArray(value)) value.forEach((item, i) => runCel(schema.items as Json, item, `${path}[${i}]`, errors));
}

function pathOf(e: ErrorObject): string {
  const base = e.instancePath.replace(/^\//, '').split('/').filter(Boolean).map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('');
  const extra = e.keyword === 'additionalProperties' ? `.${(e.params as { additionalProperty: string }).additionalProperty}` : '';
  return `${base}${extra}`.replace(/^\./, '');
}

/** Validates (after defaulting) like the API server; returns the errors and the defaulted object. */
const compiled = new WeakMap<Json, ReturnType<Ajv['compile']>>();

export function admit(crd: Json, object: Json): { errors: string[]; object: Json } {
  const version = ((crd.spec as Json).versions as Json[])[0]!;
  const schema = ((version.schema as Json).openAPIV3Schema) as Json;
  let validate = compiled.get(crd);
  if (!validate) {
    validate = new Ajv({ strict: false, allErrors: true }).compile(strict(schema) as object);
    compiled.set(crd, validate);
  }
  const obj = structuredClone(object);
  applyDefaults(schema, obj);
  const errors: string[] = [];
  if (!validate(obj)) {
    for (const e of validate.errors ?? []) {
      if (e.keyword === 'anyOf' || e.keyword === 'if') continue;
      errors.push(`${pathOf(e)}: ${e.keyword === 'additionalProperties' ? 'field not declared in schema' : e.message}`);
    }
  }
  if (errors.length === 0) runCel(schema, obj, '', errors);
  return { errors: errors.map((e) => e.replace(/^\./, '')), object: obj };
}
