/**
 * The admin endpoint behind `mailgw queue`: HTTP on a Unix socket in the
 * state directory (mode 0600: only the gateway's user), never on the SMTP
 * port and never on the network.
 *
 *   GET    /v1/queue              → QueueEntry[]
 *   POST   /v1/queue/flush        → retry everything now
 *   POST   /v1/queue/ID/flush|hold|release
 *   DELETE /v1/queue/ID           → remove without a DSN
 *   GET    /v1/backup             → BackupMeta[]
 *   GET    /v1/backup/ID          → the entry with the original message
 *   POST   /v1/backup/ID/release[?to=ADDRESS] → re-queue the original
 *   DELETE /v1/backup/ID
 *   GET    /v1/traffic?since=&until=&qid=&messageId=&sender=&recipient=&subject=&client=&status=&verdict=&limit=&cursor=
 *                                 → { items, next } (the traffic log, newest first)
 *   GET    /v1/traffic/ID         → one message with its timeline
 */
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { QueueAdmin } from '../queue/queue-admin.ts';
import { QUEUE_ID_RE } from '../queue-id.ts';
import type { BackupStore } from '../backup/backup-store.ts';
import { TrafficQueryRefused, type TrafficLog } from '../traffic/traffic-log.ts';
import type { TrafficQuery } from '../traffic/traffic-store.ts';

export function adminSocketPath(stateDir: string): string {
  return `${stateDir}/admin.sock`;
}

export interface BackupAdmin {
  store: BackupStore;
  release(id: string, to?: string): Promise<string | undefined>;
}

async function handleBackup(b: BackupAdmin, method: string, parts: string[], url: URL, send: (status: number, body: unknown) => void): Promise<void> {
  if (method === 'GET' && parts.length === 2) return send(200, await b.store.list());
  const id = parts[2] ?? '';
  if (!/^[0-9A-Z]{6,40}$/.test(id) || parts.length > 4) return send(400, { error: 'expected a backup id' });
  const meta = await b.store.get(id);
  if (!meta) return send(404, { error: `no backup ${id}` });
  if (method === 'GET' && parts.length === 3) return send(200, { ...meta, message: (await b.store.read(id)).toString('utf8') });
  if (method === 'DELETE' && parts.length === 3) return send(200, { id, deleted: await b.store.delete(id) });
  if (method === 'POST' && parts[3] === 'release') {
    const qid = await b.release(id, url.searchParams.get('to') ?? undefined);
    return qid ? send(200, { id, queued: qid }) : send(400, { error: 'nothing to release to' });
  }
  return send(404, { error: 'not found' });
}

const QUERY_KEYS = ['qid', 'messageId', 'sender', 'recipient', 'subject', 'client', 'status', 'verdict', 'cursor'] as const;
const STATUSES = new Set(['queued', 'deferred', 'delivered', 'failed', 'deleted', 'rejected', 'tempfail', 'mixed']);

/** A traffic query from URL parameters; throws TrafficQueryRefused naming the bad one. */
export function trafficQuery(params: URLSearchParams): TrafficQuery {
  const q: TrafficQuery = {};
  for (const k of QUERY_KEYS) {
    const v = params.get(k);
    if (v !== null && v !== '') (q as Record<string, string>)[k] = v.slice(0, 998);
  }
  if (q.status && !STATUSES.has(q.status)) throw new TrafficQueryRefused(`status: one of ${[...STATUSES].join(', ')}`);
  for (const k of ['since', 'until', 'limit'] as const) {
    const v = params.get(k);
    if (v === null || v === '') continue;
    const n = k === 'limit' ? Number(v) : /^\d+$/.test(v) ? Number(v) : Date.parse(v);
    if (!Number.isFinite(n) || n < 0) throw new TrafficQueryRefused(`${k}: ${k === 'limit' ? 'a number' : 'a time (ISO 8601 or milliseconds since the epoch)'}`);
    q[k] = n;
  }
  return q;
}

async function handleTraffic(traffic: TrafficLog, method: string, parts: string[], url: URL, send: (status: number, body: unknown) => void): Promise<void> {
  if (method !== 'GET' || parts.length > 3) return send(404, { error: 'not found' });
  try {
    if (parts.length === 2) return send(200, await traffic.search(trafficQuery(url.searchParams)));
    if (!QUEUE_ID_RE.test(parts[2]!)) return send(400, { error: 'expected a queue id' });
    const t = await traffic.timeline(parts[2]!);
    return t ? send(200, t) : send(404, { error: `no message ${parts[2]} in the traffic log` });
  } catch (err) {
    if (err instanceof TrafficQueryRefused) return send(400, { error: err.message });
    throw err;
  }
}

export async function startAdminServer(socketPath: string, queue: QueueAdmin, logger: Logger, backup?: BackupAdmin, traffic?: TrafficLog): Promise<Server> {
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const handle = async () => {
      const url = new URL(req.url ?? '/', 'http://admin');
      const parts = url.pathname.split('/').filter(Boolean);
      if (parts[0] === 'v1' && parts[1] === 'backup' && backup) {
        await handleBackup(backup, req.method ?? 'GET', parts, url, send);
        logger.info({ event: 'admin', action: `${req.method} ${url.pathname}` }, 'backup administration');
        return;
      }
      if (parts[0] === 'v1' && parts[1] === 'traffic') {
        if (!traffic) return send(404, { error: 'the traffic log is off (spec.trafficLog.enabled)' });
        return handleTraffic(traffic, req.method ?? 'GET', parts, url, send);
      }
      if (parts[0] !== 'v1' || parts[1] !== 'queue') return send(404, { error: 'not found' });
      if (req.method === 'GET' && parts.length === 2) return send(200, queue.list());
      if (req.method === 'POST' && parts.length === 3 && parts[2] === 'flush') return send(200, { flushed: await queue.flush() });
      const id = parts[2];
      if (!id || !QUEUE_ID_RE.test(id) || parts.length > 4) return send(400, { error: 'expected a queue id' });
      let ok: boolean;
      if (req.method === 'DELETE' && parts.length === 3) ok = await queue.delete(id);
      else if (req.method === 'POST' && parts[3] === 'flush') ok = (await queue.flush([id])).length > 0;
      else if (req.method === 'POST' && parts[3] === 'hold') ok = await queue.hold(id);
      else if (req.method === 'POST' && parts[3] === 'release') ok = await queue.release(id);
      else return send(404, { error: 'not found' });
      logger.info({ event: 'admin', action: `${req.method} ${url.pathname}`, qid: id, ok }, 'queue administration');
      return ok ? send(200, { id, ok }) : send(404, { error: `no message ${id} in the queue (or it is held)` });
    };
    handle().catch((err: Error) => send(500, { error: err.message }));
  });
  // The caller holds the state directory's lock, so a socket file left here is a dead gateway's.
  rmSync(socketPath, { force: true });
  // Created 0600 (umask while binding), never reachable by others even for a moment.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
  } finally {
    process.umask(umask);
  }
  return server;
}
