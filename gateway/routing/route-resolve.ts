/**
 * Routing (Postfix trivial-rewrite + transport maps): where mail for a
 * recipient domain goes, in this order: the LocalDomain's `routing`, a
 * transport carrying the domain (any domain, not only local ones), the
 * `relayHost` (with its fallbacks), else the domain's DNS MX.
 *
 * routeFor(domain, config, domains) → Route, pure. The `key` groups
 * recipients that go to the same place, so one message to one destination
 * is one SMTP transaction. Every route carries its TLS policy (its own, or
 * tls.outbound) and, for a relay host or transport with AUTH, credentials.
 */
import type { GatewayConfig, NextHop } from '../../api/index.ts';
import type { DomainTable } from '../tables/domain-table.ts';

/** A route's TLS policy (tls.outbound's mtaSts switch is not part of it). */
export type TlsPolicy = Omit<GatewayConfig['tls']['outbound'], 'mtaSts'>;
export type Credentials = NonNullable<NonNullable<GatewayConfig['relay']>['auth']>;

interface RouteBase {
  key: string;
  tls: TlsPolicy;
  auth?: Credentials | undefined;
}

export type Route = RouteBase & (
  /** Next hops tried in order (a LocalDomain's routing, a transport, the relay host and its fallbacks). */
  | { kind: 'hop'; hops: NextHop[]; via: 'routing' | 'transport' | 'relayHost'; transport?: string | undefined }
  | { kind: 'mx'; domain: string }
  | { kind: 'literal'; address: string }
);

function hopKey(via: string, hops: NextHop[]): string {
  return `${via}:${hops.map((hop) => `${hop.mxLookup ? hop.host : `[${hop.host}]`}:${hop.port}`).join(',')}`;
}

type Transport = GatewayConfig['transports'][number];
const transportTables = new WeakMap<GatewayConfig['transports'], { exact: Map<string, Transport>; withSubdomains: Map<string, Transport> }>();

/** The transport for a domain: an exact domain first, else the nearest parent with includeSubdomains; the first transport listing it wins. */
export function transportFor(domain: string, transports: GatewayConfig['transports']): Transport | undefined {
  if (transports.length === 0) return undefined;
  let t = transportTables.get(transports);
  if (!t) {
    t = { exact: new Map(), withSubdomains: new Map() };
    for (const tr of transports) {
      for (const d of tr.domains) {
        if (!t.exact.has(d)) t.exact.set(d, tr);
        if (tr.includeSubdomains && !t.withSubdomains.has(d)) t.withSubdomains.set(d, tr);
      }
    }
    transportTables.set(transports, t);
  }
  const hit = t.exact.get(domain);
  if (hit) return hit;
  for (let at = domain.indexOf('.'); at >= 0; at = domain.indexOf('.', at + 1)) {
    const parent = t.withSubdomains.get(domain.slice(at + 1));
    if (parent) return parent;
  }
  return undefined;
}

function tlsKey(tls: TlsPolicy, auth: Credentials | undefined): string {
  return `${tls.mode}${tls.caFile ? `;ca=${tls.caFile}` : ''}${tls.certFile ? `;cert=${tls.certFile}` : ''}${auth ? `;auth=${auth.usernameFile}` : ''}`;
}

export function routeFor(domain: string, config: GatewayConfig, domains: DomainTable): Route {
  const tls = config.tls.outbound;
  const literal = domain.startsWith('[');
  const entry = literal ? undefined : domains.lookup(domain);
  if (entry?.routing) return { kind: 'hop', key: hopKey('routing', [entry.routing]), hops: [entry.routing], via: 'routing', tls };
  const transport = literal ? undefined : transportFor(domain, config.transports ?? []);
  if (transport) {
    const r = transport.route;
    const policy = r.tls ?? tls;
    return { kind: 'hop', key: `${hopKey(`transport=${transport.name}`, r.hops)}|${tlsKey(policy, r.auth)}`, hops: r.hops, via: 'transport', transport: transport.name, tls: policy, auth: r.auth };
  }
  if (config.relayHost) {
    const hops = config.relay?.hops ?? [config.relayHost];
    const policy = config.relay?.tls ?? tls;
    return { kind: 'hop', key: hopKey('relay', hops), hops, via: 'relayHost', tls: policy, auth: config.relay?.auth };
  }
  if (literal) {
    const address = domain.slice(1, -1).replace(/^IPv6:/i, '');
    return { kind: 'literal', key: `literal:${address}`, address, tls };
  }
  return { kind: 'mx', key: `mx:${domain}`, domain, tls };
}
