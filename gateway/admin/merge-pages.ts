/**
 * Pages of traffic-log entries from several sources — a pod's worker
 * processes (gateway/workers/pod-admin.ts), a gateway's pods (the console) —
 * merged into one page, newest first.
 */

/** Merges pages of traffic-log entries (newest first, by received then qid) into one page of `limit`. Pure. */
export function mergeNewestFirst<T extends { received: number; qid: string }>(pages: T[][], limit: number): { items: T[]; next?: string | undefined } {
  const all = pages.flat().sort((a, b) => b.received - a.received || (a.qid < b.qid ? 1 : a.qid > b.qid ? -1 : 0));
  const items = all.slice(0, limit);
  const last = items.at(-1);
  // The cursor is a position in one total order (time, then queue id), so the same cursor pages every pod.
  return { items, ...(all.length > limit || pages.some((p) => p.length >= limit) ? (last ? { next: `${last.received}:${last.qid}` } : {}) : {}) };
}
