/**
 * Who may use the operations API in a cluster: Kubernetes decides. The
 * gateway asks the API server *as the caller*, with the caller's own bearer
 * token (a ServiceAccount's, `kubectl create token`, an OIDC id token):
 * a SelfSubjectReview says who the token is (401: nobody), a
 * SelfSubjectAccessReview whether that user may, on this gateway's
 * MailGateway:
 *
 *   view     get     mailgateways/messages  (traffic log, queue, backup headers and text)
 *   operate  update  mailgateways/queue     (hold, release, flush, delete; delete a backup)
 *   release  release mailgateways/backups   (a backed-up original back into the mail flow)
 *
 * Every authenticated user may ask these two questions about themselves
 * (system:basic-user), so the gateway pods need no permission of their own
 * for it: no TokenReview, no auth-delegator binding. The subresources are
 * not served by the API server; they exist so that a Role can grant them
 * apart from the right to read or change the MailGateway itself. Answers
 * are cached for a few seconds (bounded), so a page of the console is not
 * a storm of reviews.
 */
import { createHash } from 'node:crypto';
import type { Authenticator, OpsIdentity } from './ops-server.ts';
import type { Permission } from './admin-routes.ts';

export interface ResourceCheck {
  group: string;
  resource: string;
  subresource: string;
  verb: string;
  namespace: string;
  name: string;
}

/** The SubjectAccessReview attributes a permission stands for on one MailGateway. Pure. */
export function accessFor(p: Permission, namespace: string, name: string): ResourceCheck {
  const [verb, subresource] = p === 'view' ? ['get', 'messages'] : p === 'operate' ? ['update', 'queue'] : ['release', 'backups'];
  return { group: 'mailgw.io', resource: 'mailgateways', subresource, verb, namespace, name };
}

/** The two questions, asked of the API server with the caller's token. */
export interface Reviews {
  /** Who the token is, or undefined when the API server does not accept it. */
  whoAmI(token: string): Promise<string | undefined>;
  canI(token: string, check: ResourceCheck): Promise<boolean>;
}

/**
 * The client library and a KubeConfig per caller: the API server (and its CA)
 * of the process's kubeconfig (in a pod: in-cluster), the caller's bearer
 * token instead of the process's credentials. Shared with the console.
 */
export async function callerKubeConfigs(): Promise<{ k8s: typeof import('@kubernetes/client-node'); asCaller: (token: string) => import('@kubernetes/client-node').KubeConfig }> {
  const k8s = await import('@kubernetes/client-node');
  const base = new k8s.KubeConfig();
  base.loadFromDefault();
  const cluster = base.getCurrentCluster();
  if (!cluster) throw new Error('no Kubernetes API server configured (in-cluster config or KUBECONFIG)');
  return {
    k8s,
    asCaller: (token) => {
      const kc = new k8s.KubeConfig();
      kc.loadFromOptions({ clusters: [cluster], users: [{ name: 'caller', token }], contexts: [{ name: 'caller', cluster: cluster.name, user: 'caller' }], currentContext: 'caller' });
      return kc;
    },
  };
}

/** Reviews through the API server of the process's kubeconfig, made with the caller's token. */
export async function apiServerReviews(timeoutMs = 5000): Promise<Reviews> {
  const { k8s, asCaller } = await callerKubeConfigs();
  const bounded = <T>(p: Promise<T>) => Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the API server did not answer in time')), timeoutMs).unref())]);
  return {
    whoAmI: async (token) => {
      try {
        const r = await bounded(asCaller(token).makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } }));
        return r.status?.userInfo?.username || undefined;
      } catch (err) {
        if ((err as { code?: number }).code === 401) return undefined;
        throw err;
      }
    },
    canI: async (token, c) => {
      const r = await bounded(asCaller(token).makeApiClient(k8s.AuthorizationV1Api).createSelfSubjectAccessReview({
        body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: c } },
      }));
      return Boolean(r.status?.allowed);
    },
  };
}

interface Cached<T> {
  value: T;
  until: number;
}

/** A small time-bounded cache; past `max` entries it starts over (a token flood cannot grow it). */
class TtlCache<T> {
  private readonly map = new Map<string, Cached<T>>();
  private readonly ttlMs: number;
  private readonly max: number;

  constructor(ttlMs: number, max = 1000) {
    this.ttlMs = ttlMs;
    this.max = max;
  }

  async get(key: string, load: () => Promise<T>, now = Date.now()): Promise<T> {
    const hit = this.map.get(key);
    if (hit && hit.until > now) return hit.value;
    const value = await load();
    if (this.map.size >= this.max) this.map.clear();
    this.map.set(key, { value, until: now + this.ttlMs });
    return value;
  }
}

export class KubernetesAuthenticator implements Authenticator {
  private readonly tokens: TtlCache<OpsIdentity | undefined>;
  private readonly decisions: TtlCache<boolean>;
  private readonly reviews: Reviews;
  private readonly namespace: string;
  private readonly name: string;

  constructor(reviews: Reviews, gateway: { namespace: string; name: string }, cacheMs = 10_000) {
    this.reviews = reviews;
    this.namespace = gateway.namespace;
    this.name = gateway.name;
    this.tokens = new TtlCache(cacheMs);
    this.decisions = new TtlCache(cacheMs);
  }

  authenticate(token: string): Promise<OpsIdentity | undefined> {
    const key = createHash('sha256').update(token).digest('base64');
    return this.tokens.get(key, async () => {
      const user = await this.reviews.whoAmI(token);
      if (!user) return undefined;
      return {
        user,
        can: (p: Permission) => this.decisions.get(`${key}\0${p}`, () => this.reviews.canI(token, accessFor(p, this.namespace, this.name))),
      };
    });
  }
}
