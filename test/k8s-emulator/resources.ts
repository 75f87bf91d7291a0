/**
 * The resources the emulator serves: enough of core/v1, apps/v1, policy/v1,
 * coordination.k8s.io/v1 for the operator, and the three mailgw.io CRDs
 * (validated against crds/ with their CEL rules).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export interface ResourceType {
  group: string; // '' for core
  version: string;
  resource: string;
  kind: string;
  namespaced: boolean;
  status: boolean;
  /** generation tracks changes outside metadata/status. */
  generation: boolean;
  crd?: Record<string, unknown>;
}

const CRDS = new URL('../../crds/', import.meta.url).pathname;
const crd = (plural: string) => parse(readFileSync(join(CRDS, `mailgw.io_${plural}.yaml`), 'utf8')) as Record<string, unknown>;

export const RESOURCES: ResourceType[] = [
  { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespaced: true, status: false, generation: false },
  { group: '', version: 'v1', resource: 'services', kind: 'Service', namespaced: true, status: true, generation: false },
  { group: '', version: 'v1', resource: 'events', kind: 'Event', namespaced: true, status: false, generation: false },
  { group: '', version: 'v1', resource: 'secrets', kind: 'Secret', namespaced: true, status: false, generation: false },
  { group: '', version: 'v1', resource: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true, status: false, generation: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'roles', kind: 'Role', namespaced: true, status: false, generation: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'rolebindings', kind: 'RoleBinding', namespaced: true, status: false, generation: false },
  { group: 'networking.k8s.io', version: 'v1', resource: 'networkpolicies', kind: 'NetworkPolicy', namespaced: true, status: false, generation: true },
  { group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', namespaced: false, status: true, generation: false },
  { group: 'apps', version: 'v1', resource: 'statefulsets', kind: 'StatefulSet', namespaced: true, status: true, generation: true },
  { group: 'policy', version: 'v1', resource: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', namespaced: true, status: true, generation: true },
  { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', kind: 'Lease', namespaced: true, status: false, generation: false },
  { group: 'mailgw.io', version: 'v1alpha1', resource: 'mailgateways', kind: 'MailGateway', namespaced: true, status: true, generation: true, crd: crd('mailgateways') },
  { group: 'mailgw.io', version: 'v1alpha1', resource: 'localdomains', kind: 'LocalDomain', namespaced: true, status: true, generation: true, crd: crd('localdomains') },
  { group: 'mailgw.io', version: 'v1alpha1', resource: 'trustednetworks', kind: 'TrustedNetwork', namespaced: true, status: true, generation: true, crd: crd('trustednetworks') },
];

export function apiVersionOf(t: ResourceType): string {
  return t.group ? `${t.group}/${t.version}` : t.version;
}
