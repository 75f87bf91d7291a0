/**
 * The autopilot (spec.autoscaling, mode Operator; capability level 5): every
 * interval the leader reads each autoscaled gateway's pods' own /metrics
 * (pod-metrics.ts), decides (autoscale-decide.ts) and, when the count
 * changes, writes it into the MailGateway's status.autoscaling — the
 * reconcile renders the StatefulSet's replicas from there — with an Event
 * for each change and the reason in the status. A scale-down is one pod at a
 * time: the StatefulSet removes the highest ordinal, whose gateway sees it is
 * scaled away (handover/retire-check.ts) and hands its queue to the others;
 * the next step waits until that pod is gone.
 *
 * The decision history lives in memory: a new leader starts its windows
 * afresh (it waits a full window before a scale-down), which errs on the
 * side of more pods.
 */
import type { Logger } from 'pino';
import { parseDuration } from '../api/index.ts';
import type { K8sApi } from './k8s-api.ts';
import { decide, prune, recommend, type AutoscaleSpec, type Recommendation, type Signals } from './autoscale-decide.ts';
import { cpuCores, scrape, type PodReading } from './pod-metrics.ts';
import { podSelector } from './render-objects.ts';
import { mailGateway, type MailGateway } from '../api/index.ts';

type Obj = Record<string, unknown>;

export interface AutopilotOptions {
  api: K8sApi;
  /** The MailGateways the operator sees (its informer) and the StatefulSets it owns. */
  gateways: () => Obj[];
  statefulSet: (namespace: string, name: string) => Obj | undefined;
  logger: Logger;
  /** The gateway pods' metrics port (the rendered container port 9090). */
  metricsPort: number;
  intervalMs: number;
  /** After a decision changed the count: reconcile that gateway now. */
  reconcile: (key: string) => void;
  now?: () => number;
}

interface Memory {
  /** The count this leader last decided: the informer's copy of the status may not show it yet. */
  replicas?: number | undefined;
  history: Recommendation[];
  cpu: Map<string, { seconds: number; at: number }>;
  /** What this leader last wrote into status.autoscaling. */
  written?: { replicas?: number; desiredReplicas?: number; reason?: string } | undefined;
  lastScaleAt?: number | undefined;
}

export function autoscaleSpec(a: NonNullable<MailGateway['spec']['autoscaling']>): AutoscaleSpec {
  const ms = (d: string | number) => (typeof d === 'number' ? d : parseDuration(d) ?? 0);
  return {
    minReplicas: a.minReplicas, maxReplicas: a.maxReplicas, targetQueueAgeMs: ms(a.targetQueueAge), targetCPUUtilization: a.targetCPUUtilization,
    scaleUpStabilizationMs: ms(a.scaleUpStabilization), scaleDownStabilizationMs: ms(a.scaleDownStabilization),
  };
}

export class Autopilot {
  private readonly o: AutopilotOptions;
  private readonly memory = new Map<string, Memory>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(o: AutopilotOptions) {
    this.o = o;
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One round over every autoscaled gateway (errors are logged; the next round tries again). */
  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const seen = new Set<string>();
      for (const raw of this.o.gateways()) {
        const meta = raw.metadata as { name: string; namespace?: string; uid?: string };
        const spec = (raw.spec ?? {}) as { autoscaling?: { mode?: string } & Obj };
        if (!spec.autoscaling || (spec.autoscaling.mode ?? 'Operator') !== 'Operator') continue;
        const key = `${meta.namespace ?? 'default'}/${meta.name}`;
        seen.add(key);
        await this.one(raw, key).catch((err: Error) => this.o.logger.warn({ event: 'autoscale-error', gateway: key, err: err.message }, 'autopilot: this round failed; trying again next round'));
      }
      for (const k of this.memory.keys()) if (!seen.has(k)) this.memory.delete(k);
    } finally {
      this.busy = false;
    }
  }

  private async one(raw: Obj, key: string): Promise<void> {
    const now = this.o.now?.() ?? Date.now();
    const meta = raw.metadata as { name: string; namespace?: string; uid?: string };
    const namespace = meta.namespace ?? 'default';
    const parsed = mailGateway.safeParse(raw);
    if (!parsed.success || !parsed.data.spec.autoscaling) return; // an invalid spec is the reconcile's to report (Degraded)
    const s = autoscaleSpec(parsed.data.spec.autoscaling);
    const status = (raw.status ?? {}) as { autoscaling?: { replicas?: number; lastScaleTime?: string } & Obj };
    const mem: Memory = this.memory.get(key) ?? { history: [], cpu: new Map(), lastScaleAt: status.autoscaling?.lastScaleTime ? Date.parse(status.autoscaling.lastScaleTime) : undefined };
    this.memory.set(key, mem);
    const current = mem.replicas ?? status.autoscaling?.replicas ?? s.minReplicas;

    const sts = this.o.statefulSet(namespace, `${meta.name}-gateway`) as { spec?: { replicas?: number; template?: { spec?: { containers?: { resources?: { requests?: Obj } }[] } } }; status?: { replicas?: number; currentReplicas?: number; readyReplicas?: number } } | undefined;
    const request = cpuCores(sts?.spec?.template?.spec?.containers?.[0]?.resources?.requests?.cpu) ?? 1;
    const { readings, pods } = await this.sample(namespace, meta.name);
    const signals = this.signals(readings, mem, request, now);
    mem.history = prune([...mem.history, recommend(current, signals, s, now)], s, now);
    // Settled: the StatefulSet has exactly the pods it is asked for, none of them still terminating (a retiring pod hands its queue over until it is gone).
    const wanted = sts?.spec?.replicas ?? -1;
    const settled = !!sts && (sts.status?.replicas ?? 0) === wanted && pods.total === wanted && pods.terminating === 0;
    const d = decide(current, mem.history, mem.lastScaleAt, settled, s, now);
    const next = {
      replicas: d.replicas, desiredReplicas: mem.history.at(-1)!.replicas, reason: d.reason,
      ...(d.changed ? { lastScaleTime: new Date(now).toISOString() } : status.autoscaling?.lastScaleTime ? { lastScaleTime: status.autoscaling.lastScaleTime } : {}),
      backlogSeconds: Math.round(signals.backlogSeconds * 10) / 10, ...(signals.cpuUtilization !== undefined ? { cpuUtilization: Math.round(signals.cpuUtilization) } : {}),
      connections: signals.connections, queued: signals.queued, sampledPods: signals.sampledPods,
    };
    const before = mem.written ?? status.autoscaling ?? {};
    // Written when the decision or its reason changed (not at every sample: the signals alone would rewrite the status each round).
    if (d.changed || before.replicas !== next.replicas || before.desiredReplicas !== next.desiredReplicas || before.reason !== next.reason) {
      await this.o.api.patchStatus('mailgateways', namespace, meta.name, { autoscaling: next });
      mem.written = next;
    }
    if (d.changed) {
      mem.lastScaleAt = now;
      mem.replicas = d.replicas;
      this.o.logger.info({ event: 'autoscaled', gateway: key, from: current, to: d.replicas, reason: d.reason }, `autopilot: ${key} ${current} → ${d.replicas} pods`);
      await this.o.api.event({ kind: 'MailGateway', namespace, name: meta.name, uid: meta.uid }, 'Normal', 'Scaled', `${current} → ${d.replicas} gateway pods: ${d.reason}`, new Date(now));
      this.o.reconcile(key);
    }
  }

  /** Every running gateway pod's reading (pods that do not answer are left out), and how many pods there are and are terminating. */
  private async sample(namespace: string, name: string): Promise<{ readings: Map<string, PodReading>; pods: { total: number; terminating: number } }> {
    const pods = await this.o.api.core.listNamespacedPod({ namespace, labelSelector: podSelector(name) });
    const out = new Map<string, PodReading>();
    await Promise.all(pods.items.filter((p) => p.status?.phase === 'Running' && p.status.podIP && !p.metadata?.deletionTimestamp).map(async (p) => {
      const ip = p.status!.podIP!;
      const r = await scrape(`http://${ip.includes(':') ? `[${ip}]` : ip}:${this.o.metricsPort}/metrics`);
      if (r) out.set(p.metadata!.name!, r);
    }));
    return { readings: out, pods: { total: pods.items.length, terminating: pods.items.filter((p) => p.metadata?.deletionTimestamp).length } };
  }

  private signals(readings: Map<string, PodReading>, mem: Memory, requestCores: number, now: number): Signals {
    let backlog = 0;
    let connections = 0;
    let queued = 0;
    const utilizations: number[] = [];
    for (const [pod, r] of readings) {
      backlog = Math.max(backlog, r.backlogSeconds);
      connections += r.connections;
      queued += r.queued;
      const prev = mem.cpu.get(pod);
      // A restarted pod's counter starts again: no rate from that pair.
      if (prev && r.cpuSeconds >= prev.seconds && now > prev.at) utilizations.push(((r.cpuSeconds - prev.seconds) / ((now - prev.at) / 1000) / requestCores) * 100);
      mem.cpu.set(pod, { seconds: r.cpuSeconds, at: now });
    }
    for (const pod of mem.cpu.keys()) if (!readings.has(pod)) mem.cpu.delete(pod);
    return {
      backlogSeconds: backlog, connections, queued, sampledPods: readings.size,
      ...(utilizations.length > 0 ? { cpuUtilization: utilizations.reduce((x, y) => x + y, 0) / utilizations.length } : {}),
    };
  }
}
