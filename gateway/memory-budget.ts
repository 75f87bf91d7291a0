/**
 * One memory budget per gateway process for what must be held in memory:
 * each session's DATA buffers while it streams to disk, and a part of a
 * message decoded for inspection (an attachment, an archive). A session
 * that cannot get its share waits briefly, then the caller answers
 * `451 4.3.2` (try later): the pod slows down instead of being OOM-killed.
 *
 * Interface: new MemoryBudget(limitBytes, onChange); acquire(bytes, waitMs)
 * → a release function or undefined; run(bytes, fn) for a bounded piece of
 * work (waits as long as it takes: the message is already accepted for
 * scanning, and every holder releases).
 */
export class MemoryBudget {
  private limit: number;
  private usedBytes = 0;
  private readonly waiters: { bytes: number; resolve: () => void }[] = [];
  private readonly onChange: (used: number, limit: number) => void;

  constructor(limitBytes: number, onChange: (used: number, limit: number) => void = () => undefined) {
    this.limit = limitBytes;
    this.onChange = onChange;
    onChange(0, limitBytes);
  }

  get used(): number {
    return this.usedBytes;
  }

  get size(): number {
    return this.limit;
  }

  setLimit(limitBytes: number): void {
    this.limit = limitBytes;
    this.wake();
    this.onChange(this.usedBytes, this.limit);
  }

  /**
   * Takes `bytes` (at most the whole budget) within `waitMs`; undefined when
   * the budget stays full that long. The returned function gives it back (once).
   */
  async acquire(bytes: number, waitMs: number): Promise<(() => void) | undefined> {
    const n = Math.min(bytes, this.limit);
    if (!this.fits(n)) {
      const granted = await new Promise<boolean>((resolve) => {
        const w = { bytes: n, resolve: () => resolve(true) };
        this.waiters.push(w);
        setTimeout(() => {
          const i = this.waiters.indexOf(w);
          if (i < 0) return; // granted meanwhile
          this.waiters.splice(i, 1);
          resolve(false);
        }, waitMs).unref();
      });
      if (!granted) return undefined;
    } else {
      this.usedBytes += n;
      this.onChange(this.usedBytes, this.limit);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.usedBytes -= n;
      this.wake();
      this.onChange(this.usedBytes, this.limit);
    };
  }

  /** Runs fn holding `bytes`, waiting for them as long as needed. */
  async run<T>(bytes: number, fn: () => Promise<T>): Promise<T> {
    let release: (() => void) | undefined;
    while (!(release = await this.acquire(bytes, 60_000)));
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private fits(n: number): boolean {
    // One holder may always proceed alone, so a piece larger than the budget cannot wait forever.
    return this.usedBytes === 0 || this.usedBytes + n <= this.limit;
  }

  private wake(): void {
    let granted = false;
    while (this.waiters.length > 0 && this.fits(this.waiters[0]!.bytes)) {
      const w = this.waiters.shift()!;
      this.usedBytes += w.bytes;
      granted = true;
      w.resolve();
    }
    if (granted) this.onChange(this.usedBytes, this.limit);
  }
}
