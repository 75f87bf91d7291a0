/**
 * The gateway process: opens (and recovers) the spool, builds the runtime
 * from a rendered config, and listens for SMTP.
 *
 * Interface: Gateway.start(config, options) → Gateway with address() and
 * close(). close() stops accepting, lets sessions in flight end (bounded),
 * then closes the spool; close({ handover }) — a gateway leaving for good —
 * first tries to deliver what is queued, then hands the rest to peers
 * (gateway/handover/).
 */
import type { AddressInfo, Server } from 'node:net';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import type { GatewayConfig } from '../api/index.ts';
import type { Resolver } from 'node:dns/promises';
import { createResolver } from './dns-resolver.ts';
import { ClientLimits } from './listener/client-limits.ts';
import { createListener } from './listener/listener.ts';
import { buildTables, type Runtime } from './runtime.ts';
import { createSmtpServer } from './smtpd/smtpd-server.ts';
import type { GatewaySmtpServer } from './smtpd/smtp-server-adapter.ts';
import { Spool } from './spool/spool.ts';
import { RecipientVerifier } from './verify/rcpt-verify.ts';
import type { Server as HttpServer } from 'node:http';
import { adminSocketPath, startAdminServer } from './admin/admin-server.ts';
import { configView, route, type AdminTargets } from './admin/admin-routes.ts';
import { startOpsServer, type Authenticator } from './admin/ops-server.ts';
import { ConnectionCache } from './delivery/smtp-client.ts';
import { QueueManager } from './queue/queue-manager.ts';
import { QueueAdmin } from './queue/queue-admin.ts';
import { CertWatch } from './cert-watch.ts';
import { MtaSts } from './routing/mta-sts.ts';
import { TrafficLog, trafficSettings } from './traffic/traffic-log.ts';
import { readSecret } from './delivery/smtp-client.ts';
import { buildEnvelope, recipientOf } from './inject/envelope-build.ts';
import { BackupStore } from './backup/backup-store.ts';
import { newQueueId } from './queue-id.ts';
import { GatewayMetrics } from './metrics.ts';
import { scannersReachable } from './protection/scanner-health.ts';
import { startHandoverServer, type HandoverServer } from './handover/handover-server.ts';
import { handOverQueue, type HandoverResult, type Peer } from './handover/handover-send.ts';
import { StateLock } from './state-lock.ts';
import { selfMatcher } from './self-address.ts';
import { MemoryBudget } from './memory-budget.ts';
import { IncomingFile } from './spool/incoming.ts';
import { Injector } from './inject/injector.ts';
import { MessageNormalizer } from './inject/message-normalize.ts';
import { StartupError } from './startup-error.ts';

export interface GatewayOptions {
  host: string;
  port: number;
  stateDir: string;
  logger?: Logger;
  /** fsync the spool (default true). */
  durable?: boolean;
  /** Run the queue manager (default true); tests of the receive side alone turn it off. */
  deliver?: boolean;
  /** Time limit for connecting to a next hop and for its greeting (default 30 s). */
  connectTimeoutMs?: number;
  /** Where to serve /metrics, /healthz and /readyz (not served when absent). */
  metrics?: { host: string; port: number } | undefined;
  /** The handover listener, where retiring peers hand over their queues (not served when absent). */
  handover?: { host: string; port: number; token: string } | undefined;
  /** The state directory's lock, when the caller took it already (mailgw up, before writing TLS files there); the gateway releases it when it stops. */
  lock?: StateLock | undefined;
  /** How often the mounted certificate files are looked at for a renewal (default 10 s). */
  certPollMs?: number | undefined;
  /** The HTTPS port of MTA-STS policy hosts: 443; tests serve policies on a free port. */
  mtaStsPort?: number | undefined;
  /** The operations API (admin/ops-server.ts), with who may do what (not served when absent). */
  ops?: { host: string; port: number; auth: Authenticator } | undefined;
  /** One of a pod's worker processes (workers/): the SMTP and handover ports are shared with the others (SO_REUSEPORT), the kernel spreads connections. */
  reusePort?: boolean | undefined;
  /** A handover listener on 127.0.0.1 (port 0: any free one), where the pod drains a spool no worker owns any more (workers/worker-layout.ts). */
  localHandover?: { port: number; token: string } | undefined;
}

/** MTA-STS policies looked up with the config's resolver, fetched trusting the system roots and tls.outbound.ca. */
function mtaStsFor(config: GatewayConfig, resolver: Resolver, port: number | undefined): MtaSts {
  const caFile = config.tls.outbound.caFile;
  return new MtaSts({ resolver, port, timeoutMs: Math.max(config.resolver.timeoutMs, 5000), ...(caFile ? { ca: () => readSecret(caFile) } : {}) });
}

/** The listeners, bound before the spool is opened. */
interface Bound {
  smtp: Server;
  metrics?: Server | undefined;
  handover?: HandoverServer | undefined;
  localHandover?: HandoverServer | undefined;
  ops?: HttpServer | undefined;
}

export function portError(err: Error, at: { host: string; port: number }, what: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new StartupError(`cannot listen for ${what} on ${at.host}:${at.port}: the address is already in use`);
  if (code === 'EACCES') return new StartupError(`cannot listen for ${what} on ${at.host}:${at.port}: permission denied (ports below 1024 need privileges)`);
  if (code === 'EADDRNOTAVAIL') return new StartupError(`cannot listen for ${what} on ${at.host}:${at.port}: no such local address`);
  return err;
}

export function listenOn(server: Server, host: string, port: number, what: string, reusePort = false): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(portError(err, { host, port }, what)));
    server.listen({ port, host, reusePort }, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
}

/** How a gateway that leaves for good empties its spool. */
export interface RetireOptions {
  peers: Peer[];
  token: string;
  /** Time to try delivering the queue directly first. */
  drainMs: number;
  /** Time for handing the rest over. */
  handoverMs: number;
}

export class Gateway {
  private current: { rt: Runtime; smtp: GatewaySmtpServer };
  /** Every smtp-server built (one per config generation); closed together at shutdown. */
  private readonly servers = new Set<GatewaySmtpServer>();
  /** Renewed certificates, picked up from the mounted Secret (cert-watch.ts). */
  certs: CertWatch | undefined;
  private readonly server: Server;
  private readonly admin: HttpServer;
  private readonly options: GatewayOptions;
  private metricsServer: Server | undefined;
  private handoverServer: HandoverServer | undefined;
  private localHandover: HandoverServer | undefined;
  private opsServer: HttpServer | undefined;
  private stopping = false;
  private scannerCheck: { at: number; problem: string | undefined } = { at: 0, problem: undefined };

  private readonly lock: StateLock;

  private constructor(rt: Runtime, options: GatewayOptions, admin: HttpServer, bound: Bound, lock: StateLock) {
    this.options = options;
    this.admin = admin;
    this.lock = lock;
    this.current = { rt, smtp: this.smtpFor(rt) };
    this.server = bound.smtp;
    this.metricsServer = bound.metrics;
    this.handoverServer = bound.handover;
    this.localHandover = bound.localHandover;
    this.opsServer = bound.ops;
  }

  /** What the admin socket and the operations API act on. */
  targets(): AdminTargets {
    const rt = this.runtime;
    return {
      queue: rt.queueAdmin, backup: { store: rt.backup, release: (id, to) => this.releaseBackup(id, to) }, traffic: rt.traffic,
      config: () => configView(this.runtime.config),
      status: async () => {
        const current = this.runtime;
        const q = current.queueAdmin.stats();
        return {
          hostname: current.config.hostname, ready: (await this.readiness()) ?? 'ready',
          queue: { byState: q.byState, oldestSeconds: q.oldestSeconds },
          memoryBudget: { used: current.memory.used, limit: current.config.limits.memoryBudget },
          configGeneration: (await current.metrics.configGeneration.get()).values[0]?.value ?? 0,
          trafficLog: current.traffic?.recording ?? false,
        };
      },
    };
  }

  /** Address of the operations API, when it runs. */
  get opsAddress(): { host: string; port: number } | undefined {
    const a = this.opsServer?.address() as AddressInfo | undefined;
    return a ? { host: a.address, port: a.port } : undefined;
  }

  /** Port of the loopback handover listener (options.localHandover), when it runs. */
  get localHandoverPort(): number | undefined {
    return this.localHandover?.port;
  }

  /** Address of the metrics/health listener, when it runs. */
  get metricsAddress(): { host: string; port: number } | undefined {
    const a = this.metricsServer?.address() as AddressInfo | undefined;
    return a ? { host: a.address, port: a.port } : undefined;
  }

  /**
   * Readiness: the spool is writable and the scanners the config requires
   * answer (checked at most every 5 s). Undefined when ready, else why not.
   */
  async readiness(): Promise<string | undefined> {
    if (this.stopping) return 'shutting down';
    const rt = this.runtime;
    const spool = rt.spool.health();
    if (spool) return spool;
    if (Date.now() - this.scannerCheck.at > 5000) {
      this.scannerCheck = { at: Date.now(), problem: await scannersReachable(rt.config) };
    }
    return this.scannerCheck.problem;
  }

  /** The logger of the running config (it feeds the traffic log). */
  get log(): Logger {
    return this.runtime.logger;
  }

  /** Counts a config version that was refused before it reached reload(). */
  rejected(): void {
    this.runtime.metrics.configReloads.inc({ result: 'rejected' });
  }

  /** The runtime new connections get (config, tables, services). */
  get runtime(): Runtime {
    return this.current.rt;
  }

  private smtpFor(rt: Runtime): GatewaySmtpServer {
    const smtp = createSmtpServer(rt);
    this.servers.add(smtp);
    return smtp;
  }

  /**
   * Order matters: the state directory's lock first (a second gateway on it
   * stops here, having touched nothing), then every listener is bound (a
   * busy port stops here, before the spool is opened), then the spool is
   * recovered and the admin socket created; listeners serve once all is ready.
   */
  static async start(config: GatewayConfig, options: GatewayOptions): Promise<Gateway> {
    const logger = options.logger ?? pino({ base: { gateway: `${config.gateway.namespace}/${config.gateway.name}` } });
    const lock = options.lock ?? await StateLock.acquire(options.stateDir);
    const ready = Promise.withResolvers<void>();
    ready.promise.catch(() => undefined); // a failed start closes the listeners; nobody waits
    let gw: Gateway | undefined;
    const metrics = new GatewayMetrics();
    const bound: Bound = { smtp: createListener(() => gw!.current, ready.promise) };
    try {
      const reusePort = options.reusePort ?? false;
      await listenOn(bound.smtp, options.host, options.port, 'SMTP', reusePort);
      if (options.handover) {
        bound.handover = await startHandoverServer(() => gw?.runtime, { ...options.handover, reusePort }, options.handover.token, config.hostname)
          .catch((err: Error) => { throw portError(err, options.handover!, 'handover'); });
      }
      if (options.localHandover) {
        const at = { host: '127.0.0.1', port: options.localHandover.port, reusePort: true };
        bound.localHandover = await startHandoverServer(() => gw?.runtime, at, options.localHandover.token, config.hostname)
          .catch((err: Error) => { throw portError(err, at, 'the local handover'); });
      }
      if (options.metrics) {
        bound.metrics = await metrics.serve(options.metrics.host, options.metrics.port, () => (gw ? gw.readiness() : Promise.resolve('starting')))
          .catch((err: Error) => { throw portError(err, options.metrics!, 'metrics'); });
      }
      if (options.ops) {
        bound.ops = await startOpsServer(options.ops.host, options.ops.port, async (r, log) => (gw ? route(gw.targets(), r, log) : undefined), options.ops.auth, () => gw?.runtime.logger ?? logger)
          .catch((err: Error) => { throw portError(err, options.ops!, 'the operations API'); });
      }
      gw = await Gateway.open(config, options, logger, metrics, bound, lock);
    } catch (err) {
      ready.reject(err);
      bound.smtp.close();
      await bound.handover?.close();
      await bound.localHandover?.close();
      bound.metrics?.close();
      bound.ops?.close();
      await lock.release();
      throw err;
    }
    ready.resolve();
    const addr = gw.address();
    logger.info({
      event: 'listening', host: addr.host, port: addr.port, hostname: config.hostname, integration: config.integration,
      localDomains: config.localDomains.length, trustedNetworks: config.trustedNetworks.length,
      recipientVerification: config.recipientVerification.mode,
    }, `mailgw listening on ${addr.host}:${addr.port}`);
    if (bound.handover) logger.info({ event: 'handover-listening', host: options.handover!.host, port: bound.handover.port }, `handover listener on ${options.handover!.host}:${bound.handover.port}`);
    if (bound.metrics) {
      const a = bound.metrics.address() as AddressInfo;
      logger.info({ event: 'metrics-listening', host: a.address, port: a.port }, `metrics and health on ${a.address}:${a.port}`);
    }
    if (bound.ops) {
      const a = bound.ops.address() as AddressInfo;
      logger.info({ event: 'ops-listening', host: a.address, port: a.port }, `operations API on ${a.address}:${a.port}`);
    }
    if (options.deliver !== false) gw.runtime.queue.start();
    return gw;
  }

  /** Recovers the spool, builds the runtime and creates the admin socket (the lock is held, the listeners bound). */
  private static async open(config: GatewayConfig, options: GatewayOptions, logger: Logger, metrics: GatewayMetrics, bound: Bound, lock: StateLock): Promise<Gateway> {
    const spool = await Spool.open(join(options.stateDir, 'spool'), { durable: options.durable ?? true });
    const r = spool.recovery;
    logger.info({
      event: 'spool-recovered', messages: r.messages.size, qids: [...r.messages.keys()].slice(0, 1000),
      damagedRanges: r.damagedRanges.length, partials: r.partials.length, mismatched: r.mismatched,
    }, `spool opened: ${r.messages.size} queued message(s) recovered`);
    if (r.damagedRanges.length > 0 || r.partials.length > 0) {
      logger.warn({ event: 'spool-corrupt', damagedRanges: r.damagedRanges, partials: r.partials }, 'unacknowledged or damaged spool data moved to spool/corrupt');
    }
    if (r.pinned.length > 0) {
      logger.warn({ event: 'spool-evidence-kept', segments: r.pinned }, 'the spool filesystem is full: damaged or unacknowledged data could not be copied to spool/corrupt; its segments are kept until a restart with free space');
    }
    await IncomingFile.prepare(join(options.stateDir, 'incoming'));
    // The traffic log taps every log line that names a queue id (traffic/traffic-log.ts); from here on the runtime logs through it.
    const settings = trafficSettings(config);
    const traffic = settings.enabled || settings.siem ? TrafficLog.open(join(options.stateDir, 'traffic'), settings, logger) : undefined;
    const log = traffic ? traffic.wrap(logger) : logger;
    const tables = buildTables(config);
    const resolver = createResolver(config.resolver);
    const isSelf = selfMatcher([bound.smtp.address() as AddressInfo].map((a) => ({ host: a.address, port: a.port })));
    // The injector hands what it commits to the queue manager, which bounces through the injector.
    const injector = new Injector(spool, (m) => queue.enqueue(m));
    const queue: QueueManager = new QueueManager({
      config, domains: tables.domains, resolver, spool, logger: log, cache: new ConnectionCache(), metrics,
      perDestination: new Map(), perDestinationLimit: 20, connectTimeoutMs: options.connectTimeoutMs ?? 30_000, isSelf, injector,
      mtaSts: mtaStsFor(config, resolver, options.mtaStsPort),
    });
    const rt: Runtime = {
      config,
      ...tables,
      limits: new ClientLimits(config.limits),
      spool,
      injector,
      verifier: new RecipientVerifier(config, resolver, Date.now, isSelf),
      isSelf,
      queue,
      queueAdmin: new QueueAdmin(spool, queue, log),
      resolver,
      backup: new BackupStore(join(options.stateDir, 'backup'), { maxSize: config.backup.maxSize, retentionMs: config.backup.retentionMs }),
      incomingDir: join(options.stateDir, 'incoming'),
      memory: new MemoryBudget(config.limits.memoryBudget, (used, limit) => {
        metrics.memoryBudget.set({ state: 'used' }, used);
        metrics.memoryBudget.set({ state: 'limit' }, limit);
      }),
      metrics,
      traffic,
      logger: log,
    };
    const ref: { gw?: Gateway } = {};
    let admin: HttpServer;
    try {
      admin = await startAdminServer(adminSocketPath(options.stateDir), async (r, l) => (ref.gw ? route(ref.gw.targets(), r, l) : undefined), () => log);
    } catch (err) {
      await spool.close();
      await traffic?.close();
      throw err;
    }
    const gw = new Gateway(rt, options, admin, bound, lock);
    gw.certs = new CertWatch({
      config: () => gw.current.rt.config,
      // The listener hands new connections to the current server: its next handshakes use the new pair.
      apply: (ctx) => gw.current.smtp.updateSecureContext({ key: ctx.key, cert: ctx.cert, ...(ctx.ca ? { ca: ctx.ca } : {}) }),
    }, metrics, log);
    gw.certs.start(options.certPollMs ?? 10_000);
    ref.gw = gw;
    metrics.onScrape = () => {
      const s = gw.runtime.queueAdmin.stats();
      for (const [state, n] of Object.entries(s.byState)) metrics.queue.set({ state }, n);
      metrics.oldest.set(s.oldestSeconds);
      metrics.backlog.set(s.backlogSeconds);
      const dropped = gw.runtime.traffic?.takeDropped() ?? 0;
      if (dropped > 0) metrics.trafficDropped.inc(dropped);
    };
    return gw;
  }

  /**
   * Applies a new config live: new connections get it at once (their own
   * smtp-server with the new hostname, limits and TLS files), sessions in
   * flight finish under the config they began with, delivery routes by the
   * new one from its next attempt. The spool, the queue and the connection
   * counts carry over. Throws, changing nothing, if the new config cannot be
   * built (e.g. a certificate file is unreadable).
   */
  reload(config: GatewayConfig, info: { loadMs?: number } = {}): void {
    const started = performance.now();
    const old = this.current.rt;
    const tables = buildTables(config);
    const resolver = createResolver(config.resolver);
    const rt: Runtime = { ...old, config, ...tables, resolver, verifier: new RecipientVerifier(config, resolver, Date.now, old.isSelf) };
    old.backup.setLimits({ maxSize: config.backup.maxSize, retentionMs: config.backup.retentionMs });
    old.traffic?.configure(trafficSettings(config)); // switching the traffic log, or the worker, on or off takes a restart
    const smtp = createSmtpServer(rt); // throws on unreadable TLS files: nothing changed yet
    for (const s of this.servers) if (s.connections.size === 0) this.servers.delete(s); // older generations with nobody left
    this.servers.add(smtp);
    old.limits.update(config.limits);
    old.memory.setLimit(config.limits.memoryBudget);
    old.queue.reconfigure({ config, domains: tables.domains, resolver, mtaSts: mtaStsFor(config, resolver, this.options.mtaStsPort) });
    this.current = { rt, smtp };
    rt.metrics.configReloads.inc({ result: 'applied' });
    rt.metrics.configGeneration.inc();
    this.scannerCheck.at = 0;
    rt.logger.info({
      event: 'config-reloaded', localDomains: config.localDomains.length, trustedNetworks: config.trustedNetworks.length,
      ...info, swapMs: Math.round(performance.now() - started),
      relayHost: config.relayHost ? `${config.relayHost.host}:${config.relayHost.port}` : null, recipientVerification: config.recipientVerification.mode,
    }, 'new config applied');
  }

  /**
   * Re-queues a backed-up original, as it arrived, to its recipients or to
   * `to`; it is not scanned again (an administrator released it).
   */
  async releaseBackup(id: string, to?: string): Promise<string | undefined> {
    const rt = this.runtime;
    const meta = await rt.backup.get(id);
    if (!meta) return undefined;
    const rcpts = to ? [to] : meta.to;
    if (rcpts.length === 0) return undefined;
    const qid = newQueueId();
    const entry = rt.injector.open(qid);
    // Streamed, and its hops counted: a released message that went round too often is bounced, not sent.
    const counter = new MessageNormalizer(rt.config.hostname);
    try {
      for await (const chunk of rt.backup.stream(id)) {
        const wait = entry.write(counter.push(chunk));
        if (wait) await wait;
      }
      void entry.write(counter.end());
    } catch (err) {
      entry.abort();
      throw err;
    }
    await entry.commit(buildEnvelope({
      hops: counter.hops, id: qid, sessionId: `backup-${id}`,
      client: { address: meta.client, port: 0, helo: rt.config.hostname, tls: false },
      mailFrom: meta.from, rcptTo: rcpts.map((address) => recipientOf(address, rt.domains)),
    }));
    rt.logger.info({ event: 'backup-released', backupId: id, qid, originalQid: meta.qid, to: rcpts }, `backup ${id} released as ${qid}`);
    return qid;
  }

  address(): { host: string; port: number } {
    const a = this.server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  /**
   * Graceful stop: no new connections, sessions in flight may finish (bounded
   * by smtp-server's close timeout, then 421), deliveries in flight may end
   * (bounded), then the spool is closed. The queue stays for the next start.
   */
  async close(retire?: RetireOptions): Promise<HandoverResult | undefined> {
    this.stopping = true;
    this.certs?.stop();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const smtp of this.servers) smtp.close(() => undefined);
    });
    let result: HandoverResult | undefined;
    if (retire) result = await this.retire(retire);
    else await this.runtime.queue.stop();
    if (this.handoverServer) await this.handoverServer.close();
    if (this.localHandover) await this.localHandover.close();
    await new Promise<void>((resolve) => this.admin.close(() => resolve()));
    if (this.metricsServer) await new Promise<void>((resolve) => this.metricsServer!.close(() => resolve()));
    if (this.opsServer) {
      this.opsServer.closeAllConnections();
      await new Promise<void>((resolve) => this.opsServer!.close(() => resolve()));
    }
    await this.runtime.traffic?.close();
    await this.runtime.spool.close();
    await this.lock.release();
    return result;
  }

  /**
   * Leaving for good: every queued message gets one more delivery attempt
   * now (bounded by drainMs), then what is left goes to the peers' handover
   * listeners (bounded by handoverMs). What no peer takes stays in the spool.
   */
  private async retire(o: RetireOptions): Promise<HandoverResult> {
    const { queue, queueAdmin, spool, logger } = this.runtime;
    const queued = spool.size;
    logger.info({ event: 'retiring', queued, peers: o.peers.map((p) => `${p.host}:${p.port}`), drainMs: o.drainMs, handoverMs: o.handoverMs }, `leaving for good: delivering ${queued} queued message(s), then handing the rest over`);
    await queueAdmin.flush();
    const drainEnd = Date.now() + o.drainMs;
    while (spool.size > 0 && queue.busy() && Date.now() < drainEnd) await new Promise((r) => setTimeout(r, 50));
    await queue.stop(Math.max(1000, drainEnd - Date.now()));
    const delivered = queued - spool.size;
    const result = spool.size > 0 ? await handOverQueue(this.runtime, o.peers, o.token, Date.now() + o.handoverMs) : { moved: 0, left: 0 };
    const log = result.left > 0 ? logger.error.bind(logger) : logger.info.bind(logger);
    log({ event: 'retired', delivered, handedOver: result.moved, left: result.left }, result.left > 0
      ? `${result.left} message(s) could not be handed over and stay in the spool volume`
      : `queue emptied: ${delivered} delivered, ${result.moved} handed over`);
    return result;
  }
}
