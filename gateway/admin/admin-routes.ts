/**
 * The administration requests one gateway answers, shared by the admin
 * socket (admin-server.ts: local, trusted by file permissions) and the
 * operations API (ops-server.ts: over TCP, authenticated). Each request
 * needs one permission — `view` (traffic log, queue, backup list and
 * headers), `operate` (queue actions, backup delete) or `release` (a
 * backup copy back into the mail flow) — and every action is logged with
 * who asked (`event: 'admin'`; with the queue id it lands in the message's
 * traffic-log timeline).
 *
 *   GET    /v1/status           (queue depth by state and oldest age, readiness, memory budget, config generation)
 *   GET    /v1/config           (the running config, as rendered)
 *   GET    /v1/traffic?since=&until=&qid=&messageId=&sender=&recipient=&subject=&client=&status=&verdict=&limit=&cursor=
 *   GET    /v1/traffic/ID
 *   GET    /v1/queue
 *   POST   /v1/queue/flush
 *   POST   /v1/queue/ID/flush|hold|release
 *   DELETE /v1/queue/ID
 *   GET    /v1/backup
 *   GET    /v1/backup/ID        (the admin socket: with the message; the operations API: headers and text)
 *   POST   /v1/backup/ID/release[?to=ADDRESS]
 *   DELETE /v1/backup/ID
 */
import type { Logger } from 'pino';
import type { QueueAdmin } from '../queue/queue-admin.ts';
import { QUEUE_ID_RE } from '../queue-id.ts';
import type { BackupStore } from '../backup/backup-store.ts';
import { TrafficQueryRefused, type TrafficLog } from '../traffic/traffic-log.ts';
import { MESSAGE_STATUSES, type TrafficQuery } from '../traffic/traffic-store.ts';
import { backupView } from './backup-view.ts';

export type Permission = 'view' | 'operate' | 'release';

export interface BackupAdmin {
  store: BackupStore;
  release(id: string, to?: string): Promise<string | undefined>;
}

export interface AdminTargets {
  queue: QueueAdmin;
  /** The pod's health and load, for the console's gateway page. */
  status?: (() => Promise<Record<string, unknown>>) | undefined;
  /** The running config (secrets are file paths in it, never contents). */
  config?: (() => unknown) | undefined;
  backup?: BackupAdmin | undefined;
  traffic?: TrafficLog | undefined;
}

export interface AdminRequest {
  method: string;
  url: URL;
  /** Who asks, for the log: `admin-socket`, or the authenticated user. */
  actor: string;
  /** The operations API shows a backup's headers and text, never its raw bytes. */
  rawBackups: boolean;
}

export interface AdminReply {
  status: number;
  body: unknown;
}

const BACKUP_ID_RE = /^[0-9A-Z]{6,40}$/;

/** The permission a request needs, or undefined for one this API does not have (404). */
export function permissionFor(method: string, pathname: string): Permission | undefined {
  const p = pathname.split('/').filter(Boolean);
  if (p[0] !== 'v1') return undefined;
  const [, area, id, action] = p;
  if (p.length > 4) return undefined;
  if (area === 'status' || area === 'config') return method === 'GET' && !id ? 'view' : undefined;
  if (area === 'traffic') return method === 'GET' && !action ? 'view' : undefined;
  if (area === 'queue') {
    if (method === 'GET') return !id ? 'view' : undefined;
    if (method === 'POST' && (id === 'flush' ? !action : action === 'flush' || action === 'hold' || action === 'release')) return 'operate';
    if (method === 'DELETE') return id && !action ? 'operate' : undefined;
    return undefined;
  }
  if (area === 'backup') {
    if (method === 'GET') return !action ? 'view' : undefined;
    if (method === 'POST') return id && action === 'release' ? 'release' : undefined;
    if (method === 'DELETE') return id && !action ? 'operate' : undefined;
  }
  return undefined;
}

const STATUSES = new Set<string>(MESSAGE_STATUSES);
const QUERY_KEYS = ['qid', 'messageId', 'sender', 'recipient', 'subject', 'client', 'status', 'verdict', 'cursor'] as const;

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

const reply = (status: number, body: unknown): AdminReply => ({ status, body });
const notFound = () => reply(404, { error: 'not found' });

async function traffic(t: AdminTargets, r: AdminRequest, id: string | undefined): Promise<AdminReply> {
  if (!t.traffic?.recording) return reply(404, { error: 'the traffic log is off (spec.trafficLog.enabled)' });
  try {
    if (!id) return reply(200, await t.traffic.search(trafficQuery(r.url.searchParams)));
    if (!QUEUE_ID_RE.test(id)) return reply(400, { error: 'expected a queue id' });
    const found = await t.traffic.timeline(id);
    return found ? reply(200, found) : reply(404, { error: `no message ${id} in the traffic log` });
  } catch (err) {
    if (err instanceof TrafficQueryRefused) return reply(400, { error: err.message });
    throw err;
  }
}

async function queue(t: AdminTargets, r: AdminRequest, log: (o: Record<string, unknown>, msg: string) => void, id: string | undefined, action: string | undefined): Promise<AdminReply> {
  const q = t.queue;
  if (r.method === 'GET') return reply(200, q.list());
  if (id === 'flush') {
    const flushed = await q.flush();
    log({ flushed: flushed.length }, 'queue flushed');
    return reply(200, { flushed });
  }
  if (!id || !QUEUE_ID_RE.test(id)) return reply(400, { error: 'expected a queue id' });
  const ok = r.method === 'DELETE' ? await q.delete(id)
    : action === 'flush' ? (await q.flush([id])).length > 0
      : action === 'hold' ? await q.hold(id) : await q.release(id);
  // Only what was done is an action (a pod's supervisor asks each worker in turn; those without the message did nothing).
  if (ok) log({ qid: id, ok }, 'queue administration');
  return ok ? reply(200, { id, ok }) : reply(404, { error: `no message ${id} in the queue (or it is held)` });
}

async function backup(t: AdminTargets, r: AdminRequest, log: (o: Record<string, unknown>, msg: string) => void, id: string | undefined): Promise<AdminReply> {
  const b = t.backup;
  if (!b) return notFound();
  if (!id) return reply(200, await b.store.list());
  if (!BACKUP_ID_RE.test(id)) return reply(400, { error: 'expected a backup id' });
  const meta = await b.store.get(id);
  if (!meta) return reply(404, { error: `no backup ${id}` });
  if (r.method === 'GET') {
    const message = await b.store.read(id);
    return reply(200, r.rawBackups ? { ...meta, message: message.toString('utf8') } : { ...meta, ...backupView(message) });
  }
  if (r.method === 'DELETE') {
    const deleted = await b.store.delete(id);
    log({ qid: meta.qid, backupId: id, deleted }, 'backup deleted');
    return reply(200, { id, deleted });
  }
  const to = r.url.searchParams.get('to') ?? undefined;
  const qid = await b.release(id, to);
  log({ qid: meta.qid, backupId: id, queued: qid, to }, 'backup released');
  return qid ? reply(200, { id, queued: qid }) : reply(400, { error: 'nothing to release to' });
}

/**
 * Answers one checked request; undefined while the gateway behind it is still
 * starting (503). A gateway routes to its own targets (route below); a pod
 * with several worker processes fans out to them (gateway/workers/pod-admin.ts).
 */
export type AdminRouter = (r: AdminRequest, logger: Logger) => Promise<AdminReply | undefined>;

/** What the running config looks like through the API: at hosting-provider scale only the first 100 LocalDomains (100,000 would be 15 MB a page view). */
export function configView<C extends { localDomains: readonly unknown[] }>(c: C): C | (C & { localDomainsShown: string }) {
  return c.localDomains.length > 100 ? { ...c, localDomains: c.localDomains.slice(0, 100), localDomainsShown: `100 of ${c.localDomains.length}` } : c;
}

/** Answers one request whose permission the caller has checked (permissionFor). */
export async function route(t: AdminTargets, r: AdminRequest, logger: Logger): Promise<AdminReply> {
  const [, area, id, action] = r.url.pathname.split('/').filter(Boolean);
  const log = (o: Record<string, unknown>, msg: string) => logger.info({ event: 'admin', actor: r.actor, action: `${r.method} ${r.url.pathname}`, ...o }, msg);
  if (area === 'traffic') return traffic(t, r, id);
  if (area === 'status') return t.status ? reply(200, await t.status()) : notFound();
  if (area === 'config') return t.config ? reply(200, t.config()) : notFound();
  if (area === 'queue') return queue(t, r, log, id, action);
  if (area === 'backup') return backup(t, r, log, id);
  return notFound();
}
