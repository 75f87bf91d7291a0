/**
 * The admin requests of a pod with several worker processes
 * (admin/admin-routes.ts), answered for the whole pod: the supervisor's
 * admin socket and operations API ask every worker's own admin socket and
 * put the answers together.
 *
 * - Lists (queue, backups) are joined; the traffic log is merged newest
 *   first with one cursor for every worker (admin/merge-pages.ts); a queue
 *   flush goes to every worker; the status adds up queue and memory and
 *   names each worker.
 * - A request for one message or backup goes to each worker in turn until
 *   one knows it (any answer but 404).
 * - The running config is the supervisor's own (the pod's, not a worker's share).
 *
 * Who asked travels along (admin-server.ts ACTOR_HEADER), so each worker logs
 * the action with the real actor into the message's timeline.
 */
import type { Logger } from 'pino';
import { ACTOR_HEADER, RAW_HEADER } from '../admin/admin-server.ts';
import { askAdminSocket } from '../admin/admin-socket-client.ts';
import { configView, type AdminReply, type AdminRequest, type AdminRouter } from '../admin/admin-routes.ts';
import { mergeNewestFirst } from '../admin/merge-pages.ts';

/** A worker as the pod sees it: its index and admin socket; undefined socket while it is not running. */
export interface WorkerEndpoint {
  index: number;
  socket: string | undefined;
}

type Json = Record<string, unknown>;

function ask(socketPath: string, r: AdminRequest): Promise<AdminReply> {
  return askAdminSocket(socketPath, r.method, `${r.url.pathname}${r.url.search}`, { [ACTOR_HEADER]: r.actor, [RAW_HEADER]: r.rawBackups ? '1' : '0' });
}

const unavailable = (w: WorkerEndpoint, why: string): AdminReply => ({ status: 503, body: { error: `worker ${w.index} ${why}` } });

/** Every running worker's answer, in index order; a worker that is down or fails answers 503 naming itself. */
async function everyWorker(workers: readonly WorkerEndpoint[], r: AdminRequest): Promise<{ w: WorkerEndpoint; reply: AdminReply }[]> {
  return Promise.all(workers.map(async (w) => ({
    w, reply: w.socket ? await ask(w.socket, r).catch((err: Error) => unavailable(w, `did not answer: ${err.message}`)) : unavailable(w, 'is not running'),
  })));
}

/** The first answer but 404 from the workers in turn; 404 when none knows it, 503 when one that might is down. */
async function firstThatKnows(workers: readonly WorkerEndpoint[], r: AdminRequest): Promise<AdminReply> {
  let notFound: AdminReply | undefined;
  let down: AdminReply | undefined;
  for (const w of workers) {
    const reply = w.socket ? await ask(w.socket, r).catch((err: Error) => unavailable(w, `did not answer: ${err.message}`)) : unavailable(w, 'is not running');
    if (reply.status === 404) notFound ??= reply;
    else if (reply.status === 503) down ??= reply;
    else return reply;
  }
  return down ?? notFound ?? { status: 404, body: { error: 'not found' } };
}

function sumInto(into: Record<string, number>, from: unknown): void {
  for (const [k, v] of Object.entries((from ?? {}) as Record<string, unknown>)) if (typeof v === 'number') into[k] = (into[k] ?? 0) + v;
}

/** The pod's status from its workers' (pure; pod-admin.test.ts). */
export function podStatus(answers: readonly { index: number; status: number; body: Json }[]): Json {
  const ok = answers.filter((a) => a.status === 200);
  const byState: Record<string, number> = {};
  const memory: Record<string, number> = {};
  let oldest = 0;
  let generation: number | undefined;
  for (const a of ok) {
    const q = (a.body.queue ?? {}) as { byState?: unknown; oldestSeconds?: number };
    sumInto(byState, q.byState);
    oldest = Math.max(oldest, q.oldestSeconds ?? 0);
    sumInto(memory, a.body.memoryBudget);
    const g = a.body.configGeneration;
    if (typeof g === 'number') generation = generation === undefined ? g : Math.min(generation, g);
  }
  const notReady = answers.find((a) => a.status !== 200 || a.body.ready !== 'ready');
  const first = ok[0]?.body ?? {};
  return {
    hostname: first.hostname,
    ready: notReady ? `worker ${notReady.index}: ${String(notReady.body.ready ?? notReady.body.error ?? 'not ready')}` : 'ready',
    queue: { byState, oldestSeconds: oldest },
    memoryBudget: memory,
    configGeneration: generation ?? 0,
    trafficLog: ok.some((a) => a.body.trafficLog === true),
    workers: answers.map((a) => ({ index: a.index, ready: a.status === 200 ? a.body.ready : String(a.body.error ?? a.status), queue: a.status === 200 ? a.body.queue : undefined })),
  };
}

export function podRouter(workers: () => readonly WorkerEndpoint[], config: () => unknown): AdminRouter {
  return async (r: AdminRequest, _logger: Logger): Promise<AdminReply | undefined> => {
    const ws = workers();
    if (ws.length === 0) return undefined;
    const [, area, id] = r.url.pathname.split('/').filter(Boolean);
    if (area === 'config') return { status: 200, body: configView(config() as { localDomains: unknown[] }) };
    if (area === 'status') {
      const all = await everyWorker(ws, r);
      return { status: 200, body: podStatus(all.map(({ w, reply }) => ({ index: w.index, status: reply.status, body: reply.body as Json }))) };
    }
    const list = r.method === 'GET' && !id;
    if (area === 'traffic' && list) {
      const all = await everyWorker(ws, r);
      const pages = all.filter((a) => a.reply.status === 200);
      if (pages.length === 0) return all[0]!.reply;
      const limit = Math.min(Math.max(Number(r.url.searchParams.get('limit') ?? 50) || 50, 1), 500);
      const down = all.filter((a) => a.reply.status !== 200).map((a) => a.w.index);
      const merged = mergeNewestFirst(pages.map((a) => (a.reply.body as { items: { received: number; qid: string }[] }).items), limit);
      return { status: 200, body: { ...merged, ...(down.length > 0 ? { partial: true, workersNotAnswering: down } : {}) } };
    }
    if ((area === 'queue' || area === 'backup') && list) {
      const all = await everyWorker(ws, r);
      const failed = all.find((a) => a.reply.status !== 200);
      if (failed) return failed.reply;
      const items = all.flatMap((a) => a.reply.body as Json[]);
      return { status: 200, body: area === 'queue' ? items.sort((a, b) => String(a.arrival).localeCompare(String(b.arrival)) || String(a.id).localeCompare(String(b.id))) : items };
    }
    if (area === 'queue' && id === 'flush' && r.method === 'POST') {
      const all = await everyWorker(ws, r);
      const failed = all.find((a) => a.reply.status !== 200);
      if (failed) return failed.reply;
      return { status: 200, body: { flushed: all.flatMap((a) => (a.reply.body as { flushed: unknown[] }).flushed) } };
    }
    return firstThatKnows(ws, r);
  };
}
