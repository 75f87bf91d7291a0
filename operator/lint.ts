/**
 * Integration-scheme lint: what is valid by the schema but contradicts the
 * chosen scheme, or is unsafe. Pure: (gateways, domains, networks) → findings,
 * each with a stable code, the object and field, and a one-line fix.
 * Errors are unsafe (an open relay) or contradictory and stop a rollout
 * (`mailgw up`, `mailgw validate` exit non-zero; the operator sets Degraded);
 * warnings are reported and do not.
 */
import ipaddr from 'ipaddr.js';
import { normalizeCidr, toALabel, type LocalDomain, type MailGateway, type TrustedNetwork } from '../api/index.ts';

export interface Finding {
  code: string;
  severity: 'Error' | 'Warning';
  /** Kind/namespace/name of the object. */
  object: string;
  field: string;
  message: string;
}

const SEED = 'BehindEdgeGatewayNoRecipientVerification';

function ref(kind: string, o: { metadata: { name: string; namespace?: string | undefined } }): string {
  return `${kind}/${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;
}

function lintGateway(gw: MailGateway): Finding[] {
  const out: Finding[] = [];
  const s = gw.spec;
  const object = ref('MailGateway', gw);
  const add = (code: string, severity: Finding['severity'], field: string, message: string) => out.push({ code, severity, object, field, message });
  if (s.integration === SEED) {
    if (s.authentication.spf === true) add('MGW101', 'Warning', 'spec.authentication.spf', 'SPF judges the edge gateway, not the sender, in this scheme: set spf: false (KSMG step 4).');
    if (s.authentication.dmarc === true) add('MGW102', 'Warning', 'spec.authentication.dmarc', 'DMARC judges the edge gateway, not the sender, in this scheme: set dmarc: false (KSMG step 4).');
    const rejects: [string, string | undefined][] = [
      ['spec.authentication.action', s.authentication.action],
      ['spec.protection.antivirus.actions.infected', s.protection.antivirus.actions.infected],
      ['spec.protection.antivirus.actions.encrypted', s.protection.antivirus.actions.encrypted],
      ['spec.protection.antispam.actions.spam', s.protection.antispam.actions.spam],
      ['spec.protection.antispam.actions.probableSpam', s.protection.antispam.actions.probableSpam],
      ['spec.protection.contentFilter.action', s.protection.contentFilter.action],
    ];
    s.rules.forEach((r, i) => rejects.push([`spec.rules[${i}].mode`, r.mode]));
    rejects.push(['spec.defaultRule.mode', s.defaultRule.mode]);
    for (const [field, action] of rejects) {
      if (action === 'Reject') add('MGW103', 'Warning', field, 'A reject makes the edge gateway send NDRs (backscatter): use Delete (KSMG step 5).');
    }
    if (s.recipientVerification.mode === 'RejectUnverified') add('MGW104', 'Warning', 'spec.recipientVerification.mode', 'Nobody verifies recipients in this scheme: set mode: DoNotReject (KSMG step 6), or choose integration BehindEdgeGateway.');
  }
  if (s.integration !== 'Direct' && !s.relayHost) add('MGW105', 'Warning', 'spec.relayHost', 'Behind an edge gateway all outbound mail should go to the edge: set relayHost to it (KSMG step 2).');
  if (s.integration === 'Direct' && s.recipientVerification.mode === 'DoNotReject') add('MGW106', 'Warning', 'spec.recipientVerification.mode', 'As the MX, accepting unknown recipients means bouncing them later (backscatter): use RejectUnverified.');
  return out;
}

function prefixTooWide(cidr: string): boolean {
  const [, bits] = ipaddr.parseCIDR(cidr);
  return bits < 8;
}

export function lint(gateways: readonly MailGateway[], domains: readonly LocalDomain[], networks: readonly TrustedNetwork[]): Finding[] {
  const out: Finding[] = gateways.flatMap(lintGateway);
  const gatewayKey = (ns: string | undefined, name: string) => `${ns ?? 'default'}/${name}`;
  const known = new Set(gateways.map((g) => gatewayKey(g.metadata.namespace, g.metadata.name)));
  for (const d of domains) {
    if (!known.has(gatewayKey(d.metadata.namespace, d.spec.gatewayRef.name))) {
      out.push({ code: 'MGW202', severity: 'Warning', object: ref('LocalDomain', d), field: 'spec.gatewayRef.name', message: `MailGateway ${d.spec.gatewayRef.name} does not exist in this namespace: the domain is not in effect.` });
    }
  }
  const byDomain = new Map<string, LocalDomain[]>();
  for (const d of domains) {
    const key = `${gatewayKey(d.metadata.namespace, d.spec.gatewayRef.name)}|${toALabel(d.spec.domain)}`;
    byDomain.set(key, [...(byDomain.get(key) ?? []), d]);
  }
  for (const list of byDomain.values()) {
    if (list.length < 2) continue;
    for (const d of list.slice(1)) {
      out.push({ code: 'MGW203', severity: 'Error', object: ref('LocalDomain', d), field: 'spec.domain', message: `Domain ${d.spec.domain} is also defined by LocalDomain ${list[0]!.metadata.name}: keep one.` });
    }
  }
  for (const n of networks) {
    const object = ref('TrustedNetwork', n);
    if (!known.has(gatewayKey(n.metadata.namespace, n.spec.gatewayRef.name))) {
      out.push({ code: 'MGW202', severity: 'Warning', object, field: 'spec.gatewayRef.name', message: `MailGateway ${n.spec.gatewayRef.name} does not exist in this namespace: the networks are not in effect.` });
    }
    n.spec.cidrs.forEach((c, i) => {
      const cidr = normalizeCidr(c)!;
      if (prefixTooWide(cidr)) out.push({ code: 'MGW201', severity: 'Error', object, field: `spec.cidrs[${i}]`, message: `${c} trusts a prefix shorter than /8 (an open relay): list your own networks only.` });
    });
    const gw = gateways.find((g) => gatewayKey(g.metadata.namespace, g.metadata.name) === gatewayKey(n.metadata.namespace, n.spec.gatewayRef.name));
    for (const lb of gw?.spec.proxyProtocol.trustedLoadBalancers ?? []) {
      const [lbAddr, lbBits] = ipaddr.parseCIDR(normalizeCidr(lb)!);
      n.spec.cidrs.forEach((c, i) => {
        const [net, bits] = ipaddr.parseCIDR(normalizeCidr(c)!);
        if (net.kind() === lbAddr.kind() && lbBits >= bits && lbAddr.match(net, bits)) {
          out.push({ code: 'MGW204', severity: 'Error', object, field: `spec.cidrs[${i}]`, message: `${c} contains the load balancer ${lb}: a PROXY header without an address (UNKNOWN/LOCAL) would make any client trusted. Leave load balancers out of trusted networks.` });
        }
      });
    }
  }
  return out.sort((a, b) => a.object.localeCompare(b.object) || a.code.localeCompare(b.code) || a.field.localeCompare(b.field));
}

export function formatFinding(f: Finding): string {
  return `${f.severity.toLowerCase()}: ${f.code} ${f.object}: ${f.field}: ${f.message}`;
}
