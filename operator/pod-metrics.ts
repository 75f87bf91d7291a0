/**
 * The autopilot's signals from a gateway pod's own /metrics (Prometheus
 * text format; the pod's supervisor adds its workers up): backlog, CPU
 * seconds, open connections, queued messages. Parsing is pure; scrape()
 * reads one pod, bounded in time.
 */

export interface PodReading {
  backlogSeconds: number;
  /** CPU seconds the pod's processes used so far (supervisor and workers). */
  cpuSeconds: number;
  connections: number;
  queued: number;
}

/** The samples of the series named, summed over their labels; undefined when absent. Pure. */
function sum(text: string, name: string): number | undefined {
  let total: number | undefined;
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})? ([^ \\n]+)`, 'gm');
  for (const m of text.matchAll(re)) {
    const v = Number(m[1]);
    if (Number.isFinite(v)) total = (total ?? 0) + v;
  }
  return total;
}

/** The signals in a scrape; undefined when it is not a mailgw gateway's. Pure. */
export function parseReading(text: string): PodReading | undefined {
  const cpu = sum(text, 'mailgw_gateway_process_process_cpu_seconds_total');
  if (cpu === undefined) return undefined;
  return {
    backlogSeconds: sum(text, 'mailgw_gateway_queue_backlog_seconds') ?? 0,
    cpuSeconds: cpu + (sum(text, 'mailgw_gateway_supervisor_process_process_cpu_seconds_total') ?? 0),
    connections: sum(text, 'mailgw_gateway_connections_open') ?? 0,
    queued: sum(text, 'mailgw_gateway_queue_messages') ?? 0,
  };
}

/** Reads one pod's /metrics; undefined when it does not answer within timeoutMs or answers something else. */
export async function scrape(url: string, timeoutMs = 5000): Promise<PodReading | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return undefined;
    return parseReading(await res.text());
  } catch {
    return undefined;
  }
}

/** CPU in a Kubernetes quantity ("500m", "2", "1.5") as cores; undefined when unset or unreadable. Pure. */
export function cpuCores(q: unknown): number | undefined {
  if (typeof q === 'number') return q > 0 ? q : undefined;
  if (typeof q !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(q.trim());
  if (!m) return undefined;
  const v = Number(m[1]) / (m[2] ? 1000 : 1);
  return v > 0 ? v : undefined;
}
