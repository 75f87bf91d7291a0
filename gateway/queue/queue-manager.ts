/**
 * The queue manager (Postfix qmgr): decides which queued message is tried
 * when, runs deliveries with a bounded active set, records each outcome in
 * the spool, sends DSNs for failed recipients and removes finished messages.
 * Administration (`mailgw queue`, metrics) is queue-admin.ts, which asks
 * the scheduler through SchedulerControl.
 *
 * Order of effects for a finished attempt: DSN queued (durable) → state or
 * REMOVE written (durable). A crash in between sends a DSN twice, never
 * loses one; a crash during delivery retries it (at-least-once).
 */
import type { Logger } from 'pino';
import { deliverRecipients, type DeliveryContext, type Outcome } from '../delivery/deliver-message.ts';
import { queueBounce } from '../bounce/bounce-queue.ts';
import { FULL_RETURN_LIMIT, type DsnKind } from '../bounce/dsn-build.ts';
import type { Injector } from '../inject/injector.ts';
import type { DeliveryState, StoredMessage } from '../spool/spool-types.ts';
import type { SchedulerControl } from './queue-admin.ts';
import { backoffMs, isFinal, lifetimeMs, stateOf, wantsDelayDsn, wantsFailureDsn, wantsSuccessDsn } from './queue-state.ts';

export interface QueueOptions {
  maxActive?: number;
  now?: () => number;
}

/** What the queue manager works with: delivery's context, and the injector its bounces go through. */
export type QueueContext = DeliveryContext & { injector: Injector };

export class QueueManager implements SchedulerControl {
  private readonly ctx: QueueContext;
  private readonly logger: Logger;
  private readonly maxActive: number;
  private readonly now: () => number;
  private readonly active = new Map<string, Promise<void>>();
  private readonly deleteRequested = new Set<string>();
  /** Per message: the tail of its serialized state changes (serialized()). */
  private readonly stateLocks = new Map<string, Promise<void>>();
  /** Due now, in arrival order of their turn (the active set's intake). */
  private readonly ready = new Set<string>();
  /** Deferred: id → time of the next attempt. Held messages are in neither. */
  private readonly waiting = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private stopped = false;
  /** Deliveries run only after start(): a gateway started with delivery off only receives. */
  private started = false;

  constructor(ctx: QueueContext, options: QueueOptions = {}) {
    this.ctx = ctx;
    this.logger = ctx.logger;
    this.maxActive = options.maxActive ?? 100;
    this.now = options.now ?? Date.now;
  }

  /** Takes over what the spool recovered: due messages now, deferred ones at their time. */
  /** A new config: routing, TLS policy and lifetimes apply from the next attempt on. */
  reconfigure(next: Pick<DeliveryContext, 'config' | 'domains' | 'resolver' | 'mtaSts'>): void {
    this.ctx.config = next.config;
    this.ctx.domains = next.domains;
    this.ctx.resolver = next.resolver;
    this.ctx.mtaSts = next.mtaSts;
  }

  start(): void {
    this.started = true;
    for (const msg of this.ctx.spool.messages()) this.track(msg.id);
    this.pump();
  }

  /** A message was just committed: it is due now. */
  enqueue(msg: StoredMessage): void {
    if (this.stopped) return;
    this.track(msg.id);
    this.pump();
  }

  /** Puts a message in `ready` or `waiting` according to its state. */
  private track(id: string): void {
    this.ready.delete(id);
    this.waiting.delete(id);
    const msg = this.ctx.spool.get(id);
    if (!msg || this.active.has(id)) return;
    const state = stateOf(msg);
    if (state.held) return;
    if (state.nextAttemptAt <= this.now()) this.ready.add(id);
    else {
      this.waiting.set(id, state.nextAttemptAt);
      this.wakeAt(state.nextAttemptAt);
    }
  }

  private wakeAt(at: number): void {
    if (this.stopped || !this.started || (this.timer && at >= this.timerAt)) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.promoteDue();
      this.pump();
    }, Math.max(0, at - this.now()));
  }

  /** Moves deferred messages whose time has come to `ready`; re-arms the timer for the rest. */
  private promoteDue(): void {
    const now = this.now();
    let next = Infinity;
    for (const [id, at] of this.waiting) {
      if (at <= now) {
        this.waiting.delete(id);
        this.ready.add(id);
      } else if (at < next) next = at;
    }
    if (next < Infinity) this.wakeAt(next);
  }

  /** Starts attempts while there are due messages and room in the active set (leaky bucket). */
  private pump(): void {
    if (this.stopped || !this.started) return;
    for (const id of this.ready) {
      if (this.active.size >= this.maxActive) return;
      this.ready.delete(id);
      const msg = this.ctx.spool.get(id);
      if (!msg || this.active.has(id)) continue;
      const p = this.attempt(msg).catch((err: Error) => {
        this.logger.error({ event: 'delivery-error', qid: id, err: err.message }, 'delivery attempt failed internally');
      }).finally(() => {
        this.active.delete(id);
        if (!this.stopped) this.track(id);
        this.pump();
      });
      this.active.set(id, p);
    }
  }

  private async attempt(msg: StoredMessage): Promise<void> {
    const state: DeliveryState = structuredClone(stateOf(msg));
    const pending = state.rcpts.flatMap((r, i) => (r.status === 'pending' || r.status === 'deferred' ? [i] : []));
    const started = this.now();
    const outcomes: Outcome[] = pending.length > 0 ? await deliverRecipients(this.ctx, msg, pending) : [];
    const now = this.now();
    state.attempts++;
    state.lastAttemptAt = now;
    const newlyFailed: number[] = [];
    for (const o of outcomes) {
      state.rcpts[o.index] = { status: o.status, statusCode: o.statusCode, diagnostic: o.diagnostic, remoteMta: o.remoteMta };
      if (o.status === 'failed') newlyFailed.push(o.index);
      const rcpt = msg.envelope.rcptTo[o.index]!;
      this.ctx.metrics?.deliveries.inc({ status: o.status, next_hop: (o.remoteMta ?? '').replace(/\[.*$/, '') });
      if (o.status === 'delivered') this.ctx.metrics?.deliverySeconds.observe((now - Date.parse(msg.envelope.receivedAt)) / 1000);
      this.logger.info({
        event: 'delivery', qid: msg.id, from: msg.envelope.mailFrom, to: rcpt.address, status: o.status, dsn: o.statusCode,
        relay: o.remoteMta, attempt: state.attempts, delayMs: now - Date.parse(msg.envelope.receivedAt), attemptMs: now - started, reply: o.diagnostic,
      }, `${rcpt.address}: ${o.status}`);
    }
    const expired = now - Date.parse(msg.envelope.receivedAt) >= lifetimeMs(msg, this.ctx.config.queue);
    if (expired) {
      state.rcpts.forEach((r, i) => {
        if (r.status !== 'deferred' && r.status !== 'pending') return;
        state.rcpts[i] = { ...r, status: 'failed', diagnostic: `delivery time expired; last error: ${r.diagnostic ?? 'none'}` };
        newlyFailed.push(i);
        this.logger.info({ event: 'delivery', qid: msg.id, to: msg.envelope.rcptTo[i]!.address, status: 'failed', dsn: r.statusCode, reply: state.rcpts[i]!.diagnostic }, 'queue lifetime expired');
      });
    }
    const dsnFor = newlyFailed.filter((i) => wantsFailureDsn(msg.envelope.mailFrom, msg.envelope.rcptTo[i]!));
    if (dsnFor.length > 0 && !this.deleteRequested.has(msg.id)) await this.queueDsn(msg, state, dsnFor, expired);
    // NOTIFY=SUCCESS passed to a next hop without DSN: that hop will never report, so we say "relayed" (RFC 3461 6.2.2).
    const relayed = outcomes.filter((o) => o.status === 'delivered' && o.relayedWithoutDsn && wantsSuccessDsn(msg.envelope.mailFrom, msg.envelope.rcptTo[o.index]!)).map((o) => o.index);
    if (relayed.length > 0) await this.queueDsn(msg, state, relayed, false, 'relayed');
    // One delay notice per message once it has waited queue.delayWarning, for the recipients still deferred.
    const delayMs = this.ctx.config.queue.delayWarningMs;
    if (delayMs > 0 && !state.delayNotified && !expired && now - Date.parse(msg.envelope.receivedAt) >= delayMs) {
      const delayed = state.rcpts.flatMap((r, i) => (r.status === 'deferred' && wantsDelayDsn(msg.envelope.mailFrom, msg.envelope.rcptTo[i]!) ? [i] : []));
      if (delayed.length > 0) await this.queueDsn(msg, state, delayed, false, 'delayed', new Date(Date.parse(msg.envelope.receivedAt) + lifetimeMs(msg, this.ctx.config.queue)));
      state.delayNotified = true;
    }
    if (this.deleteRequested.delete(msg.id) || isFinal(state)) {
      await this.ctx.spool.remove(msg.id);
      this.logger.info({ event: 'removed', qid: msg.id, delivered: state.rcpts.filter((r) => r.status === 'delivered').length, failed: state.rcpts.filter((r) => r.status === 'failed').length }, 'message removed from the queue');
      return;
    }
    await this.serialized(msg.id, async () => {
      // Read under the message's lock: an admin's hold written meanwhile is durable and visible here.
      const current = this.ctx.spool.get(msg.id)?.state;
      state.held = current?.held ?? state.held;
      state.nextAttemptAt = now + backoffMs(state.attempts, this.ctx.config.queue);
      await this.ctx.spool.setState(msg.id, state);
    });
  }

  /**
   * Runs state changes of one message one after the other: an admin's hold,
   * release or flush and the outcome of an attempt that was running at that
   * moment each read the state the other wrote (a hold could be lost, or an
   * attempt's outcome overwritten by a stale copy, when both wrote at once).
   */
  private serialized<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const before = this.stateLocks.get(id) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const tail = run.then(() => undefined, () => undefined);
    this.stateLocks.set(id, tail);
    void tail.then(() => {
      if (this.stateLocks.get(id) === tail) this.stateLocks.delete(id);
    });
    return run;
  }

  private async queueDsn(msg: StoredMessage, state: DeliveryState, indexes: number[], expired: boolean, kind: DsnKind = 'failed', retryUntil?: Date): Promise<void> {
    const env = msg.envelope;
    // A DSN returns the whole message only up to FULL_RETURN_LIMIT: never read more than that.
    const original = await this.ctx.spool.readHead(msg.id, FULL_RETURN_LIMIT + 1);
    await queueBounce({
      injector: this.ctx.injector, hostname: this.ctx.config.hostname, domains: this.ctx.domains, logger: this.logger, metrics: this.ctx.metrics, now: this.now,
      policy: this.ctx.config.dsn, resolver: this.ctx.resolver,
    }, env, original, indexes.map((i) => ({ address: env.rcptTo[i]!.address, orcpt: env.rcptTo[i]!.dsn?.orcpt, state: state.rcpts[i]! })), expired, kind, retryUntil);
  }

  // ---- what queue administration asks of the scheduler (queue-admin.ts) ----

  async changeState(id: string, change: (s: DeliveryState) => void): Promise<boolean> {
    const ok = await this.serialized(id, async () => {
      const msg = this.ctx.spool.get(id);
      if (!msg) return false;
      const state = structuredClone(stateOf(msg));
      change(state);
      await this.ctx.spool.setState(id, state);
      return true;
    });
    if (ok) this.track(id);
    return ok;
  }

  wake(): void {
    this.pump();
  }

  async discard(id: string): Promise<void> {
    if (this.active.has(id)) {
      this.deleteRequested.add(id);
      return;
    }
    await this.ctx.spool.remove(id);
    this.track(id);
  }

  isActive(id: string): boolean {
    return this.active.has(id);
  }

  /** True while an attempt runs or a message is due now (after flush(), until every message has had its attempt). */
  busy(): boolean {
    return this.active.size > 0 || this.ready.size > 0;
  }

  /** Stops scheduling and waits (bounded) for attempts in flight. */
  async stop(timeoutMs = 30_000): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const all = Promise.allSettled([...this.active.values()]);
    await Promise.race([all, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    this.ctx.cache.closeAll();
  }
}
