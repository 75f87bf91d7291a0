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
import { buildDsn } from './dsn-build.ts';

export interface BounceContext {
  injector: Injector;
  hostname: string;
  domains: DomainTable;
  logger: Logger;
  metrics?: GatewayMetrics | undefined;
  now: () => number;
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

/** Queues the DSN; its queue id, or undefined when none is due (null sender, nobody failed). */
export async function queueBounce(ctx: BounceContext, env: Envelope, original: Buffer, failed: FailedRecipient[], expired = false): Promise<string | undefined> {
  if (env.mailFrom === '' || failed.length === 0) return undefined;
  const id = newQueueId();
  const now = new Date(ctx.now());
  const bytes = buildDsn({ hostname: ctx.hostname, qid: env.id, envelope: env, expired, now, failed, original });
  await injectGenerated(ctx, id, now, bytes, env.mailFrom, 'bounce');
  ctx.metrics?.bounces.inc();
  ctx.logger.info({ event: 'bounce', qid: env.id, dsnQid: id, to: env.mailFrom, failed: failed.map((f) => f.address) }, `sender non-delivery notification: ${id}`);
  return id;
}
