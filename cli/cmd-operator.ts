/**
 * `mailgw operator [--kubeconfig FILE] [--metrics-address 0.0.0.0:8080]
 *   [--lease-namespace NS] [--lease-duration 15s] [--identity NAME] [--resync 10m]`
 *
 * What the operator Deployment runs: in-cluster config (or KUBECONFIG /
 * --kubeconfig), leader election on a Lease, the controllers, /metrics,
 * /healthz and /readyz. SIGTERM releases the Lease and exits 0.
 */
import { hostname } from 'node:os';
import { existsSync } from 'node:fs';
import { KubeConfig, VersionApi } from '@kubernetes/client-node';
import { StartupError } from '../gateway/startup-error.ts';
import pino from 'pino';
import { parseDuration } from '../api/index.ts';
import { K8sApi } from '../operator/k8s-api.ts';
import { Operator } from '../operator/operator.ts';
import { configLimitFlag, parseArgs, parseListen, UsageError } from './args.ts';

function duration(flag: string, value: string | undefined, fallback: string): number {
  const ms = parseDuration(value ?? fallback);
  if (ms === undefined || ms <= 0) throw new UsageError(`--${flag}: expected a duration such as "${fallback}"`);
  return ms;
}

/**
 * The cluster to talk to: a kubeconfig file, else the pod's in-cluster
 * config. No cluster, a missing or broken file, or an API server that does
 * not answer is one clear StartupError (exit 1), never a retry loop.
 */
async function loadCluster(file: string | undefined): Promise<KubeConfig> {
  const kc = new KubeConfig();
  if (file) {
    if (!existsSync(file)) throw new StartupError(`kubeconfig ${file}: no such file`);
    try {
      kc.loadFromFile(file);
    } catch (err) {
      throw new StartupError(`kubeconfig ${file}: ${(err as Error).message.split('\n')[0]}`);
    }
  } else if (!process.env.KUBERNETES_SERVICE_HOST) {
    throw new StartupError('no cluster: not running in a pod (KUBERNETES_SERVICE_HOST is unset) and neither --kubeconfig nor KUBECONFIG names a kubeconfig file');
  } else {
    kc.loadFromCluster();
  }
  const server = kc.getCurrentCluster()?.server;
  if (!server || !URL.canParse(server)) throw new StartupError(`${file ? `kubeconfig ${file}` : 'in-cluster config'}: no valid API server address (${server ?? 'none'})`);
  try {
    await Promise.race([
      kc.makeApiClient(VersionApi).getCode(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 10 s')), 10_000).unref()),
    ]);
  } catch (err) {
    const e = err as Error & { cause?: { code?: string }; code?: number | string };
    throw new StartupError(`cannot reach the API server at ${server}: ${e.cause?.code ?? e.message.split('\n')[0]}`);
  }
  return kc;
}

function metricsPortFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) throw new UsageError('--gateway-metrics-port: expected a port number');
  return n;
}

export const OPERATOR_FLAGS = ['kubeconfig', 'metrics-address', 'lease-namespace', 'lease-duration', 'identity', 'resync', 'watch-silence', 'gateway-image', 'watch-namespaces', 'config-limit',
  'autoscale-interval', 'gateway-metrics-port'] as const;

export async function cmdOperator(argv: string[]): Promise<number> {
  const args = parseArgs(argv, OPERATOR_FLAGS);
  const kc = await loadCluster(args.flags.get('kubeconfig') ?? process.env.KUBECONFIG);
  const identity = args.flags.get('identity') ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
  const logger = pino({ base: { component: 'operator', identity } });
  const metrics = parseListen(args.flags.get('metrics-address') ?? '0.0.0.0:8080', '--metrics-address');
  const operator = new Operator(new K8sApi(kc), {
    logger, identity,
    leaseNamespace: args.flags.get('lease-namespace') ?? process.env.POD_NAMESPACE ?? 'default',
    leaseDurationMs: duration('lease-duration', args.flags.get('lease-duration'), '15s'),
    resyncMs: duration('resync', args.flags.get('resync'), '10m'),
    watchSilenceMs: duration('watch-silence', args.flags.get('watch-silence'), '5m'),
    metricsHost: metrics.host, metricsPort: metrics.port,
    gatewayImage: args.flags.get('gateway-image') ?? process.env.MAILGW_GATEWAY_IMAGE,
    configLimit: configLimitFlag(args.flags),
    watchNamespaces: (args.flags.get('watch-namespaces') ?? '').split(',').map((n) => n.trim()).filter(Boolean),
    autoscaleIntervalMs: duration('autoscale-interval', args.flags.get('autoscale-interval'), '15s'),
    gatewayMetricsPort: metricsPortFlag(args.flags.get('gateway-metrics-port')),
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
