/**
 * The bounce stage, like Postfix's bounce(8): a delivery status notification
 * (RFC 3464, dsn-build.ts) to the envelope sender for the recipients that
 * failed, queued through the injector as a new message from the null sender.
 * Never to the null sender (no bounce of a bounce). Called by the queue
 * manager (failures, expiry) and by the receive side (rejects decided after
 * the session).
 */
import { buildEnvelope, recipientOf } from '../inject/envelope-build.ts';
import type { Logger } from 'pino';
import type { Injector } from '../inject/injector.ts';
import type { GatewayMetrics } from '../metrics.ts';
import { newQueueId } from '../queue-id.ts';
import type { Envelope, RecipientState } from '../spool/spool-types.ts';
import type { DomainTable } from '../tables/domain-table.ts';
import { buildDsn, type DsnKind } from './dsn-build.ts';
import type { Resolver } from 'node:dns/promises';
import type { GatewayConfig } from '../../api/index.ts';
import { resolveMx } from '../dns-resolver.ts';

export interface BounceContext {
  injector: Injector;
  hostname: string;
  domains: DomainTable;
  logger: Logger;
  metrics?: GatewayMetrics | undefined;
  now: () => number;
  /** Which DSNs are not sent (dsn.*); absent: all are sent. */
  policy?: GatewayConfig['dsn'] | undefined;
  /** For dsn.suppressForUnreachableSenders: does the sender's domain accept mail at all. */
  resolver?: Resolver | undefined;
}

/** Why no DSN goes to this sender, or undefined when one may. */
async function suppressed(ctx: BounceContext, env: Envelope): Promise<{ reason: 'suspect' | 'unreachable'; detail: string } | undefined> {
  if (ctx.policy?.suppressForSuspectSenders && env.suspect) return { reason: 'suspect', detail: env.suspect };
  if (ctx.policy?.suppressForUnreachableSenders && ctx.resolver) {
    const domain = env.mailFrom.slice(env.mailFrom.lastIndexOf('@') + 1);
    try {
      const hops = await resolveMx(ctx.resolver, domain);
      if (hops === 'null-mx') return { reason: 'unreachable', detail: `${domain} has a null MX` };
      if (hops.length === 0) return { reason: 'unreachable', detail: `${domain} has no address` };
    } catch {
      // DNS trouble is not proof: the DSN is sent and retried like any mail.
    }
  }
  return undefined;
}

export interface FailedRecipient {
  address: string;
  orcpt?: string | undefined;
  state: RecipientState;
}

/** Writes a message the gateway made itself (a DSN, a notice) through the injector: from the null sender, to one address. */
export async function injectGenerated(ctx: BounceContext, id: string, now: Date, bytes: Buffer, to: string, sessionId: string): Promise<void> {
  await ctx.injector.inject(id, async (write) => {
    await write(bytes);
  }, buildEnvelope({
    id, receivedAt: now, sessionId,
    client: { address: '127.0.0.1', port: 0, helo: ctx.hostname, tls: false },
    mailFrom: '', rcptTo: [recipientOf(to, ctx.domains)],
  }));
}

/**
 * Queues the DSN; its queue id, or undefined when none is due (null sender,
 * nobody failed) or it is suppressed (dsn.*: logged and counted).
 */
export async function queueBounce(ctx: BounceContext, env: Envelope, original: Buffer, failed: FailedRecipient[], expired = false, kind: DsnKind = 'failed', retryUntil?: Date): Promise<string | undefined> {
  if (env.mailFrom === '' || failed.length === 0) return undefined;
  const no = await suppressed(ctx, env);
  if (no) {
    ctx.metrics?.dsnSuppressed.inc({ reason: no.reason });
    ctx.logger.info({ event: 'dsn-suppressed', qid: env.id, to: env.mailFrom, kind, reason: no.reason, detail: no.detail, recipients: failed.map((f) => f.address) }, `no ${kind} DSN to ${env.mailFrom}: ${no.detail}`);
    return undefined;
  }
  const id = newQueueId();
  const now = new Date(ctx.now());
  const bytes = buildDsn({ hostname: ctx.hostname, qid: env.id, envelope: env, expired, now, failed, original, kind, retryUntil });
  await injectGenerated(ctx, id, now, bytes, env.mailFrom, 'bounce');
  ctx.metrics?.bounces.inc();
  ctx.logger.info({ event: 'bounce', qid: env.id, dsnQid: id, to: env.mailFrom, kind, failed: failed.map((f) => f.address) }, `sender ${kind === 'failed' ? 'non-delivery' : kind} notification: ${id}`);
  return id;
}
