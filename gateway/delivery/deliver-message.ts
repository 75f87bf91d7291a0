/**
 * Delivery of one message's pending recipients (Postfix smtp): recipients
 * grouped by route, one transaction per destination (per distinct DSN
 * NOTIFY/ORCPT among them, in turn: smtp-client.ts), next hops tried in
 * order (next MX on connection failure or a refused greeting), and an
 * outcome per recipient: delivered, deferred (4xx, timeouts, connection
 * failures, DNS trouble) or failed (5xx, null MX, non-existent domain).
 *
 * deliverRecipients(ctx, msg, indexes) → Outcome[]; never throws for
 * delivery problems, only reports them.
 */
import type { Resolver } from 'node:dns/promises';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../../api/index.ts';
import { resolveMx, resolveNextHop, type HopAddress } from '../dns-resolver.ts';
import type { DomainTable } from '../tables/domain-table.ts';
import { routeFor, type Route } from '../routing/route-resolve.ts';
import type { Spool } from '../spool/spool.ts';
import type { RecipientStatus, StoredMessage } from '../spool/spool-types.ts';
import { Semaphore } from './semaphore.ts';
import type { GatewayMetrics } from '../metrics.ts';
import { ConnectionCache, OutboundConnection, SmtpError, dsnKey } from './smtp-client.ts';
import { dkimSignatures } from './dkim-sign.ts';
import { mxMatches, type MtaSts } from '../routing/mta-sts.ts';
import { Readable } from 'node:stream';

export interface Outcome {
  index: number;
  status: Exclude<RecipientStatus, 'pending'>;
  statusCode: string;
  diagnostic: string;
  remoteMta?: string | undefined;
  /** Delivered to a next hop that does not do DSN: a NOTIFY=SUCCESS sender gets a "relayed" notice from us. */
  relayedWithoutDsn?: boolean | undefined;
}

export interface DeliveryContext {
  config: GatewayConfig;
  domains: DomainTable;
  resolver: Resolver;
  spool: Spool;
  cache: ConnectionCache;
  logger: Logger;
  perDestination: Map<string, Semaphore>;
  perDestinationLimit: number;
  connectTimeoutMs: number;
  metrics?: GatewayMetrics | undefined;
  /** Whether address:port is one of this gateway's own SMTP listeners (a next hop there is a loop). */
  isSelf?: ((address: string, port: number) => boolean) | undefined;
  /** MTA-STS policies for delivery by MX (tls.outbound.mtaSts). */
  mtaSts?: MtaSts | undefined;
}

/** An envelope with a non-ASCII address needs a next hop that offers SMTPUTF8. */
export function needsSmtputf8(from: string, to: readonly string[]): boolean {
  const nonAscii = /[^\x00-\x7f]/;
  return nonAscii.test(from) || to.some((a) => nonAscii.test(a));
}

function loopsBack(domain: string): Omit<Outcome, 'index'> {
  return { status: 'failed', statusCode: '5.4.6', diagnostic: `mail for ${domain} loops back to myself` };
}

const MAX_HOPS = 5;

function enhancedOf(text: string, code: number): string {
  const m = /^\d{3}[ -](\d\.\d{1,3}\.\d{1,3})\b/.exec(text);
  if (m) return m[1]!;
  return code >= 500 ? '5.0.0' : '4.0.0';
}

type Hops = { hops: HopAddress[] } | { outcome: Omit<Outcome, 'index'> };

async function hopsFor(ctx: DeliveryContext, route: Route): Promise<Hops> {
  try {
    if (route.kind === 'literal') return { hops: [{ host: route.address, address: route.address, port: 25 }] };
    if (route.kind === 'mx') {
      const hops = await resolveMx(ctx.resolver, route.domain);
      if (hops === 'null-mx') return { outcome: { status: 'failed', statusCode: '5.1.10', diagnostic: `556 5.1.10 Domain ${route.domain} does not accept mail (null MX)` } };
      if (hops.length === 0) return { outcome: { status: 'failed', statusCode: '5.1.2', diagnostic: `Host or domain name not found: ${route.domain}` } };
      return { hops: hops.slice(0, MAX_HOPS) };
    }
    // Configured next hops in order, each with all its addresses: the fallbacks come after the first host's.
    const all: HopAddress[] = [];
    for (const hop of route.hops) {
      const hops = await resolveNextHop(ctx.resolver, hop);
      if (hops === 'null-mx') {
        if (route.hops.length === 1) return { outcome: { status: 'failed', statusCode: '5.1.10', diagnostic: `556 5.1.10 Domain ${hop.host} does not accept mail (null MX)` } };
        continue;
      }
      all.push(...hops.slice(0, MAX_HOPS));
    }
    // A configured next hop that does not resolve is our misconfiguration: keep the mail.
    if (all.length === 0) return { outcome: { status: 'deferred', statusCode: '4.4.3', diagnostic: `Host ${route.hops.map((h) => h.host).join(', ')} has no address` } };
    return { hops: all };
  } catch (err) {
    return { outcome: { status: 'deferred', statusCode: '4.4.3', diagnostic: `DNS lookup failed: ${(err as Error).message}` } };
  }
}

/** The message as sent: the DKIM signatures (if any) in front of the spool copy. */
async function* withPrefix(prefix: Buffer, rest: Readable): AsyncGenerator<Buffer> {
  if (prefix.length > 0) yield prefix;
  for await (const chunk of rest as AsyncIterable<Buffer>) yield chunk;
}

async function deliverGroup(ctx: DeliveryContext, msg: StoredMessage, route: Route, indexes: number[], signatures: Buffer = Buffer.alloc(0)): Promise<Outcome[]> {
  const env = msg.envelope;
  const all = (o: Omit<Outcome, 'index'>): Outcome[] => indexes.map((index) => ({ index, ...o }));
  const resolved = await hopsFor(ctx, route);
  if ('outcome' in resolved) return all(resolved.outcome);
  let last: Omit<Outcome, 'index'> = { status: 'deferred', statusCode: '4.4.1', diagnostic: 'no next hop tried' };
  const domain = env.rcptTo[indexes[0]!]!.domain;
  let hops = resolved.hops;
  let tls = route.tls;
  if (route.kind === 'mx' && ctx.mtaSts && ctx.config.tls.outbound.mtaSts !== false) {
    const policy = await ctx.mtaSts.policyFor(route.domain);
    if (policy) {
      const listed = hops.filter((h) => mxMatches(h.host, policy.mx));
      if (policy.mode === 'enforce') {
        // RFC 8461 4: only the listed MX hosts, each with a certificate verified against its name; else the mail waits.
        if (listed.length === 0) {
          ctx.logger.warn({ event: 'mta-sts', qid: msg.id, domain: route.domain, mode: policy.mode, mx: hops.map((h) => h.host), policy: policy.mx }, `MTA-STS: no MX of ${route.domain} is in its policy`);
          return all({ status: 'deferred', statusCode: '4.7.5', diagnostic: `MTA-STS policy of ${route.domain} (enforce): no MX host matches ${policy.mx.join(', ')}` });
        }
        hops = listed;
        tls = { ...route.tls, mode: 'Verify' };
      } else if (listed.length < hops.length) {
        ctx.logger.warn({ event: 'mta-sts', qid: msg.id, domain: route.domain, mode: policy.mode, unlisted: hops.filter((h) => !listed.includes(h)).map((h) => h.host), policy: policy.mx }, `MTA-STS testing: ${route.domain} has MX hosts outside its policy (delivered anyway)`);
      }
    }
  }
  for (const hop of hops) {
    const remoteMta = `${hop.host}[${hop.address}]:${hop.port}`;
    if (ctx.isSelf?.(hop.address, hop.port)) return all({ ...loopsBack(domain), remoteMta });
    const key = `${hop.address}:${hop.port}:${hop.host}:${tls.mode}:${tls.caFile ?? ''}:${tls.certFile ?? ''}:${route.auth?.usernameFile ?? ''}`;
    let conn = ctx.cache.take(key);
    if (!conn) {
      try {
        conn = await OutboundConnection.open({
          key, address: hop.address, port: hop.port, peerName: hop.host,
          helo: ctx.config.hostname, tls, auth: route.auth, timeoutMs: ctx.connectTimeoutMs,
        });
      } catch (err) {
        const e = err as SmtpError;
        if (e.code === 'ELOOP') return all({ ...loopsBack(domain), remoteMta });
        const tlsFailed = e.code === 'ETLS' || e.code === 'ETLSVERIFY' || /STARTTLS|TLS/i.test(e.message);
        last = {
          status: 'deferred', statusCode: e.code === 'EAUTH' ? '4.7.0' : tlsFailed ? '4.7.5' : '4.4.1', remoteMta,
          diagnostic: e.code === 'EAUTH' ? `authentication to ${remoteMta} failed: ${e.response ?? e.message}`
            : e.response && !tlsFailed ? `${remoteMta} said: ${e.response}` : `${tlsFailed ? 'TLS with' : 'connect to'} ${remoteMta} failed: ${e.message}`,
        };
        ctx.logger.info({ event: 'connect-failed', to: remoteMta, code: e.code, tls: tls.mode, reason: last.diagnostic }, `next hop ${remoteMta}: ${last.diagnostic}`);
        continue; // next MX / address / fallback host
      }
    }
    const rcpts = indexes.map((i) => env.rcptTo[i]!);
    if (!conn.smtputf8 && needsSmtputf8(env.mailFrom, rcpts.map((r) => r.address))) {
      // RFC 6531 section 3.2: a UTF-8 envelope is never downgraded or sent raw to a next hop without SMTPUTF8.
      void ctx.cache.give(conn);
      return all({ status: 'failed', statusCode: '5.6.7', diagnostic: `SMTPUTF8 is required, but was not offered by host ${remoteMta}`, remoteMta });
    }
    try {
      const result = await conn.send({
        from: env.mailFrom,
        to: rcpts.map((r) => ({ address: r.address, dsn: r.dsn })),
        ret: env.mailParams.ret, envid: env.mailParams.envid,
        size: env.size + signatures.length, smtputf8: Boolean(env.mailParams.smtputf8), body8bit: env.mailParams.body === '8BITMIME',
      }, Readable.from(withPrefix(signatures, ctx.spool.createReadStream(msg.id))));
      void ctx.cache.give(conn);
      const refused = new Map(result.rejected.map((r) => [r.recipient, r]));
      return indexes.map((index) => {
        const r = refused.get(env.rcptTo[index]!.address);
        if (!r) return { index, status: 'delivered', statusCode: '2.0.0', diagnostic: result.response ?? '250 OK', remoteMta, ...(conn!.dsn ? {} : { relayedWithoutDsn: true }) };
        return { index, status: r.code >= 500 ? 'failed' : 'deferred', statusCode: enhancedOf(r.response, r.code), diagnostic: r.response, remoteMta };
      });
    } catch (err) {
      conn.close();
      const e = err as SmtpError;
      if (e.responseCode && e.responseCode >= 400) {
        const response = e.response ?? e.message;
        return all({ status: e.responseCode >= 500 ? 'failed' : 'deferred', statusCode: enhancedOf(response, e.responseCode), diagnostic: `${remoteMta} said: ${response} (in reply to ${e.command})`, remoteMta });
      }
      // Lost connection or timeout mid-transaction: the message may or may not have arrived; retry later.
      return all({ status: 'deferred', statusCode: '4.4.2', diagnostic: `lost connection with ${remoteMta} during ${e.command}: ${e.message}`, remoteMta });
    }
  }
  return all(last);
}

export async function deliverRecipients(ctx: DeliveryContext, msg: StoredMessage, indexes: number[]): Promise<Outcome[]> {
  const hops = msg.envelope.hops ?? 0;
  if (hops > ctx.config.limits.maxHops) {
    // Never sent: the next hop would see a loop (a bounce or handed-over message that went round too often).
    return indexes.map((index) => ({ index, status: 'failed', statusCode: '5.4.6', diagnostic: `Too many hops (${hops} Received/Delivered-To headers, limit ${ctx.config.limits.maxHops})` }));
  }
  const groups = new Map<string, { route: Route; indexes: number[] }>();
  for (const i of indexes) {
    const route = routeFor(msg.envelope.rcptTo[i]!.domain, ctx.config, ctx.domains);
    const g = groups.get(route.key) ?? { route, indexes: [] };
    g.indexes.push(i);
    groups.set(route.key, g);
  }
  const results = await Promise.all([...groups.values()].map((g) => {
    let sem = ctx.perDestination.get(g.route.key);
    if (!sem) {
      sem = new Semaphore(ctx.perDestinationLimit);
      ctx.perDestination.set(g.route.key, sem);
    }
    // Recipients whose DSN parameters differ go in separate transactions, one after the other.
    const byDsn = new Map<string, number[]>();
    for (const i of g.indexes) {
      const k = dsnKey(msg.envelope.rcptTo[i]!.dsn);
      byDsn.set(k, [...(byDsn.get(k) ?? []), i]);
    }
    return sem.run(async () => {
      // Mail leaving for other domains is signed (dkim-sign.ts); mail to local domains is not.
      let signatures: Buffer | undefined;
      if (ctx.config.dkim?.keys.length && g.indexes.some((i) => msg.envelope.rcptTo[i]!.route === 'relay')) {
        try {
          signatures = await dkimSignatures(ctx.config.dkim, await ctx.spool.readHead(msg.id, 64 * 1024), () => ctx.spool.createReadStream(msg.id));
        } catch (err) {
          ctx.logger.error({ event: 'dkim-error', qid: msg.id, err: (err as Error).message }, 'DKIM signing failed: the message waits unsigned rather than leaving unsigned');
          return g.indexes.map((index) => ({ index, status: 'deferred' as const, statusCode: '4.7.0', diagnostic: `DKIM signing failed: ${(err as Error).message}` }));
        }
      }
      const out: Outcome[] = [];
      for (const part of byDsn.values()) out.push(...await deliverGroup(ctx, msg, g.route, part, signatures));
      return out;
    });
  }));
  return results.flat();
}
