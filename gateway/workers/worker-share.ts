/**
 * A worker's share of a pod's limits. The config's limits are per pod
 * (`connectionsTotal`, `memoryBudget`, sized to the pod's memory limit);
 * with N worker processes each gets 1/N of them, so the pod as a whole stays
 * within what the MailGateway says. Per-client limits (connections, rates)
 * are counted by each worker on its own: the kernel spreads a client's
 * connections over the workers, so a client may get up to N times them.
 */
import type { GatewayConfig } from '../../api/index.ts';

/** The config one of `workers` processes runs with. Pure. */
export function workerShare(config: GatewayConfig, workers: number): GatewayConfig {
  if (workers <= 1) return config;
  const l = config.limits;
  return {
    ...config,
    limits: {
      ...l,
      connectionsTotal: l.connectionsTotal === 0 ? 0 : Math.max(1, Math.ceil(l.connectionsTotal / workers)),
      memoryBudget: Math.max(1, Math.floor(l.memoryBudget / workers)),
    },
  };
}
