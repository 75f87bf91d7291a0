/**
 * Keeps a started gateway running until SIGTERM or SIGINT, then closes it.
 */
import type { Gateway } from '../gateway/gateway.ts';

export function runUntilSignal(gateway: Gateway): Promise<number> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      gateway.runtime.logger.info({ event: 'shutdown', signal }, 'shutting down');
      gateway.close().then(() => resolve(0), () => resolve(1));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
