/**
 * A keyed work queue (client-go's workqueue): a key added while queued or in
 * flight is coalesced into one more run; failures are retried with per-key
 * exponential backoff; at most `concurrency` keys run at once, never the
 * same key twice at the same time.
 */
export interface WorkQueueOptions {
  concurrency?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Hold every key until resume() (the operator: until all informers have listed). */
  paused?: boolean;
}

export class WorkQueue {
  private readonly queued = new Set<string>();
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly settling = new Map<string, { timer: NodeJS.Timeout; first: number }>();
  private readonly handler: (key: string) => Promise<void>;
  private readonly concurrency: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private stopped = false;
  private paused: boolean;

  constructor(handler: (key: string) => Promise<void>, opts: WorkQueueOptions = {}) {
    this.handler = handler;
    this.concurrency = opts.concurrency ?? 4;
    this.baseDelayMs = opts.baseDelayMs ?? 100;
    this.maxDelayMs = opts.maxDelayMs ?? 60_000;
    this.paused = opts.paused ?? false;
  }

  /** Starts running the keys added while paused (and any added later). */
  resume(): void {
    this.paused = false;
    this.pump();
  }

  get depth(): number {
    return this.queued.size + this.timers.size + this.settling.size;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    this.queued.add(key);
    this.pump();
  }

  /**
   * Adds a key once its events settle: after `quietMs` without another call
   * for it, and at the latest `maxMs` after the first. A burst of changes
   * (1,000 LocalDomains applied at once) becomes a few runs, one change a
   * run `quietMs` later.
   */
  addSettled(key: string, quietMs: number, maxMs: number): void {
    if (this.stopped) return;
    const now = Date.now();
    const s = this.settling.get(key);
    const first = s?.first ?? now;
    if (s) clearTimeout(s.timer);
    const timer = setTimeout(() => {
      this.settling.delete(key);
      this.add(key);
    }, Math.max(0, Math.min(quietMs, first + maxMs - now)));
    this.settling.set(key, { timer, first });
  }

  addAfter(key: string, ms: number): void {
    if (this.stopped || this.timers.has(key)) return;
    this.timers.set(key, setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms));
  }

  private pump(): void {
    if (this.paused) return;
    for (const key of this.queued) {
      if (this.running.size >= this.concurrency) return;
      if (this.running.has(key)) continue;
      this.queued.delete(key);
      this.running.add(key);
      this.handler(key).then(() => {
        this.failures.delete(key);
      }, () => {
        const n = (this.failures.get(key) ?? 0) + 1;
        this.failures.set(key, n);
        this.addAfter(key, Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (n - 1)));
      }).finally(() => {
        this.running.delete(key);
        if (this.dirty.delete(key)) this.queued.add(key);
        this.pump();
      });
    }
  }

  /** Resolves once nothing is queued or running (timers for retries may remain). */
  async idle(): Promise<void> {
    while (this.queued.size > 0 || this.running.size > 0) await new Promise((r) => setTimeout(r, 5));
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.settling.values()) clearTimeout(s.timer);
    this.settling.clear();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.queued.clear();
  }
}
