/**
 * Generates the CustomResourceDefinitions from the zod schemas in api/
 * (the same ones the gateway and `mailgw validate` use), so crds/ can never
 * say something else than the code. Pure: generateCrds() → { file: YAML }.
 *
 * zod's JSON Schema is turned into a Kubernetes structural schema: every
 * type inlined, no additionalProperties next to properties (the API server
 * prunes or, with strict field validation, refuses unknown fields),
 * int-or-string for sizes, free-form objects marked
 * x-kubernetes-preserve-unknown-fields, CEL rules from the schemas' metadata.
 */
import { stringify } from 'yaml';
import { z } from 'zod';
import {
  API_GROUP, attachedStatus, localDomainSpec, mailGatewaySpec, mailGatewayStatus, trustedNetworkSpec,
} from '../api/index.ts';

type Json = Record<string, unknown>;

const SAFE_INT = Number.MAX_SAFE_INTEGER;

/** Rewrites zod's JSON Schema (OpenAPI 3.0 flavour) into a structural schema. */
export function toStructural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toStructural);
  if (!node || typeof node !== 'object') return node;
  const src = node as Json;
  const out: Json = {};
  for (const [key, value] of Object.entries(src)) {
    if (key === '$schema' || key === 'id') continue;
    if ((key === 'minimum' && value === -SAFE_INT) || (key === 'maximum' && value === SAFE_INT)) continue;
    if (key === 'additionalProperties') {
      if (value === false || src['x-kubernetes-preserve-unknown-fields']) continue;
      if (value && typeof value === 'object' && Object.keys(value).length === 0) {
        out['x-kubernetes-preserve-unknown-fields'] = true;
        continue;
      }
    }
    out[key] = key === 'properties'
      ? Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, toStructural(v)]))
      : toStructural(value);
  }
  if (out['x-kubernetes-preserve-unknown-fields'] && !out.type) out.type = 'object';
  if (out['x-kubernetes-int-or-string'] && Array.isArray(out.anyOf)) {
    // A structural schema allows types in anyOf only as the bare int-or-string pattern
    // (the real kube-apiserver refuses the whole CRD otherwise). Value validations move
    // to the node: minimum applies to the integer, maxLength and pattern to the string.
    for (const branch of out.anyOf as Json[]) {
      for (const [k, v] of Object.entries(branch)) if (!['type', 'description', 'default'].includes(k)) out[k] = v;
    }
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  return out;
}

function schemaOf(s: z.ZodType): Json {
  return toStructural(z.toJSONSchema(s, { io: 'input', target: 'openapi-3.0', unrepresentable: 'throw' })) as Json;
}

interface Column { name: string; type: string; jsonPath: string; description: string; priority?: number }

const ready: Column = { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'Whether the resource is in effect.' };
const age: Column = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.' };

interface Kind {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: z.ZodType;
  status: z.ZodType;
  columns: Column[];
  scale?: boolean;
}

const KINDS: Kind[] = [
  {
    kind: 'MailGateway', plural: 'mailgateways', singular: 'mailgateway', shortNames: ['mgw'],
    description: 'A mail-security gateway: gateway pods between an edge gateway or the Internet and internal mail servers, with their MTA settings.',
    spec: mailGatewaySpec, status: mailGatewayStatus, scale: true,
    columns: [
      { name: 'Integration', type: 'string', jsonPath: '.spec.integration', description: 'Integration scheme.' },
      ready,
      { name: 'Replicas', type: 'integer', jsonPath: '.status.readyReplicas', description: 'Ready gateway pods.' },
      { name: 'Domains', type: 'integer', jsonPath: '.status.domains', description: 'Local domains in effect.' },
      { name: 'Networks', type: 'integer', jsonPath: '.status.networks', description: 'Trusted networks in effect.' },
      age,
    ],
  },
  {
    kind: 'LocalDomain', plural: 'localdomains', singular: 'localdomain', shortNames: ['ld'],
    description: 'A domain a MailGateway accepts mail for from anyone, and where that mail goes.',
    spec: localDomainSpec, status: attachedStatus,
    columns: [
      { name: 'Domain', type: 'string', jsonPath: '.spec.domain', description: 'The domain.' },
      { name: 'Gateway', type: 'string', jsonPath: '.spec.gatewayRef.name', description: 'The MailGateway.' },
      { name: 'Route', type: 'string', jsonPath: '.spec.routing.host', description: 'Next hop for this domain (empty: relay host or MX).' },
      ready,
      age,
    ],
  },
  {
    kind: 'TrustedNetwork', plural: 'trustednetworks', singular: 'trustednetwork', shortNames: ['tn'],
    description: 'Networks allowed to relay mail to any domain through a MailGateway (Postfix mynetworks).',
    spec: trustedNetworkSpec, status: attachedStatus,
    columns: [
      { name: 'Gateway', type: 'string', jsonPath: '.spec.gatewayRef.name', description: 'The MailGateway.' },
      { name: 'CIDRs', type: 'string', jsonPath: '.spec.cidrs', description: 'Addresses and prefixes.' },
      ready,
      age,
    ],
  },
];

export function crdObject(k: Kind): Json {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${k.plural}.${API_GROUP}`, labels: { 'app.kubernetes.io/name': 'mailgw', 'app.kubernetes.io/part-of': 'mailgw' } },
    spec: {
      group: API_GROUP,
      names: { kind: k.kind, listKind: `${k.kind}List`, plural: k.plural, singular: k.singular, shortNames: k.shortNames, categories: ['mailgw'] },
      scope: 'Namespaced',
      versions: [{
        name: 'v1alpha1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description: k.description,
            required: ['spec'],
            properties: {
              apiVersion: { type: 'string', description: 'APIVersion of this object: mailgw.io/v1alpha1.' },
              kind: { type: 'string', description: `Kind of this object: ${k.kind}.` },
              metadata: { type: 'object' },
              spec: { ...schemaOf(k.spec), description: `Desired state of the ${k.kind}.` },
              status: { ...schemaOf(k.status), description: `Observed state of the ${k.kind}, written by the operator.` },
            },
          },
        },
        subresources: {
          status: {},
          ...(k.scale ? { scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' } } : {}),
        },
        additionalPrinterColumns: k.columns,
      }],
    },
  };
}

export function generateCrds(): Record<string, string> {
  const header = '# Generated from api/ by `npm run gen:crds`. Do not edit.\n';
  return Object.fromEntries(KINDS.map((k) => [`${API_GROUP}_${k.plural}.yaml`, header + stringify(crdObject(k), { lineWidth: 0 })]));
}

/**
 * A CRD as the chart renders it: behind `crds.install`, and kept by Helm on
 * uninstall (deleting a CRD deletes every object of its kind: every gateway).
 * The text is the generated CRD's; it must hold no template delimiters.
 */
export function chartCrdTemplate(crdText: string): string {
  if (crdText.includes('{{') || crdText.includes('}}')) throw new Error('a CRD holds template delimiters; escape them before it goes into the chart');
  const kept = crdText.replace(/^metadata:\n/m, 'metadata:\n  annotations:\n    helm.sh/resource-policy: keep\n');
  if (kept === crdText) throw new Error('a CRD without metadata');
  return `{{- if .Values.crds.install }}\n${kept.replace(/\n*$/, '\n')}{{- end }}\n`;
}
