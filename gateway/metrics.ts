/**
 * The gateway's Prometheus metrics and health endpoints, on a port of their
 * own (never the SMTP port): /metrics, /healthz (process alive), /readyz
 * (config loaded, spool writable, required scanners reachable).
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class GatewayMetrics {
  readonly registry = new Registry();
  /** Called before each scrape, to refresh gauges that are computed (queue depth). */
  onScrape: () => void = () => undefined;
  readonly connections = new Counter({ name: 'mailgw_gateway_connections_total', help: 'SMTP connections by result and refusal reason.', labelNames: ['result', 'reason'], registers: [this.registry] });
  readonly openConnections = new Gauge({ name: 'mailgw_gateway_connections_open', help: 'SMTP connections open now.', registers: [this.registry] });
  readonly recipients = new Counter({ name: 'mailgw_gateway_recipients_total', help: 'RCPT decisions by result and reply code.', labelNames: ['result', 'code'], registers: [this.registry] });
  readonly messages = new Counter({ name: 'mailgw_gateway_messages_total', help: 'Messages by outcome (accepted, rejected, deleted, tempfail) and reason.', labelNames: ['outcome', 'reason', 'rule'], registers: [this.registry] });
  readonly queue = new Gauge({ name: 'mailgw_gateway_queue_messages', help: 'Queued messages by state.', labelNames: ['state'], registers: [this.registry] });
  readonly oldest = new Gauge({ name: 'mailgw_gateway_queue_oldest_seconds', help: 'Age of the oldest queued message.', aggregator: 'max', registers: [this.registry] });
  readonly backlog = new Gauge({ name: 'mailgw_gateway_queue_backlog_seconds', help: 'Age of the oldest message waiting for its first delivery attempt: grows when the gateway cannot keep up (deferred mail is not counted). The autopilot scales on it.', aggregator: 'max', registers: [this.registry] });
  readonly deliveries = new Counter({ name: 'mailgw_gateway_deliveries_total', help: 'Delivery outcomes per recipient by status and next hop.', labelNames: ['status', 'next_hop'], registers: [this.registry] });
  readonly deliverySeconds = new Histogram({ name: 'mailgw_gateway_delivery_seconds', help: 'Time from receipt to delivery.', buckets: [0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600, 86400], registers: [this.registry] });
  readonly memoryBudget = new Gauge({ name: 'mailgw_gateway_memory_budget_bytes', help: 'The memory budget (limits.memoryBudget): bytes in use and the limit.', labelNames: ['state'], registers: [this.registry] });
  readonly sessionLimits = new Counter({ name: 'mailgw_gateway_session_limit_closes_total', help: 'Sessions closed with 421 for too many errors (limits.maxErrors) or junk commands (limits.maxJunkCommands).', labelNames: ['limit'], registers: [this.registry] });
  readonly bounces = new Counter({ name: 'mailgw_gateway_bounces_total', help: 'DSNs sent to senders.', registers: [this.registry] });
  readonly certificateExpiryDays = new Gauge({ name: 'mailgw_gateway_certificate_expiry_days', help: 'Days until each certificate the gateway presents expires (inbound, outbound client certificates).', labelNames: ['certificate'], aggregator: 'min', registers: [this.registry] });
  readonly certificateReloads = new Counter({ name: 'mailgw_gateway_certificate_reloads_total', help: 'Inbound certificate changes picked up from the mounted Secret, by result.', labelNames: ['result'], registers: [this.registry] });
  readonly trafficDropped = new Counter({ name: 'mailgw_gateway_traffic_log_dropped_total', help: 'Log events the traffic log dropped because its writer fell behind (mail is not affected).', registers: [this.registry] });
  readonly dsnSuppressed = new Counter({ name: 'mailgw_gateway_dsn_suppressed_total', help: 'DSNs not sent, by reason: suspect (SPF, DMARC, spam) or unreachable (null MX, no address).', labelNames: ['reason'], registers: [this.registry] });
  readonly scannerSeconds = new Histogram({ name: 'mailgw_gateway_scanner_seconds', help: 'Scan time by scanner.', labelNames: ['scanner'], buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30], registers: [this.registry] });
  readonly scannerErrors = new Counter({ name: 'mailgw_gateway_scanner_errors_total', help: 'Scanner failures (down, timeout, bad answer) by scanner.', labelNames: ['scanner'], registers: [this.registry] });
  readonly configReloads = new Counter({ name: 'mailgw_gateway_config_reloads_total', help: 'Config reloads by result (applied, rejected); a pod with several workers shows its most.', labelNames: ['result'], aggregator: 'max', registers: [this.registry] });
  readonly handover = new Counter({ name: 'mailgw_gateway_handover_messages_total', help: 'Messages handed over between gateways at scale-down, by direction (out: sent by a retiring gateway, in: received) and result.', labelNames: ['direction', 'result'], registers: [this.registry] });
  readonly configGeneration = new Gauge({ name: 'mailgw_gateway_config_generation', help: 'Number of configs applied since start (1 = the initial one); a pod with several workers shows its least.', aggregator: 'min', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'mailgw_gateway_process_' });
    this.configGeneration.set(1);
  }

  serve(host: string, port: number, ready: () => Promise<string | undefined>): Promise<Server> {
    return serveHealth(host, port, async () => {
      this.onScrape();
      return { contentType: this.registry.contentType, body: await this.registry.metrics() };
    }, ready);
  }
}

/**
 * /metrics, /healthz and /readyz on their own port: one gateway process
 * serves its own registry; a pod's supervisor serves its workers' together
 * (workers/worker-supervisor.ts).
 */
export function serveHealth(host: string, port: number, scrape: () => Promise<{ contentType: string; body: string }>, ready: () => Promise<string | undefined>): Promise<Server> {
  const server = createServer((req, res) => {
    const text = (code: number, body: string, type = 'text/plain') => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    if (req.url === '/metrics') {
      scrape().then((m) => text(200, m.body, m.contentType), () => text(500, 'metrics failed\n'));
    } else if (req.url === '/healthz') {
      text(200, 'ok\n');
    } else if (req.url === '/readyz') {
      ready().then((problem) => (problem ? text(503, `${problem}\n`) : text(200, 'ok\n')), (err: Error) => text(503, `${err.message}\n`));
    } else {
      text(404, 'not found\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
