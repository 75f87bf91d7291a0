/**
 * Keeps a started gateway running until SIGTERM or SIGINT, then closes it.
 * When the gateway can hand its queue over (handover flags), the stop first
 * asks whether it is leaving for good (handover/retire-check.ts) and, if so,
 * empties the spool into the peers before exiting.
 */
import type { RetireOptions } from '../gateway/gateway.ts';
import type { RunningPod } from '../gateway/workers/start-pod.ts';

export function runUntilSignal(gateway: RunningPod, retirement?: () => Promise<RetireOptions | undefined>): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = async (signal: string): Promise<number> => {
      const logger = gateway.log;
      logger.info({ event: 'shutdown', signal }, 'shutting down');
      let retire: RetireOptions | undefined;
      try {
        retire = await retirement?.();
      } catch (err) {
        logger.error({ event: 'retire-check', err: (err as Error).message }, 'cannot tell whether this is a final stop: the spool stays');
      }
      const result = await gateway.close(retire);
      return result && result.left > 0 ? 3 : 0;
    };
    const on = (signal: string) => {
      if (stopping) return;
      stopping = true;
      stop(signal).then(resolve, () => resolve(1));
    };
    process.once('SIGTERM', () => on('SIGTERM'));
    process.once('SIGINT', () => on('SIGINT'));
  });
}
