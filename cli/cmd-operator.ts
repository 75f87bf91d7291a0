/**
 * `mailgw operator [--kubeconfig FILE] [--metrics-address 0.0.0.0:8080]
 *   [--lease-namespace NS] [--lease-duration 15s] [--identity NAME] [--resync 10m]`
 *
 * What the operator Deployment runs: in-cluster config (or KUBECONFIG /
 * --kubeconfig), leader election on a Lease, the controllers, /metrics,
 * /healthz and /readyz. SIGTERM releases the Lease and exits 0.
 */
import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { parseDuration } from '../api/index.ts';
import { K8sApi } from '../operator/k8s-api.ts';
import { Operator } from '../operator/operator.ts';
import { parseArgs, parseListen, UsageError } from './args.ts';

function duration(flag: string, value: string | undefined, fallback: string): number {
  const ms = parseDuration(value ?? fallback);
  if (ms === undefined || ms <= 0) throw new UsageError(`--${flag}: expected a duration such as "${fallback}"`);
  return ms;
}

export const OPERATOR_FLAGS = ['kubeconfig', 'metrics-address', 'lease-namespace', 'lease-duration', 'identity', 'resync', 'watch-silence', 'gateway-image'] as const;

export async function cmdOperator(argv: string[]): Promise<number> {
  const args = parseArgs(argv, OPERATOR_FLAGS);
  const kc = new KubeConfig();
  const file = args.flags.get('kubeconfig') ?? process.env.KUBECONFIG;
  if (file) kc.loadFromFile(file);
  else kc.loadFromCluster();
  const identity = args.flags.get('identity') ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
  const logger = pino({ base: { component: 'operator', identity } });
  const metrics = parseListen(args.flags.get('metrics-address') ?? '0.0.0.0:8080');
  const operator = new Operator(new K8sApi(kc), {
    logger, identity,
    leaseNamespace: args.flags.get('lease-namespace') ?? process.env.POD_NAMESPACE ?? 'default',
    leaseDurationMs: duration('lease-duration', args.flags.get('lease-duration'), '15s'),
    resyncMs: duration('resync', args.flags.get('resync'), '10m'),
    watchSilenceMs: duration('watch-silence', args.flags.get('watch-silence'), '5m'),
    metricsHost: metrics.host, metricsPort: metrics.port,
    gatewayImage: args.flags.get('gateway-image') ?? process.env.MAILGW_GATEWAY_IMAGE,
  });
  await operator.start();
  const addr = operator.metricsAddress;
  logger.info({ event: 'operator-started', metrics: addr ? `${addr.host}:${addr.port}` : undefined, cluster: kc.getCurrentCluster()?.server }, 'mailgw operator started');
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      logger.info({ event: 'shutdown', signal }, 'shutting down');
      operator.stop().then(() => resolve(0), () => resolve(1));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
