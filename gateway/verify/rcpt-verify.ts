/**
 * Recipient verification (Postfix reject_unverified_recipient): before
 * answering RCPT for a local domain, ask that domain's next hop — its
 * routing, else relayHost, else the domain's MX — whether it would take the
 * recipient (smtp-probe.ts).
 *
 * verify(address, entry) → 'ok' | SmtpReply:
 *   next hop 2xx → ok (cached positiveTtl); 5xx → 550 5.1.1 (cached
 *   negativeTtl); 4xx, timeout, unreachable, no address → 450 4.1.1, not cached.
 * Concurrent checks of one address share one callout. The cache is bounded.
 */
import type { Resolver } from 'node:dns/promises';
import type { GatewayConfig, NextHop } from '../../api/index.ts';
import { resolveMx, resolveNextHop, type HopAddress } from '../dns-resolver.ts';
import type { LocalDomainEntry } from '../tables/domain-table.ts';
import { replies, type SmtpReply } from '../smtp-replies.ts';
import { probeRecipient } from './smtp-probe.ts';

const MAX_CACHE = 100_000;

interface CacheEntry {
  result: 'ok' | SmtpReply;
  expires: number;
}

export interface VerifyOutcome {
  result: 'ok' | SmtpReply;
  cached: boolean;
  nextHop?: string;
  detail?: string;
}

export class RecipientVerifier {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<VerifyOutcome>>();
  private readonly config: GatewayConfig;
  private readonly resolver: Resolver;
  private readonly now: () => number;
  /** Whether a next hop is this gateway's own listener: a callout there would call itself. */
  private readonly isSelf: (address: string, port: number) => boolean;

  constructor(config: GatewayConfig, resolver: Resolver, now: () => number = Date.now, isSelf: (address: string, port: number) => boolean = () => false) {
    this.config = config;
    this.resolver = resolver;
    this.now = now;
    this.isSelf = isSelf;
  }

  async verify(address: string, entry: LocalDomainEntry): Promise<VerifyOutcome> {
    const key = address.toLowerCase();
    const hit = this.cache.get(key);
    if (hit && hit.expires > this.now()) return { result: hit.result, cached: true };
    if (hit) this.cache.delete(key);
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.callout(address, entry).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  private remember(key: string, result: 'ok' | SmtpReply, ttl: number): void {
    if (ttl <= 0) return;
    if (this.cache.size >= MAX_CACHE) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, { result, expires: this.now() + ttl });
  }

  private async targets(entry: LocalDomainEntry, domain: string): Promise<HopAddress[]> {
    const hop: NextHop | undefined = entry.routing ?? this.config.relayHost;
    const hops = hop ? await resolveNextHop(this.resolver, hop) : await resolveMx(this.resolver, domain);
    return hops === 'null-mx' ? [] : hops;
  }

  private async callout(address: string, entry: LocalDomainEntry): Promise<VerifyOutcome> {
    const rv = this.config.recipientVerification;
    const domain = address.slice(address.lastIndexOf('@') + 1);
    let hops: HopAddress[];
    try {
      hops = await this.targets(entry, domain);
    } catch (err) {
      return { result: replies.unverified(address, `next hop lookup failed (${(err as Error).message})`), cached: false };
    }
    if (hops.length === 0) return { result: replies.unverified(address, 'next hop has no address'), cached: false };
    let lastError = '';
    for (const hop of hops.slice(0, 3)) {
      const nextHop = `${hop.host}[${hop.address}]:${hop.port}`;
      if (this.isSelf(hop.address, hop.port)) return { result: replies.unverified(address, `mail for ${domain} loops back to myself`), cached: false, nextHop };
      try {
        const r = await probeRecipient(hop.address, hop.port, address, { helo: this.config.hostname, timeoutMs: rv.timeoutMs });
        const detail = `${nextHop} said: ${r.code} ${r.text}`;
        if (r.stage === 'rcpt' && r.code >= 200 && r.code < 300) {
          this.remember(address.toLowerCase(), 'ok', rv.positiveTtlMs);
          return { result: 'ok', cached: false, nextHop, detail };
        }
        if (r.stage === 'rcpt' && r.code >= 500) {
          const rejected = replies.unknownUser(address, `undeliverable (${r.code} ${r.text})`.slice(0, 300));
          this.remember(address.toLowerCase(), rejected, rv.negativeTtlMs);
          return { result: rejected, cached: false, nextHop, detail };
        }
        // 4xx, or the next hop refused the probe itself: not an answer about the recipient.
        if (r.code >= 400 && r.code < 500) return { result: replies.unverified(address, `next hop answered ${r.code}`), cached: false, nextHop, detail };
        lastError = detail;
      } catch (err) {
        lastError = `${nextHop}: ${(err as Error).message}`;
      }
    }
    return { result: replies.unverified(address, 'next hop unreachable'), cached: false, detail: lastError };
  }
}
