/**
 * Starts what a gateway pod runs: one gateway process, or — with more than
 * one worker, or a state directory that already has the per-worker layout —
 * a supervisor and its workers (worker-supervisor.ts). Both answer the same
 * way to the command that runs them.
 */
import type { Logger } from 'pino';
import type { GatewayConfig } from '../../api/index.ts';
import { Gateway, type GatewayOptions, type RetireOptions } from '../gateway.ts';
import { Supervisor } from './worker-supervisor.ts';
import { hasWorkerLayout } from './worker-layout.ts';

export interface RunningPod {
  readonly log: Logger;
  address(): { host: string; port: number };
  readonly opsAddress: { host: string; port: number } | undefined;
  readonly metricsAddress: { host: string; port: number } | undefined;
  reload(config: GatewayConfig, info: { loadMs?: number }): void;
  rejected(): void;
  /** Stops; with retire, hands the queue over first. Resolves with what no peer took. */
  close(retire?: RetireOptions): Promise<{ left: number } | undefined>;
}

export async function startPod(config: GatewayConfig, o: GatewayOptions & { workers: number }): Promise<RunningPod> {
  if (o.workers <= 1 && !hasWorkerLayout(o.stateDir)) return Gateway.start(config, o);
  return Supervisor.start(config, {
    workers: Math.max(1, o.workers), host: o.host, port: o.port, stateDir: o.stateDir, logger: o.logger, metrics: o.metrics, ops: o.ops,
    handover: o.handover, lock: o.lock, durable: o.durable, connectTimeoutMs: o.connectTimeoutMs,
  });
}
