/**
 * The gateway process: opens (and recovers) the spool, builds the runtime
 * from a rendered config, and listens for SMTP.
 *
 * Interface: Gateway.start(config, options) → Gateway with address() and
 * close(). close() stops accepting, lets sessions in flight end (bounded),
 * then closes the spool.
 */
import type { AddressInfo, Server } from 'node:net';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import type { GatewayConfig } from '../api/index.ts';
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
import { ConnectionCache } from './delivery/smtp-client.ts';
import { QueueManager } from './queue/queue-manager.ts';

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
}

export class Gateway {
  readonly runtime: Runtime;
  private readonly server: Server;
  private readonly smtp: GatewaySmtpServer;
  private readonly admin: HttpServer;

  private constructor(runtime: Runtime, server: Server, smtp: GatewaySmtpServer, admin: HttpServer) {
    this.runtime = runtime;
    this.server = server;
    this.smtp = smtp;
    this.admin = admin;
  }

  static async start(config: GatewayConfig, options: GatewayOptions): Promise<Gateway> {
    const logger = options.logger ?? pino({ base: { gateway: `${config.gateway.namespace}/${config.gateway.name}` } });
    const spool = await Spool.open(join(options.stateDir, 'spool'), { durable: options.durable ?? true });
    const r = spool.recovery;
    logger.info({
      event: 'spool-recovered', messages: r.messages.size, qids: [...r.messages.keys()].slice(0, 1000),
      damagedRanges: r.damagedRanges.length, partials: r.partials.length, mismatched: r.mismatched,
    }, `spool opened: ${r.messages.size} queued message(s) recovered`);
    if (r.damagedRanges.length > 0 || r.partials.length > 0) {
      logger.warn({ event: 'spool-corrupt', damagedRanges: r.damagedRanges, partials: r.partials }, 'unacknowledged or damaged spool data moved to spool/corrupt');
    }
    const tables = buildTables(config);
    const resolver = createResolver(config.resolver);
    const queue = new QueueManager({
      config, domains: tables.domains, resolver, spool, logger, cache: new ConnectionCache(),
      perDestination: new Map(), perDestinationLimit: 20, connectTimeoutMs: options.connectTimeoutMs ?? 30_000,
    });
    const runtime: Runtime = {
      config,
      ...tables,
      limits: new ClientLimits(config.limits),
      spool,
      verifier: new RecipientVerifier(config, resolver),
      queue,
      logger,
    };
    const admin = await startAdminServer(adminSocketPath(options.stateDir), queue, logger);
    const smtp = createSmtpServer(() => runtime);
    const server = createListener(() => runtime, smtp);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = config.authentication;
    const p = config.protection;
    const configured = [a.spf && 'SPF', a.dkim && 'DKIM', a.dmarc && 'DMARC', p.antivirus.enabled && 'anti-virus', p.antispam.enabled && 'anti-spam', p.contentFilter.enabled && 'content filtering'].filter(Boolean);
    if (configured.length > 0) {
      logger.warn({ event: 'not-enforced', modules: configured }, `configured but not enforced by this version: ${configured.join(', ')} (mail is relayed unscanned)`);
    }
    const gw = new Gateway(runtime, server, smtp, admin);
    if (options.deliver !== false) queue.start();
    const addr = gw.address();
    logger.info({
      event: 'listening', host: addr.host, port: addr.port, hostname: config.hostname, integration: config.integration,
      localDomains: config.localDomains.length, trustedNetworks: config.trustedNetworks.length,
      recipientVerification: config.recipientVerification.mode,
    }, `mailgw listening on ${addr.host}:${addr.port}`);
    return gw;
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
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.smtp.close(() => undefined);
    });
    await this.runtime.queue.stop();
    await new Promise<void>((resolve) => this.admin.close(() => resolve()));
    await this.runtime.spool.close();
  }
}
