/**
 * CIDR membership for client addresses: trusted networks and trusted load
 * balancers. IPv4-mapped IPv6 clients (::ffff:a.b.c.d) are matched as the
 * IPv4 address they are, against IPv4 prefixes; IPv6 against IPv6.
 */
import ipaddr from 'ipaddr.js';

export function normalizeClientAddress(address: string): string {
  try {
    return ipaddr.process(address).toString();
  } catch {
    return address;
  }
}

export class NetworkTable {
  private readonly v4: [ipaddr.IPv4, number][] = [];
  private readonly v6: [ipaddr.IPv6, number][] = [];

  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) {
      const [addr, bits] = ipaddr.parseCIDR(c);
      if (addr.kind() === 'ipv4') this.v4.push([addr as ipaddr.IPv4, bits]);
      else this.v6.push([addr as ipaddr.IPv6, bits]);
    }
  }

  get size(): number {
    return this.v4.length + this.v6.length;
  }

  contains(address: string): boolean {
    let addr: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      addr = ipaddr.process(address);
    } catch {
      return false;
    }
    if (addr.kind() === 'ipv4') return this.v4.some(([net, bits]) => (addr as ipaddr.IPv4).match(net, bits));
    return this.v6.some(([net, bits]) => (addr as ipaddr.IPv6).match(net, bits));
  }
}
