/**
 * Who may use the operations API in a cluster: Kubernetes decides, as
 * kube-rbac-proxy and aggregated API servers do. A bearer token is checked
 * with a TokenReview (any token the API server accepts: a ServiceAccount's,
 * `kubectl create token`, an OIDC id token); each permission with a
 * SubjectAccessReview for that user on this gateway's MailGateway:
 *
 *   view     get     mailgateways/messages  (traffic log, queue, backup headers and text)
 *   operate  update  mailgateways/queue     (hold, release, flush, delete; delete a backup)
 *   release  release mailgateways/backups   (a backed-up original back into the mail flow)
 *
 * These subresources are not served by the API server; they exist so that a
 * Role can grant them, apart from the right to read or change the
 * MailGateway itself. Answers are cached for a few seconds (bounded), so a
 * page of the console is not a storm of reviews. The gateway's own
 * ServiceAccount needs `create` on tokenreviews and subjectaccessreviews
 * (the ClusterRole system:auth-delegator).
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

/** The two reviews, as the API server answers them (kube-auth talks to it through @kubernetes/client-node). */
export interface Reviews {
  tokenReview(token: string): Promise<{ authenticated: boolean; user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> } | undefined; error?: string | undefined }>;
  subjectAccessReview(user: { username: string; uid?: string | undefined; groups?: string[] | undefined; extra?: Record<string, string[]> | undefined }, check: ResourceCheck): Promise<boolean>;
}

/** Reviews through the API server the process's kubeconfig (in a pod: its ServiceAccount) points at. */
export async function apiServerReviews(timeoutMs = 5000): Promise<Reviews> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const authn = kc.makeApiClient(k8s.AuthenticationV1Api);
  const authz = kc.makeApiClient(k8s.AuthorizationV1Api);
  const bounded = <T>(p: Promise<T>) => Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the API server did not answer in time')), timeoutMs).unref())]);
  return {
    tokenReview: async (token) => {
      const r = await bounded(authn.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } }));
      return { authenticated: Boolean(r.status?.authenticated), user: r.status?.user, error: r.status?.error };
    },
    subjectAccessReview: async (user, c) => {
      const r = await bounded(authz.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
          spec: { user: user.username, ...(user.uid ? { uid: user.uid } : {}), ...(user.groups ? { groups: user.groups } : {}), ...(user.extra ? { extra: user.extra } : {}), resourceAttributes: c },
        },
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
      const r = await this.reviews.tokenReview(token);
      const username = r.user?.username;
      if (!r.authenticated || !username) return undefined;
      const user = { username, uid: r.user?.uid, groups: r.user?.groups, extra: r.user?.extra };
      return {
        user: username,
        can: (p: Permission) => this.decisions.get(`${key}\0${p}`, () => this.reviews.subjectAccessReview(user, accessFor(p, this.namespace, this.name))),
      };
    });
  }
}
