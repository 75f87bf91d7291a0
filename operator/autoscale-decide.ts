/**
 * The autopilot's decision (spec.autoscaling, mode Operator), pure: from
 * the pods' signals a recommendation, and from the recommendations over the
 * stabilization windows whether to change the replica count now.
 *
 * - Backlog: the oldest message still waiting for its first delivery
 *   attempt, over all pods. Above targetQueueAge the gateway is behind: up,
 *   in proportion (at most doubling per step). Deferred mail, waiting for a
 *   next hop that is down, is not backlog: more pods would not help it.
 * - CPU: the pods' average use of their CPU request, as the
 *   HorizontalPodAutoscaler computes it (replicas × use / target, with a 10 %
 *   tolerance).
 * - Up when every recommendation of the last scaleUpStabilization asked for
 *   more (to the least of them); down when every one of the last
 *   scaleDownStabilization asked for fewer, one pod at a time, only once the
 *   previous change has settled (the retiring pod handed its queue over and
 *   is gone) and no sooner than scaleDownStabilization after the last change.
 */

export interface AutoscaleSpec {
  minReplicas: number;
  maxReplicas: number;
  targetQueueAgeMs: number;
  targetCPUUtilization: number;
  scaleUpStabilizationMs: number;
  scaleDownStabilizationMs: number;
}

export interface Signals {
  /** Oldest message waiting for its first attempt, over all pods (seconds). */
  backlogSeconds: number;
  /** Average CPU of the pods in percent of their request; undefined until two samples exist. */
  cpuUtilization?: number | undefined;
  connections: number;
  queued: number;
  sampledPods: number;
}

export interface Recommendation {
  at: number;
  replicas: number;
  reason: string;
}

const clamp = (n: number, s: AutoscaleSpec) => Math.max(s.minReplicas, Math.min(s.maxReplicas, n));

/** What the signals ask for now. Pure. */
export function recommend(current: number, sig: Signals, s: AutoscaleSpec, at: number): Recommendation {
  const base = Math.max(1, current);
  const target = s.targetQueueAgeMs / 1000;
  const byBacklog = sig.backlogSeconds > target ? Math.ceil(base * Math.min(2, sig.backlogSeconds / target)) : undefined;
  let byCpu: number | undefined;
  if (sig.cpuUtilization !== undefined) {
    const ratio = sig.cpuUtilization / s.targetCPUUtilization;
    byCpu = Math.abs(ratio - 1) <= 0.1 ? base : Math.ceil(base * ratio);
  }
  const wanted = Math.max(byBacklog ?? 0, byCpu ?? 0, 1);
  const replicas = clamp(wanted, s);
  const cpu = sig.cpuUtilization === undefined ? 'CPU not measured yet' : `CPU ${Math.round(sig.cpuUtilization)}% of request (target ${s.targetCPUUtilization}%)`;
  const backlog = `backlog ${sig.backlogSeconds.toFixed(1)} s (target ${target} s)`;
  const lead = byBacklog !== undefined && byBacklog >= (byCpu ?? 0) ? `${backlog}, ${cpu}` : `${cpu}, ${backlog}`;
  const bound = replicas !== wanted ? ` (${replicas === s.maxReplicas ? 'maxReplicas' : 'minReplicas'} ${replicas})` : '';
  return { at, replicas, reason: `${lead}${bound}` };
}

export interface Decision {
  replicas: number;
  changed: boolean;
  reason: string;
}

/**
 * Whether to change `current` now, given the recommendations so far (oldest
 * first, the latest last), when the count last changed and whether the
 * StatefulSet has settled since. Pure.
 */
export function decide(current: number, history: readonly Recommendation[], lastScaleAt: number | undefined, settled: boolean, s: AutoscaleSpec, now: number): Decision {
  const latest = history.at(-1);
  if (!latest) return { replicas: current, changed: false, reason: 'no sample yet' };
  if (current < s.minReplicas || current > s.maxReplicas) {
    const to = clamp(current, s);
    return { replicas: to, changed: true, reason: `outside minReplicas ${s.minReplicas} and maxReplicas ${s.maxReplicas}` };
  }
  const since = (ms: number) => history.filter((r) => r.at >= now - ms);
  // Covered: a recommendation at or before the window's start exists, so the window saw the whole time.
  const covered = (ms: number) => ms === 0 || history.some((r) => r.at <= now - ms);
  const quiet = (ms: number) => lastScaleAt === undefined || now - lastScaleAt >= ms;
  if (latest.replicas > current) {
    const window = since(s.scaleUpStabilizationMs);
    if (covered(s.scaleUpStabilizationMs) && window.every((r) => r.replicas > current) && quiet(s.scaleUpStabilizationMs)) {
      const to = Math.min(...window.map((r) => r.replicas));
      return { replicas: to, changed: true, reason: `scaled up: ${latest.reason}` };
    }
    return { replicas: current, changed: false, reason: `waiting to scale up (stabilization ${s.scaleUpStabilizationMs / 1000} s): ${latest.reason}` };
  }
  if (latest.replicas < current) {
    const window = since(s.scaleDownStabilizationMs);
    if (!settled) return { replicas: current, changed: false, reason: `waiting for the last change to settle (a retiring pod hands its queue over): ${latest.reason}` };
    if (covered(s.scaleDownStabilizationMs) && window.every((r) => r.replicas < current) && quiet(s.scaleDownStabilizationMs)) {
      return { replicas: current - 1, changed: true, reason: `scaled down by one: ${latest.reason}` };
    }
    return { replicas: current, changed: false, reason: `waiting to scale down (stabilization ${s.scaleDownStabilizationMs / 1000} s): ${latest.reason}` };
  }
  return { replicas: current, changed: false, reason: `steady: ${latest.reason}` };
}

/** The recommendations still inside the longer window (older ones can no longer matter). Pure. */
export function prune(history: readonly Recommendation[], s: AutoscaleSpec, now: number): Recommendation[] {
  const keep = Math.max(s.scaleUpStabilizationMs, s.scaleDownStabilizationMs);
  const inside = history.filter((r) => r.at >= now - keep);
  // One just before the window keeps it covered.
  const before = history.filter((r) => r.at < now - keep).at(-1);
  return before ? [before, ...inside] : inside;
}
