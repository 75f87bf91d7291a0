/**
 * The operator's few calls to the API server, on @kubernetes/client-node:
 * server-side apply of owned objects (field manager mailgw-operator),
 * status through the /status subresource, Events. One place, so the rest of
 * the operator works with plain objects.
 */
import * as k8s from '@kubernetes/client-node';

export const FIELD_MANAGER = 'mailgw-operator';
export const GROUP = 'mailgw.io';
export const VERSION = 'v1alpha1';

type Obj = Record<string, unknown>;

export class K8sApi {
  readonly kc: k8s.KubeConfig;
  readonly objects: k8s.KubernetesObjectApi;
  readonly custom: k8s.CustomObjectsApi;
  readonly core: k8s.CoreV1Api;
  readonly apps: k8s.AppsV1Api;
  readonly policy: k8s.PolicyV1Api;
  readonly coordination: k8s.CoordinationV1Api;
  readonly rbac: k8s.RbacAuthorizationV1Api;
  private readonly merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

  constructor(kc: k8s.KubeConfig) {
    this.kc = kc;
    this.objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.apps = kc.makeApiClient(k8s.AppsV1Api);
    this.policy = kc.makeApiClient(k8s.PolicyV1Api);
    this.coordination = kc.makeApiClient(k8s.CoordinationV1Api);
    this.rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  }

  private readonly ssa = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);

  apply(obj: Obj): Promise<k8s.KubernetesObject> {
    if (obj.kind === 'NetworkPolicy') {
      // Sent untyped: the typed serializer knows an ingress rule's `from` only as `_from` and would drop it,
      // leaving a rule that admits every source.
      const m = obj.metadata as { name: string; namespace: string };
      return this.custom.patchNamespacedCustomObject({
        group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', namespace: m.namespace, name: m.name, body: obj, fieldManager: FIELD_MANAGER, force: true,
      }, this.ssa) as Promise<k8s.KubernetesObject>;
    }
    return this.objects.patch(obj as k8s.KubernetesObject, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
  }

  /**
   * Takes an object's spec back wholesale (JSON merge patch: lists are
   * replaced, not merged). For drift that server-side apply cannot undo: a
   * list entry another field manager added or re-keyed (a Service port a
   * person changed) stays theirs and may even collide with ours.
   */
  replaceSpec(obj: Obj): Promise<unknown> {
    const m = obj.metadata as { name: string; namespace: string };
    const body = { apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: m.name, namespace: m.namespace }, spec: obj.spec };
    if (obj.kind === 'NetworkPolicy') {
      return this.custom.patchNamespacedCustomObject({ group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', namespace: m.namespace, name: m.name, body }, this.merge);
    }
    return this.objects.patch(body as k8s.KubernetesObject, undefined, undefined, FIELD_MANAGER, undefined, k8s.PatchStrategy.MergePatch);
  }

  /** Deletes a ConfigMap the operator owns (a config part no longer needed); one already gone is fine. */
  async deleteConfigMap(namespace: string, name: string): Promise<void> {
    try {
      await this.core.deleteNamespacedConfigMap({ namespace, name });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
  }

  /** Creates an object unless one of that name exists already (then leaves it as it is); true when it created it. */
  async createOnce(obj: Obj): Promise<boolean> {
    try {
      await this.objects.create(obj as k8s.KubernetesObject, undefined, undefined, FIELD_MANAGER);
      return true;
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
      return false;
    }
  }

  /** Replaces the status of a mailgw.io object (a merge patch that also clears keys no longer present). */
  async writeStatus(plural: string, namespace: string, name: string, status: Obj, previous: Obj | undefined): Promise<void> {
    const cleared = Object.fromEntries(Object.keys(previous ?? {}).filter((k) => !(k in status)).map((k) => [k, null]));
    await this.custom.patchNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, namespace, plural, name, body: { status: { ...cleared, ...status } }, fieldManager: FIELD_MANAGER }, this.merge);
  }

  /** Sets some keys of a mailgw.io object's status, leaving the others (a merge patch). */
  async patchStatus(plural: string, namespace: string, name: string, partial: Obj): Promise<void> {
    await this.custom.patchNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, namespace, plural, name, body: { status: partial }, fieldManager: FIELD_MANAGER }, this.merge);
  }

  async event(involved: { kind: string; namespace: string; name: string; uid?: string | undefined }, type: 'Normal' | 'Warning', reason: string, message: string, now: Date): Promise<void> {
    const ts = now.toISOString();
    await this.core.createNamespacedEvent({
      namespace: involved.namespace,
      body: {
        metadata: { generateName: `${involved.name}.`, namespace: involved.namespace },
        involvedObject: { apiVersion: `${GROUP}/${VERSION}`, kind: involved.kind, namespace: involved.namespace, name: involved.name, ...(involved.uid ? { uid: involved.uid } : {}) },
        type, reason, message: message.slice(0, 1024), count: 1,
        firstTimestamp: new Date(ts), lastTimestamp: new Date(ts),
        source: { component: FIELD_MANAGER },
        reportingComponent: FIELD_MANAGER,
      },
    });
  }
}
