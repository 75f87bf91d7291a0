/**
 * Informers that stay up: client-node's ListWatch (list, then watch from the
 * list's resourceVersion; relist on 410 Gone; reconnect after a watch ends),
 * plus what it leaves to the caller: restart with exponential backoff after
 * an error (API server down), and a watchdog that restarts a watch that has
 * been silent for too long. Every change calls `onChange(object)`.
 */
import { makeInformer, type Informer, type KubeConfig, type KubernetesObject, type KubernetesListObject, type ObjectCache } from '@kubernetes/client-node';
import type { Logger } from 'pino';

export interface WatchOptions {
  silenceMs?: number;
  maxBackoffMs?: number;
  onRestart?: (path: string) => void;
}

export class ResilientInformer<T extends KubernetesObject> {
  readonly path: string;
  private readonly informer: Informer<T> & ObjectCache<T>;
  private readonly logger: Logger;
  private readonly opts: WatchOptions;
  private backoff = 0;
  private lastActivity = Date.now();
  private watchdog: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private synced = false;
  private onSynced: (() => void)[] = [];

  constructor(kc: KubeConfig, path: string, list: () => Promise<KubernetesListObject<T>>, onChange: (o: T) => void, logger: Logger, opts: WatchOptions = {}, labelSelector?: string) {
    this.path = path;
    this.logger = logger;
    this.opts = opts;
    this.informer = makeInformer<T>(kc, path, list, labelSelector);
    const touch = (o: T) => {
      this.lastActivity = Date.now();
      this.backoff = 0;
      onChange(o);
    };
    this.informer.on('add', touch);
    this.informer.on('update', touch);
    this.informer.on('delete', touch);
    this.informer.on('connect', () => {
      this.lastActivity = Date.now();
    });
    this.informer.on('error', (err) => {
      if (this.stopped) return;
      this.backoff = Math.min(this.opts.maxBackoffMs ?? 30_000, this.backoff ? this.backoff * 2 : 250);
      this.logger.warn({ event: 'watch-error', path, err: String((err as Error)?.message ?? err), retryMs: this.backoff }, 'watch failed; restarting');
      this.scheduleRestart(this.backoff);
    });
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /**
   * Resolves once the first list has succeeded (a list refused at start, e.g.
   * 429 from a busy API server, is retried with backoff): before that the
   * cache is empty, and a reconcile would take every object for deleted.
   */
  whenSynced(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((r) => this.onSynced.push(r));
  }

  list(): readonly T[] {
    return this.informer.list();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.informer.get(name, namespace);
  }

  private scheduleRestart(ms: number): void {
    if (this.restartTimer || this.stopped) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.opts.onRestart?.(this.path);
      void this.run();
    }, ms);
  }

  private async run(): Promise<void> {
    try {
      await this.informer.start();
      this.synced = true;
      for (const r of this.onSynced.splice(0)) r();
      this.lastActivity = Date.now();
    } catch (err) {
      this.logger.warn({ event: 'watch-error', path: this.path, err: (err as Error).message }, 'list/watch failed');
      this.backoff = Math.min(this.opts.maxBackoffMs ?? 30_000, this.backoff ? this.backoff * 2 : 250);
      this.scheduleRestart(this.backoff);
    }
  }

  async start(): Promise<void> {
    await this.run();
    const silence = this.opts.silenceMs ?? 5 * 60_000;
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastActivity < silence || this.restartTimer) return;
      this.logger.warn({ event: 'watch-silent', path: this.path, silentMs: Date.now() - this.lastActivity }, 'watch silent for too long; restarting it');
      this.lastActivity = Date.now();
      void this.informer.stop().then(() => this.scheduleRestart(0));
    }, Math.max(100, Math.floor(silence / 4)));
    this.watchdog.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.informer.stop();
  }
}
