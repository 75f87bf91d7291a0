/**
 * DNS for the gateway: a resolver bound to the configured servers and
 * timeout (MailGateway spec.resolver), so tests point it at a DNS server on
 * loopback and production at the cluster DNS. Also resolves a next hop
 * (host, port, mxLookup) into the addresses to connect to, Postfix-style:
 * "[host]" (mxLookup false) → A/AAAA of the host; mxLookup true → its MX
 * hosts by preference, then their addresses.
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { GatewayConfig, NextHop } from '../api/index.ts';

export interface HopAddress {
  host: string;
  address: string;
  port: number;
}

export function createResolver(config: GatewayConfig['resolver']): Resolver {
  const resolver = new Resolver({ timeout: config.timeoutMs, tries: 2 });
  if (config.servers.length > 0) resolver.setServers(config.servers);
  return resolver;
}

async function addressesOf(resolver: Resolver, host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  const settle = async (p: Promise<string[]>) => p.catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENODATA' || err.code === 'ENOTFOUND') return [];
    throw err;
  });
  const [v4, v6] = await Promise.all([settle(resolver.resolve4(host)), settle(resolver.resolve6(host))]);
  return [...v4, ...v6];
}

/** Addresses to try for a next hop, in order. An empty list means the name does not exist. */
export async function resolveNextHop(resolver: Resolver, hop: NextHop): Promise<HopAddress[] | 'null-mx'> {
  if (!hop.mxLookup) {
    return (await addressesOf(resolver, hop.host)).map((address) => ({ host: hop.host, address, port: hop.port }));
  }
  return resolveMx(resolver, hop.host, hop.port);
}

/**
 * MX hosts by preference (random among equals), then their addresses;
 * no MX → the domain's own A/AAAA (RFC 5321 §5.1); a null MX (RFC 7505) →
 * 'null-mx': the domain accepts no mail. DNS failures (timeout, SERVFAIL) throw.
 */
export async function resolveMx(resolver: Resolver, domain: string, port = 25): Promise<HopAddress[] | 'null-mx'> {
  let mx: { exchange: string; priority: number }[] = [];
  try {
    mx = await resolver.resolveMx(domain);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENODATA' && code !== 'ENOTFOUND') throw err;
  }
  if (mx.length === 0) return (await addressesOf(resolver, domain)).map((address) => ({ host: domain, address, port }));
  if (mx.some((m) => m.exchange === '' || m.exchange === '.')) return 'null-mx';
  const ordered = mx
    .map((m) => ({ ...m, r: Math.random() }))
    .sort((a, b) => a.priority - b.priority || a.r - b.r);
  const out: HopAddress[] = [];
  for (const m of ordered) {
    for (const address of await addressesOf(resolver, m.exchange)) out.push({ host: m.exchange, address, port });
  }
  return out;
}
