/**
 * The traffic log's worker thread: owns the SQLite store (when the traffic
 * log is on) and the SIEM sender (when spec.siem.syslog is set). Each event
 * batch from the gateway's log tap is applied to the store in one
 * transaction and its traffic and audit events go out as CEF over syslog;
 * searches are answered here; the store is pruned by age and size once a
 * minute. Nothing here runs on the SMTP event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { TrafficStore, TrafficQueryError, type TrafficEvent, type TrafficQuery } from './traffic-store.ts';
import { cefEvents, syslogMessage } from './cef.ts';
import { SyslogSender } from './syslog-sender.ts';
import type { SiemSettings, TrafficSettings, WorkerReply, WorkerRequest } from './traffic-log.ts';

const { path } = workerData as { path: string };
let settings = (workerData as { settings: TrafficSettings }).settings;
const store = settings.enabled ? new TrafficStore(path) : undefined;
const port = parentPort!;
const post = (r: WorkerReply) => port.postMessage(r);

let siem: { settings: SiemSettings; sender: SyslogSender } | undefined;
function configureSiem(next: SiemSettings | undefined): void {
  if (siem && next && JSON.stringify(siem.settings) === JSON.stringify(next)) return;
  void siem?.sender.close(0);
  siem = next ? { settings: next, sender: new SyslogSender(next, (error) => post({ type: 'siem-error', error })) } : undefined;
}
configureSiem(settings.siem);

const prune = () => {
  if (!store) return;
  try {
    const removed = store.prune(Date.now() - settings.retentionMs, settings.maxSize);
    if (removed > 0) post({ type: 'pruned', removed });
  } catch (err) {
    post({ type: 'failed', error: (err as Error).message });
  }
};
prune();
const timer = setInterval(prune, 60_000);

function exportEvents(events: TrafficEvent[]): void {
  if (!siem) return;
  const s = siem.settings;
  for (const e of events) for (const c of cefEvents(e)) siem.sender.send(syslogMessage(c, { facility: s.facility, hostname: s.hostname, pid: process.pid }));
  if (siem.sender.dropped > 0) {
    post({ type: 'siem-error', error: `${siem.sender.dropped} event(s) dropped: the collector was unreachable and the queue full` });
    siem.sender.dropped = 0;
  }
}

port.on('message', (m: WorkerRequest) => {
  const reply = (r: Omit<Extract<WorkerReply, { type: 'result' }>, 'type'>) => post({ type: 'result', ...r });
  try {
    switch (m.type) {
      case 'events': {
        const events = (typeof m.events === 'string' ? JSON.parse(m.events) : m.events) as TrafficEvent[];
        try {
          store?.apply(events);
        } catch (err) {
          post({ type: 'failed', error: (err as Error).message });
        }
        try {
          exportEvents(events);
        } catch (err) {
          post({ type: 'siem-error', error: (err as Error).message });
        }
        post({ type: 'applied', count: events.length });
        return;
      }
      case 'search':
        if (!store) throw new Error('the traffic log is off (spec.trafficLog.enabled)');
        return reply({ id: m.id, value: store.search(m.query as TrafficQuery) });
      case 'timeline':
        if (!store) throw new Error('the traffic log is off (spec.trafficLog.enabled)');
        return reply({ id: m.id, value: store.timeline(m.qid) ?? null });
      case 'configure':
        settings = m.settings;
        configureSiem(settings.siem);
        return;
      case 'close':
        clearInterval(timer);
        store?.close();
        void (siem?.sender.close() ?? Promise.resolve()).then(() => reply({ id: m.id, value: null }));
        return;
    }
  } catch (err) {
    if ('id' in m) reply({ id: m.id, error: (err as Error).message, badQuery: err instanceof TrafficQueryError });
  }
});
