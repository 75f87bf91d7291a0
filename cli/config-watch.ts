/**
 * Watches a gateway's config (a mounted ConfigMap volume: the kubelet swaps
 * a symlink, so the version is polled by reading, which follows it) and
 * applies each new valid version live. A new version is loaded off the event
 * loop (config-source.ts) and swapped in when whole. A version whose parts do
 * not match its manifest yet (a volume mid-update, or damaged) is retried at
 * the next poll, never applied in part. An invalid or unusable version never
 * replaces the running one: it is logged as `config-rejected` with every
 * error, and the old config stays.
 */
import type { Logger } from 'pino';
import type { GatewayConfig } from '../api/index.ts';
import { loadOffThread, peek } from './config-source.ts';

/** What a new config is applied to: one gateway process, or a pod's supervisor, which hands it to every worker. */
export interface ConfigTarget {
  readonly log: Logger;
  /** Counts a version that was refused (mailgw_gateway_config_reloads_total{result="rejected"}). */
  rejected(): void;
  /** Applies it; throws, changing nothing, when it cannot be built. */
  reload(config: GatewayConfig, info: { loadMs?: number }): void;
}

export { parseGatewayConfig } from './config-source.ts';

export function watchConfig(path: string, gateway: ConfigTarget, initialPeek: string | undefined, intervalMs: number): () => void {
  let applied = initialPeek;
  let busy = false;
  let incompleteSince = 0;
  const check = async () => {
    if (busy) return;
    busy = true;
    const logger = gateway.log;
    try {
      const seen = peek(path);
      if (seen === undefined || seen === applied) return;
      const started = performance.now();
      const loaded = await loadOffThread(path).catch((err: Error) => ({ errors: [err.message], version: '' }));
      if ('incomplete' in loaded) {
        // Not whole yet: the next poll looks again. Said once, and again if it lasts.
        if (!incompleteSince || Date.now() - incompleteSince > 60_000) logger.warn({ event: 'config-incomplete', path, reason: loaded.incomplete }, 'the new config is not whole yet; keeping the running one');
        incompleteSince ||= Date.now();
        return;
      }
      incompleteSince = 0;
      if ('errors' in loaded) {
        gateway.rejected();
        logger.error({ event: 'config-rejected', path, errors: loaded.errors }, 'new config is invalid; keeping the running one');
        applied = seen; // report once per version
        return;
      }
      try {
        gateway.reload(loaded.config, { loadMs: Math.round(performance.now() - started) });
      } catch (err) {
        gateway.rejected();
        logger.error({ event: 'config-rejected', path, errors: [(err as Error).message] }, 'new config cannot be applied; keeping the running one');
      }
      applied = seen;
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void check(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
