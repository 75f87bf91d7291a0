/**
 * The CRDs in crds/ are exactly what the schemas generate, are structural
 * and bounded with a description on every field. What the API server does
 * with them (admission, CEL rules, printer columns, scale) is tested on a
 * real kube-apiserver: test/control-plane/crds.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { generateCrds } from '../operator/crd-generate.ts';

const CRDS = new URL('../crds/', import.meta.url).pathname;
type Json = Record<string, unknown>;
const crd = (plural: string) => parse(readFileSync(join(CRDS, `mailgw.io_${plural}.yaml`), 'utf8')) as Json;

describe('CRDs', () => {
  it('crds/ matches the schemas (run `npm run gen:crds` after changing api/)', () => {
    const generated = generateCrds();
    assert.deepEqual(readdirSync(CRDS).filter((f) => f.endsWith('.yaml')).sort(), Object.keys(generated).sort());
    for (const [file, text] of Object.entries(generated)) assert.equal(readFileSync(join(CRDS, file), 'utf8'), text, `${file} drifted from api/`);
  });

  it('are structural, bounded, with a description on every field', () => {
    const problems: string[] = [];
    const walk = (node: Json, path: string, needsDescription: boolean) => {
      if (needsDescription && typeof node.description !== 'string') problems.push(`${path}: no description`);
      if ('$ref' in node) problems.push(`${path}: $ref`);
      if (node.properties && node.additionalProperties !== undefined) problems.push(`${path}: properties and additionalProperties`);
      if (!node.type && !node['x-kubernetes-int-or-string']) problems.push(`${path}: no type`);
      if (node.type === 'string' && node.maxLength === undefined && !node.enum) problems.push(`${path}: string without maxLength`);
      if (node.type === 'array' && node.maxItems === undefined) problems.push(`${path}: array without maxItems`);
      for (const [k, v] of Object.entries((node.properties as Record<string, Json>) ?? {})) walk(v, `${path}.${k}`, path !== '');
      if (node.items) walk(node.items as Json, `${path}[]`, false);
      if (node.additionalProperties && typeof node.additionalProperties === 'object') walk(node.additionalProperties as Json, `${path}{}`, false);
    };
    for (const plural of ['mailgateways', 'localdomains', 'trustednetworks']) {
      const version = ((crd(plural).spec as Json).versions as Json[])[0]!;
      const root = (version.schema as Json).openAPIV3Schema as Json;
      walk(root.properties ? { ...root, properties: { spec: (root.properties as Json).spec, status: (root.properties as Json).status } } : root, plural, false);
    }
    assert.deepEqual(problems, []);
  });

  it('have status subresources, scale on MailGateway, conditions keyed by type, and the printer columns', () => {
    const mgw = ((crd('mailgateways').spec as Json).versions as Json[])[0]!;
    assert.deepEqual((mgw.subresources as Json).scale, { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' });
    const columns = (v: Json) => (v.additionalPrinterColumns as { name: string }[]).map((c) => c.name);
    assert.deepEqual(columns(mgw), ['Integration', 'Ready', 'Replicas', 'Domains', 'Networks', 'Age']);
    const ld = ((crd('localdomains').spec as Json).versions as Json[])[0]!;
    const tn = ((crd('trustednetworks').spec as Json).versions as Json[])[0]!;
    assert.deepEqual(columns(ld).slice(0, 4), ['Domain', 'Gateway', 'Route', 'Ready']);
    assert.deepEqual(columns(tn).slice(0, 3), ['Gateway', 'CIDRs', 'Ready']);
    for (const v of [mgw, ld, tn]) {
      assert.deepEqual((v.subresources as Json).status, {});
      const cond = (((((v.schema as Json).openAPIV3Schema as Json).properties as Json).status as Json).properties as Json).conditions as Json;
      assert.equal(cond['x-kubernetes-list-type'], 'map');
      assert.deepEqual(cond['x-kubernetes-list-map-keys'], ['type']);
    }
  });
});
