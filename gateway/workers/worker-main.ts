/**
 * One worker process of a gateway pod (forked by worker-supervisor.ts):
 * a whole gateway — listeners, spool, queue, delivery — on its own state
 * directory, sharing the pod's SMTP and handover ports (SO_REUSEPORT).
 * It does what the supervisor says over IPC: start, reload, answer for
 * metrics and readiness, stop (and retire). Signals are the supervisor's
 * business: a terminal's Ctrl-C reaches the whole process group, and a
 * worker that stopped on its own would look like a crash. If the
 * supervisor goes away, the worker stops gracefully, keeping its spool.
 */
import pino from 'pino';
import { Gateway } from '../gateway.ts';
import type { HandoverResult } from '../handover/handover-send.ts';
import type { FromWorker, ToWorker, WorkerStart } from './worker-ipc.ts';
import { workerShare } from './worker-share.ts';

let gateway: Gateway | undefined;
let workers = 1;
let stopping: Promise<void> | undefined;

const send = (m: FromWorker): void => {
  if (process.connected) process.send!(m);
};

/** The last word: sent, then the process ends (a closed gateway may leave a timer or two behind). */
const finish = (m: FromWorker, code: number): void => {
  stopping ??= Promise.resolve();
  if (!process.connected) process.exit(code);
  process.send!(m, () => process.exit(code));
};

async function start(m: WorkerStart): Promise<void> {
  workers = m.workers;
  const logger = pino({ base: { gateway: `${m.config.gateway.namespace}/${m.config.gateway.name}`, worker: m.index, pid: process.pid, ...(m.drain ? { drain: m.stateDir } : {}) } });
  try {
    gateway = await Gateway.start(workerShare(m.config, m.workers), {
      host: m.drain ? '127.0.0.1' : m.host, port: m.drain ? 0 : m.port, reusePort: !m.drain, stateDir: m.stateDir, logger,
      ...(m.durable === undefined ? {} : { durable: m.durable }),
      ...(m.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: m.connectTimeoutMs }),
      ...(m.drain ? { deliver: false } : { localHandover: m.localHandover, ...(m.handover ? { handover: m.handover } : {}) }),
    });
  } catch (err) {
    finish({ kind: 'failed', index: m.index, error: (err as Error).message, startup: true }, 1);
    return;
  }
  if (m.drain) {
    // Everything queued here goes to the pod's running workers, with its state (attempts, held); what they do not take stays.
    const result = await gateway.close({ peers: m.drain.peers, token: m.localHandover.token, drainMs: 0, handoverMs: m.drain.handoverMs });
    finish({ kind: 'drained', moved: result?.moved ?? 0, left: result?.left ?? 0 }, 0);
    return;
  }
  send({ kind: 'started', index: m.index, smtpPort: gateway.address().port, localHandoverPort: gateway.localHandoverPort ?? 0 });
}

function stop(retire?: Extract<ToWorker, { kind: 'stop' }>['retire']): Promise<void> {
  stopping ??= (async () => {
    let result: HandoverResult | undefined;
    if (gateway) {
      gateway.runtime.logger.info({ event: 'shutdown', retiring: Boolean(retire) }, 'worker stopping');
      try {
        result = await gateway.close(retire);
      } catch (err) {
        // What is queued stays in this worker's spool for its next start.
        gateway.runtime.logger.error({ event: 'shutdown', err: (err as Error).message }, 'worker stop failed');
        return finish({ kind: 'stopped', left: gateway.runtime.spool.size }, 1);
      }
    }
    finish({ kind: 'stopped', left: result?.left ?? 0 }, 0);
  })();
  return stopping;
}

async function answer(what: 'metrics' | 'ready'): Promise<unknown> {
  if (!gateway) return what === 'ready' ? 'starting' : [];
  if (what === 'ready') return (await gateway.readiness()) ?? 'ready';
  const metrics = gateway.runtime.metrics;
  metrics.onScrape();
  return metrics.registry.getMetricsAsJSON();
}

process.on('message', (m: ToWorker) => {
  switch (m.kind) {
    case 'start':
      void start(m);
      break;
    case 'reload':
      try {
        gateway?.reload(workerShare(m.config, workers), m.loadMs === undefined ? {} : { loadMs: m.loadMs });
      } catch (err) {
        gateway?.runtime.metrics.configReloads.inc({ result: 'rejected' });
        gateway?.runtime.logger.error({ event: 'config-rejected', errors: [(err as Error).message] }, 'new config cannot be applied; keeping the running one');
      }
      break;
    case 'ask':
      answer(m.what).then((value) => send({ kind: 'answer', id: m.id, value }), (err: Error) => send({ kind: 'answer', id: m.id, value: `error: ${err.message}` }));
      break;
    case 'stop':
      void stop(m.retire);
      break;
  }
});
process.on('disconnect', () => void stop());
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
