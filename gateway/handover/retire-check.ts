/**
 * Whether a stopping gateway is leaving for good, and who takes its queue.
 *
 * - Static peers (`--handover-peers`): every stop is final; the queue goes
 *   to the listed peers. For gateways run outside Kubernetes.
 * - Kubernetes (`--handover-statefulset`): the pod reads its StatefulSet
 *   (a Role lets it `get` that one object, nothing else). A pod whose
 *   ordinal is at or above `spec.replicas` is being scaled away: its peers
 *   are the ordinals that stay. Below it, the stop is a restart (rolling
 *   update, node drain, eviction): the queue stays on the pod's volume for
 *   the next start. When the StatefulSet is gone (MailGateway deleted) or
 *   the API cannot be asked, nothing is handed over and the spool stays.
 */
import type { Peer } from './handover-send.ts';

export interface RetirePlan {
  retiring: boolean;
  peers: Peer[];
  reason: string;
}

export type HandoverMode =
  | { kind: 'static'; peers: Peer[] }
  | { kind: 'kubernetes'; statefulSet: string; namespace: string; pod: string; peerAddress: string; apiTimeoutMs?: number };

export function parsePeer(text: string): Peer {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(text.trim());
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`expected HOST:PORT, got "${text}"`);
  return { host: m[1]!, port: Number(m[2]) };
}

/** `{pod}`, `{ordinal}`, `{statefulset}`, `{namespace}` in the template, e.g. `{pod}.{statefulset}-headless.{namespace}.svc:2526`. */
export function peerAddress(template: string, v: { statefulSet: string; namespace: string; ordinal: number }): Peer {
  return parsePeer(template
    .replaceAll('{pod}', `${v.statefulSet}-${v.ordinal}`)
    .replaceAll('{ordinal}', String(v.ordinal))
    .replaceAll('{statefulset}', v.statefulSet)
    .replaceAll('{namespace}', v.namespace));
}

export async function decideRetirement(mode: HandoverMode): Promise<RetirePlan> {
  if (mode.kind === 'static') {
    return mode.peers.length > 0
      ? { retiring: true, peers: mode.peers, reason: 'static handover peers are configured' }
      : { retiring: false, peers: [], reason: 'no handover peers configured' };
  }
  const m = new RegExp(`^${mode.statefulSet.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)$`).exec(mode.pod);
  if (!m) return { retiring: false, peers: [], reason: `pod ${mode.pod} is not a pod of StatefulSet ${mode.statefulSet}` };
  const ordinal = Number(m[1]);
  let replicas: number;
  try {
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    kc.loadFromDefault();
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const sts = await Promise.race([
      apps.readNamespacedStatefulSet({ name: mode.statefulSet, namespace: mode.namespace }),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the API server did not answer in time')), mode.apiTimeoutMs ?? 5000).unref()),
    ]);
    replicas = sts.spec?.replicas ?? 1;
  } catch (err) {
    const code = (err as { code?: number }).code;
    if (code === 404) return { retiring: false, peers: [], reason: `StatefulSet ${mode.statefulSet} is gone (MailGateway deleted): nobody to hand over to, the spool stays on its volume` };
    return { retiring: false, peers: [], reason: `cannot read StatefulSet ${mode.statefulSet} (${(err as Error).message}): treated as a restart, the spool stays` };
  }
  if (ordinal < replicas) return { retiring: false, peers: [], reason: `ordinal ${ordinal} < replicas ${replicas}: a restart, the spool stays` };
  const peers = Array.from({ length: replicas }, (_, i) => peerAddress(mode.peerAddress, { statefulSet: mode.statefulSet, namespace: mode.namespace, ordinal: i }));
  return peers.length > 0
    ? { retiring: true, peers, reason: `ordinal ${ordinal} >= replicas ${replicas}: scaled down` }
    : { retiring: false, peers: [], reason: 'scaled to zero: nobody to hand over to, the spool stays on its volume' };
}
