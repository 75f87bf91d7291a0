/**
 * The traffic log's worker thread: owns the SQLite store, applies the event
 * batches the gateway's log tap sends (one transaction each), answers
 * searches, and prunes by age and size once a minute. Nothing here runs on
 * the SMTP event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { TrafficStore, TrafficQueryError, type TrafficEvent, type TrafficQuery } from './traffic-store.ts';
import type { TrafficSettings, WorkerReply, WorkerRequest } from './traffic-log.ts';

const { path } = workerData as { path: string };
let settings = (workerData as { settings: TrafficSettings }).settings;
const store = new TrafficStore(path);
const port = parentPort!;

const prune = () => {
  try {
    const removed = store.prune(Date.now() - settings.retentionMs, settings.maxSize);
    if (removed > 0) port.postMessage({ type: 'pruned', removed } satisfies WorkerReply);
  } catch (err) {
    port.postMessage({ type: 'failed', error: (err as Error).message } satisfies WorkerReply);
  }
};
prune();
const timer = setInterval(prune, 60_000);

port.on('message', (m: WorkerRequest) => {
  const reply = (r: Omit<Extract<WorkerReply, { type: 'result' }>, 'type'>) => port.postMessage({ type: 'result', ...r } satisfies WorkerReply);
  try {
    switch (m.type) {
      case 'events': {
        const events = (typeof m.events === 'string' ? JSON.parse(m.events) : m.events) as TrafficEvent[];
        try {
          store.apply(events);
        } catch (err) {
          port.postMessage({ type: 'failed', error: (err as Error).message } satisfies WorkerReply);
        }
        port.postMessage({ type: 'applied', count: events.length } satisfies WorkerReply);
        return;
      }
      case 'search': return reply({ id: m.id, value: store.search(m.query as TrafficQuery) });
      case 'timeline': return reply({ id: m.id, value: store.timeline(m.qid) ?? null });
      case 'configure':
        settings = m.settings;
        return;
      case 'close':
        clearInterval(timer);
        store.close();
        return reply({ id: m.id, value: null });
    }
  } catch (err) {
    if ('id' in m) reply({ id: m.id, error: (err as Error).message, badQuery: err instanceof TrafficQueryError });
  }
});
