/**
 * Writes the status of LocalDomains and TrustedNetworks in the background,
 * a few at a time, so that a gateway with 100,000 domains gets its
 * ConfigMap at once and the statuses follow (one patch per object that
 * changed), without holding up the next reconcile. Writes are coalesced per
 * object (the newest wins); a failed one is dropped with a log line, and the
 * next reconcile, seeing the old status, asks again.
 */
import type { Logger } from 'pino';

type Obj = Record<string, unknown>;
export type StatusWrite = (plural: string, namespace: string, name: string, status: Obj, previous: Obj | undefined) => Promise<void>;

interface Pending { plural: string; namespace: string; name: string; status: Obj; previous: Obj | undefined }

export class StatusWriter {
  private readonly pending = new Map<string, Pending>();
  private inFlight = 0;
  private idle: (() => void)[] = [];
  private readonly write: StatusWrite;
  private readonly logger: Logger;
  private readonly concurrency: number;

  constructor(write: StatusWrite, logger: Logger, concurrency = 8) {
    this.write = write;
    this.logger = logger;
    this.concurrency = concurrency;
  }

  get depth(): number {
    return this.pending.size + this.inFlight;
  }

  enqueue(plural: string, namespace: string, name: string, status: Obj, previous: Obj | undefined): void {
    this.pending.set(`${plural}/${namespace}/${name}`, { plural, namespace, name, status, previous });
    this.pump();
  }

  /** Resolves when nothing is pending or in flight. */
  drained(): Promise<void> {
    return this.depth === 0 ? Promise.resolve() : new Promise((r) => this.idle.push(r));
  }

  private pump(): void {
    while (this.inFlight < this.concurrency && this.pending.size > 0) {
      const [key, p] = this.pending.entries().next().value as [string, Pending];
      this.pending.delete(key);
      this.inFlight++;
      this.write(p.plural, p.namespace, p.name, p.status, p.previous)
        .catch((err: Error & { code?: number }) => {
          // Gone meanwhile (404) is nothing to report.
          if (err.code !== 404) this.logger.warn({ event: 'status-error', object: key, err: err.message }, 'status write failed; the next reconcile retries');
        })
        .finally(() => {
          this.inFlight--;
          this.pump();
          if (this.depth === 0) for (const r of this.idle.splice(0)) r();
        });
    }
  }
}
