/**
 * MTA-STS (RFC 8461) for delivery by MX: a domain that publishes
 * `_mta-sts.<domain>` TXT "v=STSv1; id=…" serves its policy at
 * https://mta-sts.<domain>/.well-known/mta-sts.txt (certificate verified,
 * no redirects, at most 64 KiB). With `mode: enforce` only MX hosts that
 * match the policy's `mx` patterns are used, each with TLS Verify against
 * its name, and delivery fails closed (deferred) otherwise; `testing`
 * delivers as usual and logs what enforce would have refused; `none` is no
 * policy. Policies are cached for their max_age and fetched again when the
 * TXT id changes.
 */
import { request } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { Resolver } from 'node:dns/promises';
import type { LookupFunction } from 'node:net';

export interface StsPolicy {
  mode: 'enforce' | 'testing' | 'none';
  mx: string[];
  maxAgeSeconds: number;
  id: string;
}

/** The id of a `_mta-sts` TXT record, or undefined when it is not one (RFC 8461 3.1). */
export function parseStsTxt(records: string[][]): string | undefined {
  const sts = records.map((r) => r.join('')).filter((t) => /^v=STSv1\s*(;|$)/.test(t));
  if (sts.length !== 1) return undefined; // none, or ambiguous: no policy
  return /(?:^|;)\s*id=([A-Za-z0-9]{1,32})\s*(;|$)/.exec(sts[0]!)?.[1];
}

/** The policy file (RFC 8461 3.2), or undefined when it is not a valid one. */
export function parsePolicy(text: string, id: string): StsPolicy | undefined {
  const fields = new Map<string, string[]>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^([A-Za-z0-9_]+):\s*(.*?)\s*$/.exec(line);
    if (m) fields.set(m[1]!.toLowerCase(), [...(fields.get(m[1]!.toLowerCase()) ?? []), m[2]!]);
  }
  const mode = fields.get('mode')?.[0];
  const maxAge = Number(fields.get('max_age')?.[0]);
  if (fields.get('version')?.[0] !== 'STSv1' || (mode !== 'enforce' && mode !== 'testing' && mode !== 'none') || !Number.isInteger(maxAge) || maxAge < 0) return undefined;
  const mx = (fields.get('mx') ?? []).map((p) => p.toLowerCase().replace(/\.$/, ''));
  if (mode !== 'none' && mx.length === 0) return undefined;
  return { mode, mx, maxAgeSeconds: Math.min(maxAge, 31_557_600), id };
}

/** Whether an MX host name matches a policy pattern: exact, or `*.` matching exactly one leftmost label. */
export function mxMatches(host: string, patterns: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return patterns.some((p) => (p.startsWith('*.') ? h.endsWith(p.slice(1)) && !h.slice(0, h.length - p.length + 1).includes('.') : h === p));
}

export interface MtaStsOptions {
  resolver: Resolver;
  /** CAs trusted for policy hosts besides the system roots (tls.outbound.ca). */
  ca?: () => Promise<Buffer | undefined>;
  timeoutMs?: number;
  /** The policy hosts' HTTPS port: 443, another only in tests. */
  port?: number | undefined;
  now?: () => number;
}

export class MtaSts {
  private readonly cache = new Map<string, { policy: StsPolicy; until: number }>();
  private readonly o: MtaStsOptions;

  constructor(o: MtaStsOptions) {
    this.o = o;
  }

  /** The domain's policy in force (enforce or testing), or undefined. Never throws: a policy that cannot be had is none, unless a cached one is still valid. */
  async policyFor(domain: string): Promise<StsPolicy | undefined> {
    const now = (this.o.now ?? Date.now)();
    const cached = this.cache.get(domain);
    let id: string | undefined;
    try {
      id = parseStsTxt(await this.o.resolver.resolveTxt(`_mta-sts.${domain}`));
    } catch {
      id = undefined;
    }
    if (cached && cached.until > now && (!id || id === cached.policy.id)) return cached.policy.mode === 'none' ? undefined : cached.policy;
    if (!id) return cached && cached.until > now && cached.policy.mode !== 'none' ? cached.policy : undefined;
    try {
      const policy = parsePolicy(await this.fetch(domain), id);
      if (!policy) return cached && cached.until > now ? cached.policy : undefined;
      this.cache.set(domain, { policy, until: now + policy.maxAgeSeconds * 1000 });
      return policy.mode === 'none' ? undefined : policy;
    } catch {
      // RFC 8461 5: a policy that cannot be fetched leaves a cached one in force, else none.
      return cached && cached.until > now && cached.policy.mode !== 'none' ? cached.policy : undefined;
    }
  }

  private async fetch(domain: string): Promise<string> {
    const host = `mta-sts.${domain}`;
    const ca = await this.o.ca?.();
    const resolver = this.o.resolver;
    // The policy host's address from the configured resolver; net asks for all addresses (`all: true`, to race them) or one.
    const lookup: LookupFunction = (name, opts, cb) => {
      resolver.resolve4(name).then(
        (a) => (opts.all ? cb(null, a.map((address) => ({ address, family: 4 }))) : cb(null, a[0]!, 4)),
        (err: NodeJS.ErrnoException) => cb(err, '', 4),
      );
    };
    return new Promise((resolve, reject) => {
      const req = request({
        host, port: this.o.port ?? 443, path: '/.well-known/mta-sts.txt', method: 'GET', servername: host, lookup,
        // The system roots, plus tls.outbound.ca when given (a private PKI).
        ...(ca ? { ca: [...rootCertificates, ca] } : {}), timeout: this.o.timeoutMs ?? 10_000, headers: { 'user-agent': 'mailgw' },
      }, (res) => {
        if (res.statusCode !== 200 || !/^text\/plain/i.test(String(res.headers['content-type'] ?? ''))) {
          res.resume();
          return reject(new Error(`policy host answered ${res.statusCode}`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > 64 * 1024) return req.destroy(new Error('policy larger than 64 KiB'));
          chunks.push(c);
        });
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('policy fetch timed out')));
      req.on('error', reject);
      req.end();
    });
  }
}
