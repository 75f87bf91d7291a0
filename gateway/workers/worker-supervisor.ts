/**
 * A gateway pod with several worker processes (`mailgw gateway --workers N`):
 * the supervisor forks N workers (worker-main.ts), each a whole gateway on
 * its own state directory (worker-layout.ts) and on the same SMTP and
 * handover ports (SO_REUSEPORT: the kernel spreads connections, no proxy
 * hop). The supervisor itself carries no mail. It
 *
 * - holds the state directory's lock, and checks the ports are free before
 *   any worker binds them (SO_REUSEPORT would let a second pod share them);
 * - restarts a worker that dies, on its own spool (its recovery is the
 *   spool's crash recovery), with a backoff while it keeps dying;
 * - drains every stranded spool (a worker index that no longer runs) into
 *   the running workers through a loopback handover listener they share;
 * - speaks for the pod: the admin socket and the operations API
 *   (pod-admin.ts), /metrics (the workers' registries aggregated), /healthz,
 *   /readyz (every worker ready), config reloads (to every worker), and
 *   retirement at scale-down (every worker hands its queue over).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { AggregatorRegistry, Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { GatewayConfig } from '../../api/index.ts';
import { adminSocketPath, startAdminServer } from '../admin/admin-server.ts';
import { startOpsServer, type Authenticator } from '../admin/ops-server.ts';
import { listenOn, portError, type RetireOptions } from '../gateway.ts';
import { serveHealth } from '../metrics.ts';
import { StateLock } from '../state-lock.ts';
import { StartupError } from '../startup-error.ts';
import { podRouter, type WorkerEndpoint } from './pod-admin.ts';
import type { FromWorker, ToWorker, WorkerStart } from './worker-ipc.ts';
import { adoptOneProcessState, strandedStateDirs, workerStateDir } from './worker-layout.ts';

export interface SupervisorOptions {
  workers: number;
  host: string;
  port: number;
  stateDir: string;
  logger?: Logger | undefined;
  metrics?: { host: string; port: number } | undefined;
  ops?: { host: string; port: number; auth: Authenticator } | undefined;
  handover?: { host: string; port: number; token: string } | undefined;
  /** The state directory's lock, when the caller took it already (mailgw up). */
  lock?: StateLock | undefined;
  durable?: boolean | undefined;
  connectTimeoutMs?: number | undefined;
  /** How long a stranded spool may take to hand its messages to the running workers (default 120 s). */
  drainHandoverMs?: number | undefined;
}

const WORKER_MAIN = new URL(`./worker-main${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).pathname;

/** One worker process and what is asked of it. */
class Worker {
  readonly index: number;
  child: ChildProcess | undefined;
  running = false;
  startedAt = 0;
  restarts = 0;
  private nextId = 1;
  private readonly pending = new Map<number, (value: unknown) => void>();

  constructor(index: number) {
    this.index = index;
  }

  send(m: ToWorker): void {
    if (this.child?.connected) this.child.send(m);
  }

  answered(id: number, value: unknown): void {
    this.pending.get(id)?.(value);
    this.pending.delete(id);
  }

  /** Asks the worker; undefined when it is not running or does not answer in time. */
  ask(what: 'metrics' | 'ready', timeoutMs: number): Promise<unknown> {
    if (!this.running || !this.child?.connected) return Promise.resolve(undefined);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.pending.set(id, (v) => {
        clearTimeout(timer);
        resolve(v);
      });
      this.send({ kind: 'ask', id, what });
    });
  }

  /** Forgets what was asked of a process that is gone. */
  gone(): void {
    for (const resolve of this.pending.values()) resolve(undefined);
    this.pending.clear();
    this.running = false;
    this.child = undefined;
  }
}

export class Supervisor {
  private config: GatewayConfig;
  private readonly o: SupervisorOptions;
  private readonly logger: Logger;
  private readonly lock: StateLock;
  private readonly workers: Worker[];
  private readonly token = randomBytes(24).toString('base64url');
  private readonly registry = new Registry();
  private readonly restartsMetric: Counter;
  private readonly rejectedReloads: Counter;
  private smtpPort = 0;
  private localHandoverPort = 0;
  private handoverPort = 0;
  private stopping = false;
  private admin: HttpServer | undefined;
  private ops: HttpServer | undefined;
  private metricsServer: Server | undefined;
  private draining: Promise<void> = Promise.resolve();

  private constructor(config: GatewayConfig, o: SupervisorOptions, logger: Logger, lock: StateLock) {
    this.config = config;
    this.o = o;
    this.logger = logger;
    this.lock = lock;
    this.workers = Array.from({ length: o.workers }, (_, i) => new Worker(i));
    collectDefaultMetrics({ register: this.registry, prefix: 'mailgw_gateway_supervisor_process_' });
    const workers = this.workers;
    new Gauge({
      name: 'mailgw_gateway_workers', help: 'Worker processes of the pod by state (running, configured).', labelNames: ['state'], registers: [this.registry],
      collect() {
        this.set({ state: 'configured' }, workers.length);
        this.set({ state: 'running' }, workers.filter((w) => w.running).length);
      },
    });
    this.restartsMetric = new Counter({ name: 'mailgw_gateway_worker_restarts_total', help: 'Worker processes restarted after they died.', registers: [this.registry] });
    this.rejectedReloads = new Counter({ name: 'mailgw_gateway_config_reloads_total', help: 'Config reloads by result (applied, rejected); a pod with several workers shows its most.', labelNames: ['result'], aggregator: 'max', registers: [this.registry] });
  }

  /** The pod's logger (for config-watch and the stop). */
  get log(): Logger {
    return this.logger;
  }

  static async start(config: GatewayConfig, o: SupervisorOptions): Promise<Supervisor> {
    const logger = o.logger ?? pino({ base: { gateway: `${config.gateway.namespace}/${config.gateway.name}`, supervisor: true } });
    const lock = o.lock ?? await StateLock.acquire(o.stateDir);
    const s = new Supervisor(config, o, logger, lock);
    try {
      await s.open();
    } catch (err) {
      await s.shutdown();
      throw err;
    }
    return s;
  }

  private async open(): Promise<void> {
    const o = this.o;
    const moved = await adoptOneProcessState(o.stateDir, o.workers);
    if (moved) this.logger.info({ event: 'state-layout', to: moved }, `the one-process spool, backups and traffic log moved to ${moved}`);
    // Nobody else may hold the ports: SO_REUSEPORT would let a second pod share them silently.
    this.smtpPort = await freePort(o.host, o.port, 'SMTP');
    if (o.handover) this.handoverPort = await freePort(o.handover.host, o.handover.port, 'handover');
    const router = podRouter(() => this.endpoints(), () => this.config);
    if (o.metrics) {
      this.metricsServer = await serveHealth(o.metrics.host, o.metrics.port, () => this.scrape(), () => this.readiness())
        .catch((err: Error) => { throw portError(err, o.metrics!, 'metrics'); });
    }
    if (o.ops) {
      this.ops = await startOpsServer(o.ops.host, o.ops.port, router, o.ops.auth, () => this.logger)
        .catch((err: Error) => { throw portError(err, o.ops!, 'the operations API'); });
    }
    this.admin = await startAdminServer(adminSocketPath(o.stateDir), router, () => this.logger);
    // Worker 0 picks the loopback handover port; the others share it.
    await this.launch(this.workers[0]!);
    await Promise.all(this.workers.slice(1).map((w) => this.launch(w)));
    this.logger.info({ event: 'listening', host: o.host, port: this.smtpPort, workers: o.workers, hostname: this.config.hostname }, `mailgw listening on ${o.host}:${this.smtpPort} with ${o.workers} workers`);
    if (o.handover) this.logger.info({ event: 'handover-listening', host: o.handover.host, port: this.handoverPort, workers: o.workers }, `handover listener on ${o.handover.host}:${this.handoverPort}`);
    for (const [event, what, a] of [['metrics-listening', 'metrics and health', this.metricsAddress], ['ops-listening', 'operations API', this.opsAddress]] as const) {
      if (a) this.logger.info({ event, host: a.host, port: a.port }, `${what} on ${a.host}:${a.port}`);
    }
    const stranded = strandedStateDirs(o.stateDir, o.workers);
    if (stranded.length > 0) this.draining = this.drainAll(stranded);
  }

  private endpoints(): WorkerEndpoint[] {
    return this.workers.map((w) => ({ index: w.index, socket: w.running ? adminSocketPath(workerStateDir(this.o.stateDir, w.index)) : undefined }));
  }

  private startMessage(index: number, extra: Partial<WorkerStart> = {}): WorkerStart {
    const o = this.o;
    return {
      kind: 'start', index, workers: o.workers, config: this.config, stateDir: workerStateDir(o.stateDir, index),
      host: o.host, port: this.smtpPort, handover: o.handover && { ...o.handover, port: this.handoverPort }, localHandover: { port: this.localHandoverPort, token: this.token },
      durable: o.durable, connectTimeoutMs: o.connectTimeoutMs, ...extra,
    };
  }

  private spawn(): ChildProcess {
    return fork(WORKER_MAIN, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: process.execArgv });
  }

  /** Forks a worker and waits until it serves; at first start a failure fails the pod's start. */
  private launch(w: Worker, first = true): Promise<void> {
    const child = this.spawn();
    w.child = child;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      child.on('message', (m: FromWorker) => {
        if (m.kind === 'answer') w.answered(m.id, m.value);
        else if (m.kind === 'started') {
          w.running = true;
          w.startedAt = Date.now();
          if (this.localHandoverPort === 0) this.localHandoverPort = m.localHandoverPort;
          settled = true;
          resolve();
        } else if (m.kind === 'failed' && !settled) {
          settled = true;
          reject(new StartupError(`worker ${w.index}: ${m.error}`));
        }
      });
      child.on('exit', (code, signal) => {
        const wasRunning = w.running;
        w.gone();
        if (!settled) {
          settled = true;
          reject(new StartupError(`worker ${w.index} exited while starting (${signal ?? `code ${code}`})`));
          if (!first) this.restartLater(w);
          return;
        }
        if (this.stopping) return;
        this.logger.error({ event: 'worker-exited', worker: w.index, code, signal, ran: wasRunning ? Date.now() - w.startedAt : 0 }, `worker ${w.index} died (${signal ?? `code ${code}`}); restarting it on its own spool`);
        this.restartLater(w);
      });
      child.send(this.startMessage(w.index));
    });
  }

  private restartLater(w: Worker): void {
    if (this.stopping) return;
    // Quick again after a worker that ran a while; backing off to 30 s while it keeps dying at once.
    if (w.startedAt && Date.now() - w.startedAt > 60_000) w.restarts = 0;
    const delay = Math.min(30_000, 500 * 2 ** Math.min(w.restarts, 6));
    w.restarts++;
    this.restartsMetric.inc();
    setTimeout(() => {
      if (this.stopping) return;
      this.launch(w, false).then(
        () => this.logger.info({ event: 'worker-restarted', worker: w.index, pid: w.child?.pid }, `worker ${w.index} restarted`),
        (err: Error) => this.logger.error({ event: 'worker-restart-failed', worker: w.index, err: err.message }, `worker ${w.index} could not start again`),
      );
    }, delay).unref();
  }

  /** Each stranded spool, one after the other, handed to the running workers over the loopback handover listener. */
  private async drainAll(dirs: string[]): Promise<void> {
    for (const dir of dirs) {
      if (this.stopping) return;
      const result = await this.drain(dir).catch((err: Error) => ({ moved: 0, left: -1, error: err.message }));
      const ok = result.left === 0;
      if (ok) await rm(join(dir, 'spool'), { recursive: true, force: true }); // its backups and traffic history stay on disk
      (ok ? this.logger.info.bind(this.logger) : this.logger.error.bind(this.logger))(
        { event: 'stranded-drained', dir, ...result },
        ok ? `stranded spool ${dir}: ${result.moved} message(s) handed to the running workers` : `stranded spool ${dir}: not emptied; tried again at the next start`,
      );
    }
  }

  private drain(dir: string): Promise<{ moved: number; left: number; error?: string }> {
    const child = this.spawn();
    return new Promise((resolve) => {
      let result: { moved: number; left: number; error?: string } = { moved: 0, left: -1, error: 'the drain process ended without an answer' };
      child.on('message', (m: FromWorker) => {
        if (m.kind === 'drained') result = { moved: m.moved, left: m.left };
        if (m.kind === 'failed') result = { moved: 0, left: -1, error: m.error };
      });
      child.on('exit', () => resolve(result));
      child.send(this.startMessage(-1, {
        stateDir: dir, drain: { peers: [{ host: '127.0.0.1', port: this.localHandoverPort }], handoverMs: this.o.drainHandoverMs ?? 120_000 },
      }));
    });
  }

  address(): { host: string; port: number } {
    return { host: this.o.host, port: this.smtpPort };
  }

  get metricsAddress(): { host: string; port: number } | undefined {
    const a = this.metricsServer?.address() as AddressInfo | undefined;
    return a ? { host: a.address, port: a.port } : undefined;
  }

  get opsAddress(): { host: string; port: number } | undefined {
    const a = this.ops?.address() as AddressInfo | undefined;
    return a ? { host: a.address, port: a.port } : undefined;
  }

  /** The workers' process ids by index (undefined while one is down). */
  pids(): (number | undefined)[] {
    return this.workers.map((w) => (w.running ? w.child?.pid : undefined));
  }

  /** Stranded spools being drained (resolves when done). */
  drained(): Promise<void> {
    return this.draining;
  }

  async readiness(): Promise<string | undefined> {
    if (this.stopping) return 'shutting down';
    const answers = await Promise.all(this.workers.map(async (w) => [w, await w.ask('ready', 5000)] as const));
    for (const [w, a] of answers) {
      if (a === undefined) return `worker ${w.index} is not running`;
      if (a !== 'ready') return `worker ${w.index}: ${String(a)}`;
    }
    return undefined;
  }

  private async scrape(): Promise<{ contentType: string; body: string }> {
    const answers = await Promise.all(this.workers.map((w) => w.ask('metrics', 5000)));
    type Json = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;
    const all: Json[] = [await this.registry.getMetricsAsJSON(), ...answers.filter((a): a is Json => Array.isArray(a))];
    const aggregated = AggregatorRegistry.aggregate(all);
    return { contentType: aggregated.contentType, body: await aggregated.metrics() };
  }

  /** A new config for every worker (each takes its share of the limits, and logs whether it applied it). */
  reload(config: GatewayConfig, info: { loadMs?: number } = {}): void {
    this.config = config;
    for (const w of this.workers) w.send({ kind: 'reload', config, loadMs: info.loadMs });
  }

  rejected(): void {
    this.rejectedReloads.inc({ result: 'rejected' });
  }

  /** Stops every worker (each retiring to the peers when given), then the pod's own listeners; resolves with what no peer took. */
  async close(retire?: RetireOptions): Promise<{ left: number }> {
    this.stopping = true;
    const left = await Promise.all(this.workers.map((w) => new Promise<number>((resolve) => {
      const child = w.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return resolve(0);
      let n = 0;
      child.on('message', (m: FromWorker) => {
        if (m.kind === 'stopped') n = m.left;
      });
      child.once('exit', () => resolve(n));
      w.send({ kind: 'stop', ...(retire ? { retire } : {}) });
    })));
    await this.draining;
    await this.shutdown();
    return { left: left.reduce((a, b) => a + b, 0) };
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    for (const w of this.workers) if (w.child && w.child.exitCode === null) w.child.kill('SIGKILL');
    this.ops?.closeAllConnections();
    await Promise.all([this.admin, this.ops, this.metricsServer].map((s) => (s ? new Promise<void>((r) => s.close(() => r())) : undefined)));
    await this.lock.release();
  }
}

/** Binds and lets go of host:port without SO_REUSEPORT: fails if anyone holds it; answers the port (port 0: a free one). */
async function freePort(host: string, port: number, what: string): Promise<number> {
  const probe = createServer();
  await listenOn(probe, host, port, what);
  const got = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return got;
}
