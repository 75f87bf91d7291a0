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
import { objectNames } from './render-objects.ts';

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
    s.rules.forEach((r, i) => {
      rejects.push([`spec.rules[${i}].mode`, r.mode]);
      rejects.push([`spec.rules[${i}].authentication.action`, r.authentication?.action]);
      rejects.push([`spec.rules[${i}].protection.antivirus.actions.infected`, r.protection?.antivirus?.actions?.infected]);
      rejects.push([`spec.rules[${i}].protection.antispam.actions.spam`, r.protection?.antispam?.actions?.spam]);
      rejects.push([`spec.rules[${i}].protection.contentFilter.action`, r.protection?.contentFilter?.action]);
    });
    rejects.push(['spec.defaultRule.mode', s.defaultRule.mode]);
    for (const [field, action] of rejects) {
      if (action === 'Reject') add('MGW103', 'Warning', field, 'A reject makes the edge gateway send NDRs (backscatter): use Delete (KSMG step 5).');
    }
    if (s.recipientVerification.mode === 'RejectUnverified') add('MGW104', 'Warning', 'spec.recipientVerification.mode', 'Nobody verifies recipients in this scheme: set mode: DoNotReject (KSMG step 6), or choose integration BehindEdgeGateway.');
  }
  const modules: [string, boolean, [string, unknown][]][] = [
    ['antivirus', s.protection.antivirus.enabled, [['spec.protection.antivirus.actions.infected', s.protection.antivirus.actions.infected]]],
    ['antispam', s.protection.antispam.enabled, [['spec.protection.antispam.actions.spam', s.protection.antispam.actions.spam]]],
    ['contentFilter', s.protection.contentFilter.enabled, [['spec.protection.contentFilter.action', s.protection.contentFilter.action]]],
  ];
  for (const [name, enabled, actions] of modules) {
    for (const [field, action] of actions) {
      if (!enabled && action !== undefined) add('MGW107', 'Warning', field, `An action is set but ${name} is off, so it never applies: set spec.protection.${name}.enabled: true.`);
    }
  }
  if (s.integration !== 'Direct' && !s.protection.antivirus.enabled) {
    add('MGW108', 'Warning', 'spec.protection.antivirus.enabled', 'Behind an edge gateway the gateway is where mail is scanned, but anti-virus is off: enable it with a clamd address (KSMG keeps its modules on in this scheme).');
  }
  const authChecks = s.integration === SEED ? s.authentication.dkim : s.authentication.spf !== false || s.authentication.dmarc !== false || s.authentication.dkim;
  s.rules.forEach((r, i) => {
    const at = `spec.rules[${i}]`;
    (r.actions?.notify ?? []).forEach((n, j) => {
      if (n.to !== 'Sender') return;
      if (s.integration === SEED) add('MGW109', 'Warning', `${at}.actions.notify[${j}].to`, 'Behind an edge gateway without recipient verification the sender cannot be authenticated (SPF and DMARC judge the edge): notices would go to forged senders (backscatter). Notify Recipients or Admin.');
      else if (s.authentication.spf === false && s.authentication.dmarc === false) add('MGW109', 'Warning', `${at}.actions.notify[${j}].to`, 'SPF and DMARC are off, so a forged sender cannot be told apart: notices to the sender may be backscatter. Turn SPF/DMARC on, or notify Recipients or Admin.');
    });
    if (r.mode !== 'Scan' && (r.protection || r.authentication)) add('MGW110', 'Warning', `${at}.protection`, `Mode ${r.mode} does not scan: the rule's protection and authentication settings never apply.`);
    const a = r.actions;
    if ((r.mode === 'Delete' || r.mode === 'Reject') && a && (a.disclaimer || a.bcc.length > 0 || a.headers || a.subjectTags)) {
      add('MGW110', 'Warning', `${at}.actions`, `Mode ${r.mode} delivers nothing: the disclaimer, BCC, header edits and subject tags never apply.`);
    }
    if ((r.authentication?.enabled || r.match?.authentication) && !authChecks) {
      add('MGW111', 'Warning', r.match?.authentication ? `${at}.match.authentication` : `${at}.authentication.enabled`, 'No sender authentication check is on (spec.authentication): every result is None.');
    }
  });
  const effective = (mode: string | undefined) => mode ?? s.tls.outbound.mode;
  if (s.relayHost?.auth && effective(s.relayHost.tls?.mode) === 'None') add('MGW112', 'Error', 'spec.relayHost.auth', 'AUTH is only sent over TLS, and TLS to the relay host is None: the mail would wait forever. Set relayHost.tls.mode to Encrypt or Verify.');
  s.transports.forEach((t, i) => {
    if (t.auth && effective(t.tls?.mode) === 'None') add('MGW112', 'Error', `spec.transports[${i}].auth`, 'AUTH is only sent over TLS, and TLS on this transport is None: set tls.mode to Encrypt or Verify.');
  });
  if (s.relayHost?.auth && effective(s.relayHost.tls?.mode) === 'Attempt') add('MGW113', 'Warning', 'spec.relayHost.tls.mode', 'With AUTH, Attempt means the mail waits whenever STARTTLS fails (credentials are never sent in clear): say Encrypt, or Verify with the relay\'s CA.');
  if (s.tls.outbound.mode === 'Require') add('MGW114', 'Warning', 'spec.tls.outbound.mode', 'Require is the old name of Encrypt (encrypted, certificate not checked): write Encrypt, or Verify to check the certificate.');
  if (s.integration !== 'Direct' && !s.relayHost) add('MGW105', 'Warning', 'spec.relayHost', 'Behind an edge gateway all outbound mail should go to the edge: set relayHost to it (KSMG step 2).');
  if (s.integration === 'Direct' && s.recipientVerification.mode === 'DoNotReject') add('MGW106', 'Warning', 'spec.recipientVerification.mode', 'As the MX, accepting unknown recipients means bouncing them later (backscatter): use RejectUnverified.');
  return out;
}

function hostBitsSet(cidr: string): boolean {
  try {
    const [addr, bits] = ipaddr.parseCIDR(cidr);
    const network = addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
    return network.toString() !== addr.toString() && bits < (addr.kind() === 'ipv4' ? 32 : 128);
  } catch {
    return false;
  }
}

function prefixTooWide(cidr: string): boolean {
  const [, bits] = ipaddr.parseCIDR(cidr);
  return bits < 8;
}

/** Whether a next hop host names the gateway itself: its hostname or its own Services, or the address `mailgw up` listens on. */
function pointsAtSelf(gw: MailGateway, hop: { host: string; port: number }, listen: { host: string; port: number } | undefined): boolean {
  const host = hop.host.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
  if (gw.spec.hostname && host === gw.spec.hostname.toLowerCase().replace(/\.$/, '')) return true;
  const ns = gw.metadata.namespace ?? 'default';
  const names = objectNames(gw);
  for (const svc of [names.service, names.headless]) {
    if (host === svc || host === `${svc}.${ns}` || host.startsWith(`${svc}.${ns}.svc`) || host.endsWith(`.${svc}.${ns}.svc`) || host.includes(`.${svc}.${ns}.svc.`)) return true;
  }
  if (listen && hop.port === listen.port) {
    const l = listen.host.toLowerCase();
    if (host === l || host === 'localhost' && l.startsWith('127.')) return true;
    if ((l === '0.0.0.0' || l === '::') && (host.startsWith('127.') || host === 'localhost' || host === '::1')) return true;
  }
  return false;
}

export interface LintOptions {
  /** Where `mailgw up` listens: a LocalDomain routed there is a loop. */
  listen?: { host: string; port: number } | undefined;
}

export function lint(gateways: readonly MailGateway[], domains: readonly LocalDomain[], networks: readonly TrustedNetwork[], options: LintOptions = {}): Finding[] {
  const out: Finding[] = gateways.flatMap(lintGateway);
  const gatewayKey = (ns: string | undefined, name: string) => `${ns ?? 'default'}/${name}`;
  const known = new Set(gateways.map((g) => gatewayKey(g.metadata.namespace, g.metadata.name)));
  for (const d of domains) {
    if (!known.has(gatewayKey(d.metadata.namespace, d.spec.gatewayRef.name))) {
      out.push({ code: 'MGW202', severity: 'Warning', object: ref('LocalDomain', d), field: 'spec.gatewayRef.name', message: `MailGateway ${d.spec.gatewayRef.name} does not exist in this namespace: the domain is not in effect.` });
    }
  }
  for (const d of domains) {
    const gw = gateways.find((g) => gatewayKey(g.metadata.namespace, g.metadata.name) === gatewayKey(d.metadata.namespace, d.spec.gatewayRef.name));
    if (!gw) continue;
    const object = ref('LocalDomain', d);
    if (d.spec.routing && pointsAtSelf(gw, d.spec.routing, options.listen)) {
      out.push({ code: 'MGW205', severity: 'Error', object, field: 'spec.routing.host', message: `${d.spec.routing.host}:${d.spec.routing.port} is the gateway itself: mail for ${d.spec.domain} would loop. Route it to the internal mail server.` });
    }
    if (!d.spec.routing && gw.spec.integration !== 'Direct' && gw.spec.relayHost) {
      out.push({ code: 'MGW206', severity: 'Warning', object, field: 'spec.routing', message: `No routing: mail for ${d.spec.domain} goes to relayHost ${gw.spec.relayHost.host}, the edge gateway, which sends it back (a loop). Set routing to the internal mail server.` });
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
      if (c.includes('/') && hostBitsSet(c)) {
        out.push({ code: 'MGW207', severity: 'Warning', object, field: `spec.cidrs[${i}]`, message: `${c} has host bits set: it means ${cidr}. Write the network address, or /32 (/128) for one host.` });
      }
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

/** One line, shaped like a schema error: severity, where it was written (when known), field, code, object, message. */
export function formatFinding(f: Finding, where?: { file: string; document: number; line?: number | undefined }): string {
  const at = where ? `${where.file}, document ${where.document}${where.line !== undefined ? `, line ${where.line}` : ''}: ` : '';
  return `${f.severity.toLowerCase()}: ${at}${f.field}: ${f.code} ${f.object}: ${f.message}`;
}
