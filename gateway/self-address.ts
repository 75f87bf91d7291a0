/**
 * Whether an address:port is one of this gateway's own SMTP listeners:
 * delivery refuses such a next hop as a mail loop. A listener on a wildcard
 * address (0.0.0.0, ::) is reachable at every local address of the host.
 */
import { networkInterfaces } from 'node:os';
import { normalizeClientAddress } from './tables/network-table.ts';

function localAddresses(): Set<string> {
  const out = new Set<string>(['::1']);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(normalizeClientAddress(a.address));
  return out;
}

export function selfMatcher(listeners: readonly { host: string; port: number }[]): (address: string, port: number) => boolean {
  let local: Set<string> | undefined;
  return (address, port) => {
    const a = normalizeClientAddress(address);
    return listeners.some((l) => {
      if (l.port !== port) return false;
      const host = normalizeClientAddress(l.host);
      if (host === a) return true;
      if (host !== '0.0.0.0' && host !== '::') return false;
      if (a.startsWith('127.')) return true;
      local ??= localAddresses();
      return local.has(a);
    });
  };
}
