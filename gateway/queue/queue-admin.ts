/**
 * Queue administration (Postfix showq and postsuper): what `mailgw queue`
 * and the metrics see and do — list, stats, flush, hold, release, delete.
 * It reads the spool and asks the scheduler (queue-manager.ts) for the few
 * things only it knows or does: which messages are in an attempt, a state
 * change serialized with attempts, a wake-up, a delete that waits for an
 * attempt in flight.
 */
import type { Logger } from 'pino';
import type { Spool } from '../spool/spool.ts';
import type { DeliveryState } from '../spool/spool-types.ts';
import { stateOf } from './queue-state.ts';

export interface QueueEntry {
  id: string;
  arrival: string;
  size: number;
  sender: string;
  attempts: number;
  nextAttemptAt: string | null;
  held: boolean;
  active: boolean;
  recipients: { address: string; status: string; statusCode?: string | undefined; diagnostic?: string | undefined }[];
}

/** What the administration needs of the scheduler. */
export interface SchedulerControl {
  isActive(id: string): boolean;
  /** Applies a change to a message's delivery state, after any attempt's write to it, and reschedules it. False when it is gone. */
  changeState(id: string, change: (s: DeliveryState) => void): Promise<boolean>;
  /** Starts due attempts now. */
  wake(): void;
  /** Removes a message, or marks it to go when its attempt in flight ends. */
  discard(id: string): Promise<void>;
}

export class QueueAdmin {
  private readonly spool: Spool;
  private readonly scheduler: SchedulerControl;
  private readonly logger: Logger;
  private readonly now: () => number;

  constructor(spool: Spool, scheduler: SchedulerControl, logger: Logger, now: () => number = Date.now) {
    this.spool = spool;
    this.scheduler = scheduler;
    this.logger = logger;
    this.now = now;
  }

  /** Every queued message with its recipients' states, oldest first. */
  list(): QueueEntry[] {
    return [...this.spool.messages()].map((m) => {
      const s = stateOf(m);
      return {
        id: m.id, arrival: m.envelope.receivedAt, size: m.envelope.size, sender: m.envelope.mailFrom,
        attempts: s.attempts, nextAttemptAt: s.held ? null : new Date(s.nextAttemptAt).toISOString(), held: s.held, active: this.scheduler.isActive(m.id),
        recipients: m.envelope.rcptTo.map((r, i) => ({ address: r.address, status: s.rcpts[i]!.status, statusCode: s.rcpts[i]!.statusCode, diagnostic: s.rcpts[i]!.diagnostic })),
      };
    }).sort((a, b) => a.arrival.localeCompare(b.arrival) || a.id.localeCompare(b.id));
  }

  /**
   * Queue depth by state, the oldest message's age, and the backlog: the
   * oldest message still waiting for its first delivery attempt (pending),
   * which grows when the gateway cannot keep up (the autopilot's signal;
   * deferred mail waits for its next hop, not for the gateway).
   */
  stats(now = this.now()): { byState: Record<string, number>; oldestSeconds: number; backlogSeconds: number } {
    const byState: Record<string, number> = { active: 0, deferred: 0, held: 0, pending: 0 };
    let oldest = now;
    let oldestPending = now;
    for (const m of this.spool.messages()) {
      const s = stateOf(m);
      const state = this.scheduler.isActive(m.id) ? 'active' : s.held ? 'held' : s.attempts > 0 ? 'deferred' : 'pending';
      byState[state] = (byState[state] ?? 0) + 1;
      const at = Date.parse(m.envelope.receivedAt);
      oldest = Math.min(oldest, at);
      if (state === 'pending') oldestPending = Math.min(oldestPending, at);
    }
    return { byState, oldestSeconds: (now - oldest) / 1000, backlogSeconds: Math.max(0, now - oldestPending) / 1000 };
  }

  /** Retry now (all messages, or the given ones); held messages stay held. */
  async flush(ids?: string[]): Promise<string[]> {
    const targets = ids ?? [...this.spool.messages()].map((m) => m.id);
    const done: string[] = [];
    for (const id of targets) {
      const msg = this.spool.get(id);
      if (!msg || stateOf(msg).held) continue;
      if (await this.scheduler.changeState(id, (s) => { s.nextAttemptAt = this.now(); })) done.push(id);
    }
    this.scheduler.wake();
    return done;
  }

  hold(id: string): Promise<boolean> {
    return this.scheduler.changeState(id, (s) => { s.held = true; });
  }

  async release(id: string): Promise<boolean> {
    const ok = await this.scheduler.changeState(id, (s) => {
      s.held = false;
      s.nextAttemptAt = this.now();
    });
    this.scheduler.wake();
    return ok;
  }

  /** Removes a message without a DSN (KSMG "delete"); one being delivered goes when the attempt ends. */
  async delete(id: string): Promise<boolean> {
    if (!this.spool.get(id)) return false;
    await this.scheduler.discard(id);
    this.logger.info({ event: 'removed', qid: id, reason: 'admin delete' }, 'message deleted by an administrator');
    return true;
  }
}
