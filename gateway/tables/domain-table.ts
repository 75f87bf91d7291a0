/**
 * Local domain lookup: exact match on the A-label, and parent domains whose
 * LocalDomain has includeSubdomains. "evilexample.com" never matches
 * "example.com": only whole labels are stripped.
 */
import type { GatewayConfig } from '../../api/index.ts';

export type LocalDomainEntry = GatewayConfig['localDomains'][number];

export class DomainTable {
  private readonly exact = new Map<string, LocalDomainEntry>();
  private readonly withSubdomains = new Map<string, LocalDomainEntry>();

  constructor(entries: readonly LocalDomainEntry[]) {
    for (const e of entries) {
      if (!this.exact.has(e.domain)) this.exact.set(e.domain, e);
      if (e.includeSubdomains && !this.withSubdomains.has(e.domain)) this.withSubdomains.set(e.domain, e);
    }
  }

  get size(): number {
    return this.exact.size;
  }

  /** The LocalDomain entry for an A-label domain, or undefined when it is not local. */
  lookup(domain: string): LocalDomainEntry | undefined {
    const hit = this.exact.get(domain);
    if (hit) return hit;
    let at = domain.indexOf('.');
    while (at >= 0) {
      const parent = domain.slice(at + 1);
      const entry = this.withSubdomains.get(parent);
      if (entry) return entry;
      at = domain.indexOf('.', at + 1);
    }
    return undefined;
  }
}
