/**
 * The traffic log (issue 17), gateway side: a tap on the gateway's
 * structured log (every event that names a queue id: arrival, verdict,
 * each delivery attempt, bounces, splits, releases, deletions) feeding a
 * worker thread that keeps them in SQLite (traffic-store.ts) and answers
 * searches. On the SMTP path the tap costs one array push per log line;
 * batches leave every 200 ms (or 1,000 events) with one postMessage. If
 * the worker falls behind, events are dropped and counted rather than
 * buffered without bound: the traffic log is a record, the spool is what
 * must never lose anything.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { TrafficMessage, TrafficPage, TrafficQuery, TimelineEntry } from './traffic-store.ts';
import type { SyslogTarget } from './syslog-sender.ts';
import type { GatewayConfig } from '../../api/index.ts';

export interface SiemSettings extends SyslogTarget {
  facility: number;
  /** HOSTNAME of the syslog messages (the gateway's hostname). */
  hostname: string;
}

export interface TrafficSettings {
  /** Record the traffic log (SQLite); the worker also runs for `siem` alone. */
  enabled: boolean;
  retentionMs: number;
  /** Bytes the database may hold; the oldest messages go first. */
  maxSize: number;
  /** Send traffic and audit events as CEF over syslog. */
  siem?: SiemSettings | undefined;
}

/** The traffic log's and SIEM export's settings of a config. */
export function trafficSettings(c: GatewayConfig): TrafficSettings {
  const syslog = c.siem.syslog;
  return { ...c.trafficLog, ...(syslog ? { siem: { ...syslog, hostname: c.hostname } } : {}) };
}

export type WorkerRequest =
  | { type: 'events'; events: unknown[] | string }
  | { type: 'search'; id: number; query: TrafficQuery }
  | { type: 'timeline'; id: number; qid: string }
  | { type: 'configure'; settings: TrafficSettings }
  | { type: 'close'; id: number };

export type WorkerReply =
  | { type: 'result'; id: number; value?: unknown; error?: string; badQuery?: boolean }
  | { type: 'applied'; count: number }
  | { type: 'pruned'; removed: number }
  | { type: 'failed'; error: string }
  | { type: 'siem-error'; error: string };

const WORKER = new URL(`./traffic-worker${import.meta.url.endsWith('.js') ? '.js' : '.ts'}`, import.meta.url);
const FLUSH_MS = 200;
const BATCH = 1000;
/** Batches posted and not yet applied before new events are dropped. */
const MAX_IN_FLIGHT = 50;
/** Events kept without a queue id: administrators' actions and refusals (the SIEM's audit events). */
const AUDIT = new Set(['admin', 'admin-denied']);

export class TrafficQueryRefused extends Error {}

export class TrafficLog {
  /** Events dropped because the worker fell behind, not yet counted in the metric. */
  private dropped = 0;
  private batch: unknown[] = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private closed = false;
  private siemErrorAt = 0;
  /** Whether messages are recorded (trafficLog.enabled when the log was opened); else the worker only exports to the SIEM. */
  readonly recording: boolean;

  private readonly worker: Worker;
  private readonly logger: Logger;

  private constructor(worker: Worker, logger: Logger, recording: boolean) {
    this.worker = worker;
    this.recording = recording;
    this.logger = logger;
    worker.on('message', (m: WorkerReply) => {
      if (m.type === 'applied') this.inFlight--;
      else if (m.type === 'failed') logger.error({ event: 'traffic-log-error', err: m.error }, 'traffic log: a batch could not be written');
      else if (m.type === 'siem-error' && Date.now() - this.siemErrorAt > 60_000) {
        // At most one line a minute: a collector that is down must not flood the log.
        this.siemErrorAt = Date.now();
        logger.warn({ event: 'siem-error', err: m.error }, `SIEM export: ${m.error}`);
      }
      else if (m.type === 'result') {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error !== undefined) p?.reject(m.badQuery ? new TrafficQueryRefused(m.error) : new Error(m.error));
        else p?.resolve(m.value);
      }
    });
    worker.on('error', (err) => {
      logger.error({ event: 'traffic-log-error', err: err.message }, 'traffic log worker failed; traffic is no longer recorded');
      this.closed = true;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
    worker.unref();
  }

  /** Opens (or creates) the log under `dir` (a private directory in the state dir); with trafficLog off, only the SIEM export runs. */
  static open(dir: string, settings: TrafficSettings, logger: Logger): TrafficLog {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const worker = new Worker(WORKER, { workerData: { path: join(dir, 'traffic.db'), settings } });
    return new TrafficLog(worker, logger, settings.enabled);
  }

  /**
   * The tap: a pino `formatters.log` hook of the gateway's logger (public
   * pino API) sees each log object; those naming a queue id are kept.
   */
  tap(obj: Record<string, unknown>): void {
    if (this.closed || typeof obj.event !== 'string' || (typeof obj.qid !== 'string' && !AUDIT.has(obj.event))) return;
    if (this.inFlight >= MAX_IN_FLIGHT) {
      if (this.dropped++ === 0) this.logger.warn({ event: 'traffic-log-behind' }, 'traffic log: the writer fell behind; events are dropped (counted in mailgw_gateway_traffic_log_dropped_total)');
      return;
    }
    this.batch.push({ ...obj, at: Date.now() });
    if (this.batch.length >= BATCH) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  /** A logger whose every line also reaches the tap. */
  wrap(logger: Logger): Logger {
    return logger.child({}, {
      formatters: {
        log: (o: object) => {
          this.tap(o as Record<string, unknown>);
          return o;
        },
      },
    });
  }

  /** Drops since the last call (for the metric, at each scrape). */
  takeDropped(): number {
    const n = this.dropped;
    this.dropped = 0;
    return n;
  }

  configure(settings: TrafficSettings): void {
    if (!this.closed) this.worker.postMessage({ type: 'configure', settings } satisfies WorkerRequest);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.batch.length === 0 || this.closed) return;
    const events = this.batch;
    this.batch = [];
    this.inFlight++;
    try {
      this.worker.postMessage({ type: 'events', events } satisfies WorkerRequest);
    } catch {
      // Something in a log object cannot be cloned (a function): as JSON, which drops it.
      this.worker.postMessage({ type: 'events', events: JSON.stringify(events) } satisfies WorkerRequest);
    }
  }

  private ask<T>(req: { type: 'search'; query: TrafficQuery } | { type: 'timeline'; qid: string } | { type: 'close' }): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the traffic log is closed'));
    this.flush(); // what was logged before the question is part of the answer
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...req, id } as WorkerRequest);
    });
  }

  search(query: TrafficQuery): Promise<TrafficPage> {
    return this.ask({ type: 'search', query });
  }

  timeline(qid: string): Promise<(TrafficMessage & { events: TimelineEntry[] }) | null> {
    return this.ask({ type: 'timeline', qid });
  }

  /** Writes what is pending, then stops the worker. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.ask({ type: 'close' }).catch(() => undefined);
    this.closed = true;
    await this.worker.terminate();
  }
}
