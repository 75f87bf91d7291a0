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

/** The status holds at most this many findings (the CRD's maxItems); errors first. */
export const STATUS_LINT_MAX = 100;

/**
 * The findings as the status lists them: errors before warnings, and past
 * STATUS_LINT_MAX the last entry says how many more there are (a gateway with
 * 100,000 LocalDomains may have a warning on each; its status must still be
 * written).
 */
export function statusLint(findings: readonly Finding[]): { code: string; severity: Finding['severity']; field: string; message: string }[] {
  const entry = (f: Finding) => ({ code: f.code, severity: f.severity, field: `${f.object} ${f.field}`.slice(0, 256), message: f.message.slice(0, 1024) });
  const ordered = [...findings.filter((f) => f.severity === 'Error'), ...findings.filter((f) => f.severity !== 'Error')];
  if (ordered.length <= STATUS_LINT_MAX) return ordered.map(entry);
  const shown = ordered.slice(0, STATUS_LINT_MAX - 1).map(entry);
  const rest = ordered.slice(STATUS_LINT_MAX - 1);
  const codes = [...new Set(rest.map((f) => f.code))].join(', ');
  return [...shown, { code: 'MGW000', severity: rest.some((f) => f.severity === 'Error') ? 'Error' as const : 'Warning' as const, field: '', message: `and ${rest.length} more findings (${codes}): \`mailgw validate\` on the manifests lists them all` }];
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
    ...(o.findings.length > 0 ? { lint: statusLint(o.findings) } : {}),
  };
}

export function attachedStatus(prev: { conditions?: Condition[] | undefined } | undefined, generation: number, accepted: boolean, reason: string, message: string, now: string) {
  return {
    observedGeneration: generation,
    conditions: [setCondition(prev?.conditions, { type: 'Ready', status: accepted ? 'True' : 'False', reason, message, observedGeneration: generation }, now)],
  };
}
