/**
 * Status of a MailGateway and of the LocalDomains/TrustedNetworks it took,
 * computed from what the reconcile saw. Pure; the clock is passed in.
 * Conditions keep their lastTransitionTime while their status stays.
 */
import type { z } from 'zod';
import type { condition, mailGatewayStatus } from '../api/index.ts';
import type { Finding } from './lint.ts';

export type Condition = z.output<typeof condition>;
export type GatewayStatus = z.output<typeof mailGatewayStatus>;

export function setCondition(previous: readonly Condition[] | undefined, next: Omit<Condition, 'lastTransitionTime'>, now: string): Condition {
  const old = previous?.find((c) => c.type === next.type);
  return { ...next, lastTransitionTime: old && old.status === next.status ? old.lastTransitionTime ?? now : now };
}

export interface GatewayObservation {
  generation: number;
  replicasWanted: number;
  statefulSet?: { generation: number; status: { observedGeneration?: number; replicas?: number; readyReplicas?: number; updatedReplicas?: number } } | undefined;
  domains: number;
  networks: number;
  configHash?: string | undefined;
  findings: Finding[];
  /** A spec that can never work (schema or lint error): the message. */
  invalid?: string | undefined;
  selector: string;
}

export function gatewayStatus(prev: GatewayStatus | undefined, o: GatewayObservation, now: string): GatewayStatus {
  const pc = prev?.conditions;
  const sts = o.statefulSet;
  const ready = sts?.status.readyReplicas ?? 0;
  const rolledOut = !!sts && (sts.status.observedGeneration ?? 0) >= sts.generation && (sts.status.updatedReplicas ?? sts.status.replicas ?? 0) >= o.replicasWanted;
  const allReady = !!sts && ready >= o.replicasWanted;
  const degraded = o.invalid !== undefined;
  const conditions: Condition[] = [
    setCondition(pc, degraded
      ? { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: o.invalid, observedGeneration: o.generation }
      : allReady
        ? { type: 'Ready', status: 'True', reason: 'ReplicasReady', message: `${ready}/${o.replicasWanted} gateway pods ready`, observedGeneration: o.generation }
        : { type: 'Ready', status: 'False', reason: 'WaitingForReplicas', message: `${ready}/${o.replicasWanted} gateway pods ready`, observedGeneration: o.generation }, now),
    setCondition(pc, !degraded && !(rolledOut && allReady)
      ? { type: 'Progressing', status: 'True', reason: 'RollingOut', message: 'gateway pods are being created or updated', observedGeneration: o.generation }
      : { type: 'Progressing', status: 'False', reason: degraded ? 'InvalidSpec' : 'RolledOut', observedGeneration: o.generation }, now),
    setCondition(pc, degraded
      ? { type: 'Degraded', status: 'True', reason: 'InvalidSpec', message: o.invalid, observedGeneration: o.generation }
      : { type: 'Degraded', status: 'False', reason: 'AsExpected', observedGeneration: o.generation }, now),
  ];
  return {
    observedGeneration: o.generation,
    conditions,
    replicas: sts?.status.replicas ?? 0,
    readyReplicas: ready,
    selector: o.selector,
    domains: o.domains,
    networks: o.networks,
    ...(o.configHash ? { configHash: o.configHash } : prev?.configHash ? { configHash: prev.configHash } : {}),
    ...(o.findings.length > 0 ? { lint: o.findings.map((f) => ({ code: f.code, severity: f.severity, field: `${f.object} ${f.field}`.slice(0, 256), message: f.message.slice(0, 1024) })) } : {}),
  };
}

export function attachedStatus(prev: { conditions?: Condition[] | undefined } | undefined, generation: number, accepted: boolean, reason: string, message: string, now: string) {
  return {
    observedGeneration: generation,
    conditions: [setCondition(prev?.conditions, { type: 'Ready', status: accepted ? 'True' : 'False', reason, message, observedGeneration: generation }, now)],
  };
}
