/**
 * The operator's Prometheus metrics and its health endpoints, on one HTTP
 * listener: /metrics, /healthz (process alive), /readyz (caches synced).
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({ name: 'mailgw_operator_reconciles_total', help: 'Reconciles by result.', labelNames: ['result'], registers: [this.registry] });
  readonly duration = new Histogram({ name: 'mailgw_operator_reconcile_duration_seconds', help: 'Reconcile duration.', buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [this.registry] });
  readonly queueDepth = new Gauge({ name: 'mailgw_operator_work_queue_depth', help: 'Keys waiting in the work queue.', registers: [this.registry] });
  readonly watchRestarts = new Counter({ name: 'mailgw_operator_watch_restarts_total', help: 'Watches restarted after an error or silence.', labelNames: ['path'], registers: [this.registry] });
  readonly degraded = new Gauge({ name: 'mailgw_operator_gateways_degraded', help: '1 for each MailGateway that is Degraded.', labelNames: ['gateway'], registers: [this.registry] });
  readonly leader = new Gauge({ name: 'mailgw_operator_is_leader', help: '1 while this replica holds the lease.', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  serve(host: string, port: number, ready: () => boolean): Promise<Server> {
    const server = createServer((req, res) => {
      if (req.url === '/metrics') {
        this.registry.metrics().then((text) => {
          res.writeHead(200, { 'content-type': this.registry.contentType });
          res.end(text);
        }, () => {
          res.writeHead(500);
          res.end();
        });
        return;
      }
      if (req.url === '/healthz') {
        res.writeHead(200);
        res.end('ok\n');
        return;
      }
      if (req.url === '/readyz') {
        const ok = ready();
        res.writeHead(ok ? 200 : 503);
        res.end(ok ? 'ok\n' : 'caches not synced\n');
        return;
      }
      res.writeHead(404);
      res.end();
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(server));
    });
  }
}
