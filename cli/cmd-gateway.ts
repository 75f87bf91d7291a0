/**
 * `mailgw gateway --config FILE [--listen 0.0.0.0:2525] [--state-dir /var/spool/mailgw] [--config-poll 2s] [--metrics-address 0.0.0.0:9090]
 *    [--workers N (default: the container's CPU limit)]
 *    [--handover-listen 0.0.0.0:2526 --handover-token-file FILE
 *     (--handover-statefulset NAME [--handover-peer-address TEMPLATE] | --handover-peers HOST:PORT,...)
 *     [--handover-drain 20s] [--handover-time 60s]]`
 *
 * What a gateway pod runs: reads the rendered config (JSON or YAML, as the
 * operator writes it into the ConfigMap), validates it and serves SMTP; a
 * changed file is applied live (config-watch.ts). With the handover flags a
 * gateway that is scaled away hands its queue to the gateways that stay
 * (gateway/handover/); the pod's name and namespace come from POD_NAME and
 * POD_NAMESPACE. With several workers (gateway/workers/) a supervisor runs
 * them and speaks for the pod.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseDuration } from '../api/index.ts';
import { KubernetesAuthenticator, apiServerReviews } from '../gateway/admin/kube-auth.ts';
import { StaticTokens, type StaticToken } from '../gateway/admin/ops-server.ts';
import { startPod } from '../gateway/workers/start-pod.ts';
import { defaultWorkers } from '../gateway/workers/worker-count.ts';
import { parseArgs, parseListen, UsageError } from './args.ts';
import { watchConfig } from './config-watch.ts';
import { loadNow, peek } from './config-source.ts';
import { runUntilSignal } from './run-until-signal.ts';
import { decideRetirement, parsePeer, type HandoverMode } from '../gateway/handover/retire-check.ts';
import type { RetireOptions } from '../gateway/gateway.ts';

const DEFAULT_PEER_ADDRESS = '{pod}.{statefulset}-headless.{namespace}.svc:2526';

async function handoverFlags(flags: Map<string, string>): Promise<{ listen: { host: string; port: number }; token: string; mode: HandoverMode; drainMs: number; handoverMs: number } | undefined> {
  const listen = flags.get('handover-listen');
  const tokenFile = flags.get('handover-token-file');
  const sts = flags.get('handover-statefulset');
  const peers = flags.get('handover-peers');
  if (!listen && !tokenFile && !sts && !peers) return undefined;
  if (!listen || !tokenFile) throw new UsageError('handover needs --handover-listen and --handover-token-file');
  if ((sts ? 1 : 0) + (peers ? 1 : 0) !== 1) throw new UsageError('handover needs exactly one of --handover-statefulset and --handover-peers');
  let token: string;
  try {
    token = (await readFile(tokenFile, 'utf8')).trim();
  } catch (err) {
    throw new UsageError(`--handover-token-file: ${(err as Error).message}`);
  }
  if (token.length < 16) throw new UsageError(`${tokenFile}: the handover token must be at least 16 characters`);
  const duration = (name: string, fallback: string) => {
    const ms = parseDuration(flags.get(name) ?? fallback);
    if (ms === undefined || ms < 0) throw new UsageError(`--${name}: expected a duration such as "20s"`);
    return ms;
  };
  let mode: HandoverMode;
  if (sts) {
    const pod = process.env.POD_NAME;
    const namespace = process.env.POD_NAMESPACE;
    if (!pod || !namespace) throw new UsageError('--handover-statefulset needs POD_NAME and POD_NAMESPACE in the environment');
    mode = { kind: 'kubernetes', statefulSet: sts, namespace, pod, peerAddress: flags.get('handover-peer-address') ?? DEFAULT_PEER_ADDRESS };
  } else {
    try {
      mode = { kind: 'static', peers: peers!.split(',').filter(Boolean).map(parsePeer) };
    } catch (err) {
      throw new UsageError(`--handover-peers: ${(err as Error).message}`);
    }
  }
  return { listen: parseListen(listen, '--handover-listen'), token, mode, drainMs: duration('handover-drain', '20s'), handoverMs: duration('handover-time', '60s') };
}

/** `--workers N`: 1 to 64 worker processes; undefined when not given. */
export function parseWorkers(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 64) throw new UsageError('--workers: expected a number of worker processes from 1 to 64');
  return n;
}

/** `--ops-token-file`: lines of TOKEN USER PERMISSIONS (view, operate, release, comma-separated); # comments. */
export function parseOpsTokens(text: string, file = '--ops-token-file'): StaticToken[] {
  const out: StaticToken[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const [token, user, perms, extra] = line.split(/\s+/);
    const permissions = (perms ?? '').split(',');
    if (!token || !user || extra !== undefined || token.length < 16 || !permissions.every((p) => p === 'view' || p === 'operate' || p === 'release')) {
      throw new UsageError(`${file}, line ${i + 1}: expected TOKEN (16 characters or more) USER view[,operate][,release]`);
    }
    out.push({ token, user, permissions: permissions as StaticToken['permissions'] });
  });
  if (out.length === 0) throw new UsageError(`${file}: no tokens`);
  return out;
}

async function opsTokens(file: string): Promise<StaticToken[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--ops-token-file: cannot read ${file}: ${(err as Error).message}`);
  }
  return parseOpsTokens(text, file);
}

export const GATEWAY_FLAGS = ['config', 'listen', 'state-dir', 'config-poll', 'metrics-address', 'ops-listen', 'ops-token-file', 'workers',
    'handover-listen', 'handover-token-file', 'handover-statefulset', 'handover-peer-address', 'handover-peers', 'handover-drain', 'handover-time'] as const;

export async function cmdGateway(argv: string[]): Promise<number> {
  const args = parseArgs(argv, GATEWAY_FLAGS);
  const file = args.flags.get('config');
  if (!file) throw new UsageError('needs --config FILE|DIR');
  // A volume caught between two versions (parts not matching their manifest) is read again for a while.
  let initialPeek = peek(file);
  let loaded = loadNow(file);
  for (let i = 0; 'incomplete' in loaded && i < 20 && initialPeek !== undefined; i++) {
    await new Promise((r) => setTimeout(r, 500));
    initialPeek = peek(file);
    loaded = loadNow(file);
  }
  if ('incomplete' in loaded) {
    console.error(`error: ${file}: ${loaded.incomplete}`);
    return 1;
  }
  if ('errors' in loaded) {
    for (const e of loaded.errors) console.error(`error: ${file}: ${e}`);
    console.error(`mailgw gateway: invalid config; nothing started`);
    return 1;
  }
  const poll = parseDuration(args.flags.get('config-poll') ?? '2s');
  if (poll === undefined || poll <= 0) throw new UsageError('--config-poll: expected a duration such as "2s"');
  const listen = parseListen(args.flags.get('listen') ?? '0.0.0.0:2525');
  const metricsAddress = args.flags.get('metrics-address');
  const handover = await handoverFlags(args.flags);
  const opsListen = args.flags.get('ops-listen');
  // The operations API: Kubernetes says who a token is and what it may do on this MailGateway (gateway/admin/kube-auth.ts).
  const tokenFile = args.flags.get('ops-token-file');
  if (tokenFile && !opsListen) throw new UsageError('--ops-token-file needs --ops-listen');
  const ops = opsListen ? {
    ...parseListen(opsListen, '--ops-listen'),
    auth: tokenFile ? new StaticTokens(await opsTokens(tokenFile)) : new KubernetesAuthenticator(await apiServerReviews(), loaded.config.gateway),
  } : undefined;
  const workers = parseWorkers(args.flags.get('workers')) ?? defaultWorkers();
  const gateway = await startPod(loaded.config, {
    workers,
    ...(ops ? { ops } : {}),
    ...listen, stateDir: resolve(args.flags.get('state-dir') ?? '/var/spool/mailgw'),
    ...(metricsAddress ? { metrics: parseListen(metricsAddress, '--metrics-address') } : {}),
    ...(handover ? { handover: { ...handover.listen, token: handover.token } } : {}),
  });
  const stopWatching = watchConfig(file, gateway, initialPeek, poll);
  const retirement = handover && (async (): Promise<RetireOptions | undefined> => {
    const plan = await decideRetirement(handover.mode);
    gateway.log.info({ event: 'retire-check', retiring: plan.retiring, peers: plan.peers.map((p) => `${p.host}:${p.port}`), reason: plan.reason }, plan.reason);
    return plan.retiring ? { peers: plan.peers, token: handover.token, drainMs: handover.drainMs, handoverMs: handover.handoverMs } : undefined;
  });
  const code = await runUntilSignal(gateway, retirement);
  stopWatching();
  return code;
}
