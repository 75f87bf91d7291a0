/**
 * Routing (Postfix trivial-rewrite + transport maps): where mail for a
 * recipient domain goes. DESIGN.md order: the LocalDomain's `routing`, else
 * `relayHost`, else the domain's DNS MX.
 *
 * routeFor(domain, config, domains) → Route, pure. The `key` groups
 * recipients that go to the same place, so one message to one destination
 * is one SMTP transaction.
 */
import type { GatewayConfig, NextHop } from '../../api/index.ts';
import type { DomainTable } from '../tables/domain-table.ts';

export type Route =
  | { kind: 'hop'; key: string; hop: NextHop; via: 'routing' | 'relayHost' }
  | { kind: 'mx'; key: string; domain: string }
  | { kind: 'literal'; key: string; address: string };

function hopKey(via: string, hop: NextHop): string {
  return `${via}:${hop.mxLookup ? hop.host : `[${hop.host}]`}:${hop.port}`;
}

export function routeFor(domain: string, config: GatewayConfig, domains: DomainTable): Route {
  const entry = domain.startsWith('[') ? undefined : domains.lookup(domain);
  if (entry?.routing) return { kind: 'hop', key: hopKey('routing', entry.routing), hop: entry.routing, via: 'routing' };
  if (config.relayHost) return { kind: 'hop', key: hopKey('relay', config.relayHost), hop: config.relayHost, via: 'relayHost' };
  if (domain.startsWith('[')) {
    const address = domain.slice(1, -1).replace(/^IPv6:/i, '');
    return { kind: 'literal', key: `literal:${address}`, address };
  }
  return { kind: 'mx', key: `mx:${domain}`, domain };
}
