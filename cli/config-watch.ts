/**
 * Watches the rendered config file of a gateway pod (a mounted ConfigMap:
 * the kubelet swaps a symlink, so the file is polled by stat, which follows
 * it) and applies each new valid version live. An invalid or unusable
 * version never replaces the running one: it is logged as
 * `config-rejected` with every error, and the old config stays.
 */
import { readFile } from 'node:fs/promises';
import { unwatchFile, watchFile } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { gatewayConfig, type GatewayConfig } from '../api/index.ts';
import type { Gateway } from '../gateway/gateway.ts';
import { formatPath } from './manifest-load.ts';

export function parseGatewayConfig(text: string): { config: GatewayConfig } | { errors: string[] } {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    return { errors: [(err as Error).message] };
  }
  const parsed = gatewayConfig.safeParse(raw);
  if (!parsed.success) return { errors: parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`) };
  return { config: parsed.data };
}

export function watchConfig(file: string, gateway: Gateway, initialText: string, intervalMs: number): () => void {
  let applied = initialText;
  let busy = false;
  const check = async () => {
    if (busy) return;
    busy = true;
    try {
      const text = await readFile(file, 'utf8').catch(() => undefined);
      if (text === undefined || text === applied) return;
      const logger = gateway.runtime.logger;
      const result = parseGatewayConfig(text);
      if ('errors' in result) {
        gateway.runtime.metrics.configReloads.inc({ result: 'rejected' });
        logger.error({ event: 'config-rejected', file, errors: result.errors }, 'new config is invalid; keeping the running one');
        applied = text; // report once per version
        return;
      }
      try {
        gateway.reload(result.config);
      } catch (err) {
        gateway.runtime.metrics.configReloads.inc({ result: 'rejected' });
        logger.error({ event: 'config-rejected', file, errors: [(err as Error).message] }, 'new config cannot be applied; keeping the running one');
      }
      applied = text;
    } finally {
      busy = false;
    }
  };
  watchFile(file, { interval: intervalMs, persistent: false }, () => void check());
  const timer = setInterval(() => void check(), Math.max(intervalMs, 1000) * 5); // belt and braces for missed stat changes
  timer.unref();
  return () => {
    unwatchFile(file);
    clearInterval(timer);
  };
}
