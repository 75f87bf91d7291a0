/**
 * Status of the three resources, written by the operator through /status.
 * Conditions are a list keyed by `type` (server-side apply merges them).
 */
import { z } from 'zod';

export const condition = z.strictObject({
  type: z.string().max(64).describe('Condition type: Ready, Progressing, Degraded, Accepted.'),
  status: z.enum(['True', 'False', 'Unknown']).describe('True, False or Unknown.'),
  reason: z.string().max(128).optional().describe('One CamelCase word saying why.'),
  message: z.string().max(4096).optional().describe('What happened, for humans.'),
  lastTransitionTime: z.string().max(64).optional().describe('When the status last changed (RFC 3339).'),
  observedGeneration: z.number().int().min(0).optional().describe('The metadata.generation this condition is about.'),
});

export const conditions = z
  .array(condition)
  .max(16)
  .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
  .describe('Current conditions, one per type.');

export const lintFinding = z.strictObject({
  code: z.string().max(16).describe('Stable finding code, e.g. MGW101.'),
  severity: z.enum(['Error', 'Warning']).describe('Error blocks the rollout; Warning does not.'),
  field: z.string().max(256).describe('Field the finding is about.'),
  message: z.string().max(1024).describe('What is wrong and how to fix it.'),
});

export const mailGatewayStatus = z.strictObject({
  observedGeneration: z.number().int().min(0).optional().describe('The metadata.generation the operator last acted on.'),
  conditions: conditions.optional(),
  replicas: z.number().int().min(0).optional().describe('Gateway pods that exist.'),
  readyReplicas: z.number().int().min(0).optional().describe('Gateway pods that are ready.'),
  selector: z.string().max(1024).optional().describe('Label selector of the gateway pods (for the scale subresource).'),
  domains: z.number().int().min(0).optional().describe('LocalDomains accepted by this gateway.'),
  networks: z.number().int().min(0).optional().describe('TrustedNetworks accepted by this gateway.'),
  configHash: z.string().max(128).optional().describe('Hash of the rendered gateway config now rolled out.'),
  lint: z.array(lintFinding).max(100).optional().describe('Findings of the integration-scheme lint.'),
  autoscaling: z.strictObject({
    replicas: z.number().int().min(0).describe('The replica count the autoscaler decided (what the StatefulSet is given).'),
    desiredReplicas: z.number().int().min(0).optional().describe('What the last sample asked for, before the stabilization windows.'),
    reason: z.string().max(1024).optional().describe('Why, in words: the signal that decided and its value against its target.'),
    lastScaleTime: z.string().max(64).optional().describe('When the replica count last changed.'),
    backlogSeconds: z.number().min(0).optional().describe('The oldest message waiting for its first delivery attempt, over all pods.'),
    cpuUtilization: z.number().min(0).optional().describe('The pods\' average CPU, in percent of their request.'),
    connections: z.number().int().min(0).optional().describe('SMTP connections open, over all pods.'),
    queued: z.number().int().min(0).optional().describe('Messages queued, over all pods.'),
    sampledPods: z.number().int().min(0).optional().describe('Pods whose metrics were read in the last sample.'),
  }).optional().describe('The autopilot (spec.autoscaling): its decision and the signals behind it.'),
});

export const attachedStatus = z.strictObject({
  observedGeneration: z.number().int().min(0).optional().describe('The metadata.generation the operator last acted on.'),
  conditions: conditions.optional(),
});
