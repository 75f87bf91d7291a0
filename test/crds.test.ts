/**
 * The CRDs in crds/ are exactly what the schemas generate, are structural
 * with a description on every field, and refuse bad manifests at admission
 * (OpenAPI schema, strict fields, CEL rules) with the field path.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { generateCrds } from '../operator/crd-generate.ts';
import { admit } from './helpers/crd-validate.ts';

const CRDS = new URL('../crds/', import.meta.url).pathname;
type Json = Record<string, unknown>;
const crd = (plural: string) => parse(readFileSync(join(CRDS, `mailgw.io_${plural}.yaml`), 'utf8')) as Json;
const meta = { name: 'x', namespace: 'mail' };

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

  const gw = (spec: Json) => ({ apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: meta, spec });
  const ld = (spec: Json) => ({ apiVersion: 'mailgw.io/v1alpha1', kind: 'LocalDomain', metadata: meta, spec: { gatewayRef: { name: 'gw' }, ...spec } });
  const tn = (spec: Json) => ({ apiVersion: 'mailgw.io/v1alpha1', kind: 'TrustedNetwork', metadata: meta, spec: { gatewayRef: { name: 'gw' }, ...spec } });

  it('admit valid manifests', () => {
    assert.deepEqual(admit(crd('mailgateways'), gw({
      integration: 'BehindEdgeGatewayNoRecipientVerification', hostname: 'mx.example.com',
      relayHost: { host: '[2607:f0d0:1002:51::4]', port: 25 }, limits: { messageSize: '20Mi' },
      tls: { inbound: { mode: 'Require', clientCertificate: 'Require', certificate: { secretName: 'tls' } } },
      proxyProtocol: { trustedLoadBalancers: ['10.0.0.0/8', '2001:db8::1'] },
      resources: { requests: { cpu: '100m' } }, tolerations: [{ key: 'mail', operator: 'Exists' }],
    })).errors, []);
    assert.deepEqual(admit(crd('mailgateways'), gw({ relayHost: { host: 'edge.example.com', mxLookup: true }, limits: { messageSize: 1000 } })).errors, []);
    assert.deepEqual(admit(crd('localdomains'), ld({ domain: 'bücher.example', routing: { host: '192.168.0.1', port: 2525 } })).errors, []);
    assert.deepEqual(admit(crd('trustednetworks'), tn({ cidrs: ['10.0.0.0/8', '2001:db8::/32', '192.168.1.7'] })).errors, []);
  });

  const cases: [string, string, Json, RegExp][] = [
    ['bad CIDR', 'trustednetworks', tn({ cidrs: ['10.0.0.0/8', '10.0.0.0/33'] }), /^spec\.cidrs\[1\]: must be an IPv4 or IPv6 address or prefix/],
    ['bad CIDR text', 'trustednetworks', tn({ cidrs: ['not-a-network'] }), /^spec\.cidrs\[0\]: must be an IPv4 or IPv6 address or prefix/],
    ['bad domain', 'localdomains', ld({ domain: 'exa mple.com' }), /^spec\.domain: must be a domain name/],
    ['trailing dot', 'localdomains', ld({ domain: 'example.com.' }), /^spec\.domain: must be a domain name/],
    ['bad host', 'localdomains', ld({ domain: 'example.com', routing: { host: '[not-v6]' } }), /^spec\.routing\.host: must be an IPv4 address/],
    ['unknown enum', 'mailgateways', gw({ integration: 'Sideways' }), /^spec\.integration: must be equal to one of the allowed values/],
    ['port 0', 'localdomains', ld({ domain: 'example.com', routing: { host: 'mx.example.com', port: 0 } }), /^spec\.routing\.port: must be >= 1/],
    ['port 70000', 'mailgateways', gw({ relayHost: { host: 'edge.example.com', port: 70000 } }), /^spec\.relayHost\.port: must be <= 65535/],
    ['unknown field', 'mailgateways', gw({ relayhost: { host: 'edge.example.com' } }), /^spec\.relayhost: field not declared in schema/],
    ['unknown nested field', 'localdomains', ld({ domain: 'example.com', routing: { host: 'a.example', mx: true } }), /^spec\.routing\.mx: field not declared in schema/],
    ['mxLookup with an IP', 'mailgateways', gw({ relayHost: { host: '10.0.0.1', mxLookup: true } }), /^spec\.relayHost\.mxLookup: mxLookup needs a DNS name/],
    ['client cert Require without TLS Require', 'mailgateways', gw({ tls: { inbound: { mode: 'Attempt', clientCertificate: 'Require', certificate: { secretName: 's' } } } }), /^spec\.tls\.inbound\.clientCertificate: tls\.inbound\.clientCertificate Require needs tls\.inbound\.mode Require/],
    ['TLS Require without certificate', 'mailgateways', gw({ tls: { inbound: { mode: 'Require' } } }), /^spec\.tls\.inbound\.certificate: tls\.inbound\.mode Require needs tls\.inbound\.certificate/],
    ['bad duration', 'mailgateways', gw({ queue: { lifetime: '3 days' } }), /^spec\.queue\.lifetime: must match pattern/],
    ['bad size', 'mailgateways', gw({ limits: { messageSize: 'lots' } }), /^spec\.limits\.messageSize: must match pattern/],
  ];
  for (const [name, plural, manifest, expected] of cases) {
    it(`refuse ${name} with the field path`, () => {
      const { errors } = admit(crd(plural), manifest);
      assert.ok(errors.some((e) => expected.test(e)), `expected ${expected} in ${JSON.stringify(errors)}`);
    });
  }
});
