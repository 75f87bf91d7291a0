/**
 * The console's server (issue 17): one view over every pod of a gateway.
 * It holds no power of its own: the caller's bearer token goes with each
 * request to each pod's operations API, which checks it (SelfSubjectReview and
 * SelfSubjectAccessReview in a cluster), so the console can show or do nothing
 * the caller may not. It runs as its own process (`mailgw console`), apart
 * from the operator, whose ServiceAccount may write cluster objects: a
 * console bug never acts with the operator's rights.
 *
 *   GET  /                                            → the pages (console/web, built by npm run build:console)
 *   GET  /api/gateways                                → the gateways (the caller may list) and their pods
 *   GET  /api/gateways/NS/NAME/traffic?…              → every pod's traffic log, merged newest first
 *   GET  /api/gateways/NS/NAME/queue                  → every pod's queue
 *   GET  /api/gateways/NS/NAME/backup                 → every pod's backup store
 *   GET  /api/gateways/NS/NAME/status                 → every pod's health and load
 *   GET  /api/gateways/NS/NAME/config                 → the running config
 *   *    /api/gateways/NS/NAME/pods/POD/v1/…          → one pod's operations API (a timeline, an action)
 *
 * A pod that does not answer (in time, or at all) leaves the others'
 * results standing: the answer lists each pod with `ok` and, when it
 * failed, why, and says `partial: true`.
 */
import { createServer, type Server } from 'node:http';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Logger } from 'pino';
import { bearerToken, jsonSender, NEEDS_TOKEN } from '../gateway/admin/json-api.ts';
import { callerKubeConfigs } from '../gateway/admin/kube-auth.ts';
import { mergeNewestFirst } from '../gateway/admin/merge-pages.ts';

export interface PodRef {
  pod: string;
  /** Base URL of the pod's operations API (http://host:port). */
  url: string;
}

export interface GatewayRef {
  namespace: string;
  name: string;
}

/** A gateway as listed: in a cluster also what its MailGateway's status says (conditions, replicas, lint findings). */
export interface GatewayInfo extends GatewayRef {
  status?: { conditions?: unknown[] | undefined; replicas?: number | undefined; readyReplicas?: number | undefined; lint?: unknown[] | undefined } | undefined;
}

/** Where the gateways and their pods are. */
export interface GatewayDirectory {
  gateways(token: string): Promise<GatewayInfo[]>;
  pods(token: string, gateway: GatewayRef): Promise<PodRef[]>;
}

/** Gateways and pods given on the command line (`--pods NS/NAME=URL,URL`): local runs and tests. */
export class StaticDirectory implements GatewayDirectory {
  private readonly map: Map<string, PodRef[]>;

  constructor(map: Map<string, PodRef[]>) {
    this.map = map;
  }

  /** Parses `NS/NAME=URL,URL;NS/NAME=URL`; pods are named NAME-0, NAME-1… in order. */
  static parse(text: string): StaticDirectory {
    const map = new Map<string, PodRef[]>();
    for (const entry of text.split(';').map((e) => e.trim()).filter(Boolean)) {
      const m = /^([a-z0-9-]+)\/([a-z0-9-]+)=(.+)$/.exec(entry);
      if (!m) throw new Error(`--pods: expected NAMESPACE/NAME=URL,URL…, got ${JSON.stringify(entry)}`);
      const urls = m[3]!.split(',').map((u) => u.trim());
      for (const u of urls) if (!/^https?:\/\/[^/\s]+$/.test(u)) throw new Error(`--pods: ${JSON.stringify(u)} is not a base URL such as http://127.0.0.1:8443`);
      map.set(`${m[1]}/${m[2]}`, urls.map((url, i) => ({ pod: `${m[2]}-${i}`, url })));
    }
    return new StaticDirectory(map);
  }

  gateways(): Promise<GatewayRef[]> {
    return Promise.resolve([...this.map.keys()].map((k) => ({ namespace: k.split('/')[0]!, name: k.split('/')[1]! })));
  }

  pods(_token: string, g: GatewayRef): Promise<PodRef[]> {
    return Promise.resolve(this.map.get(`${g.namespace}/${g.name}`) ?? []);
  }
}

/** A gateway pod's operations API, by the names the operator renders (operator/render-objects.ts). Pure. */
export function podUrl(g: GatewayRef, ordinal: number, opsPort: number): PodRef {
  const sts = `${g.name}-gateway`;
  return { pod: `${sts}-${ordinal}`, url: `http://${sts}-${ordinal}.${sts}-headless.${g.namespace}.svc:${opsPort}` };
}

/**
 * Gateways found through the API server, asked with the caller's own token
 * (the console has no ServiceAccount rights of its own): the MailGateways
 * the caller may list — in `namespaces`, or cluster-wide — and their pods by
 * the StatefulSet's names the operator renders, `spec.replicas` of them.
 */
export class KubernetesDirectory implements GatewayDirectory {
  private readonly list: (token: string, namespace?: string) => Promise<(GatewayInfo & { replicas: number })[]>;
  private readonly namespaces: readonly string[] | undefined;
  private readonly opsPort: number;

  constructor(list: KubernetesDirectory['list'], o: { namespaces?: readonly string[] | undefined; opsPort: number }) {
    this.list = list;
    this.namespaces = o.namespaces;
    this.opsPort = o.opsPort;
  }

  /** Lists MailGateways through the process's kubeconfig's API server (in a pod: in-cluster), with the caller's token. */
  static async fromKubeconfig(o: { namespaces?: readonly string[] | undefined; opsPort: number }): Promise<KubernetesDirectory> {
    const { k8s, asCaller } = await callerKubeConfigs();
    return new KubernetesDirectory(async (token, namespace) => {
      const api = asCaller(token).makeApiClient(k8s.CustomObjectsApi);
      const r = (namespace
        ? await api.listNamespacedCustomObject({ group: 'mailgw.io', version: 'v1alpha1', namespace, plural: 'mailgateways' })
        : await api.listClusterCustomObject({ group: 'mailgw.io', version: 'v1alpha1', plural: 'mailgateways' })) as { items: { metadata: { namespace: string; name: string }; spec?: { replicas?: number }; status?: GatewayInfo['status'] }[] };
      return r.items.map((g) => ({
        namespace: g.metadata.namespace, name: g.metadata.name, replicas: g.spec?.replicas ?? 2,
        ...(g.status ? { status: { conditions: g.status.conditions, replicas: g.status.replicas, readyReplicas: g.status.readyReplicas, lint: g.status.lint } } : {}),
      }));
    }, o);
  }

  private async all(token: string): Promise<(GatewayInfo & { replicas: number })[]> {
    if (!this.namespaces) return this.list(token);
    const lists = await Promise.all(this.namespaces.map((ns) => this.list(token, ns).catch(() => [])));
    return lists.flat();
  }

  async gateways(token: string): Promise<GatewayInfo[]> {
    return (await this.all(token)).map(({ namespace, name, status }) => ({ namespace, name, ...(status ? { status } : {}) }));
  }

  async pods(token: string, g: GatewayRef): Promise<PodRef[]> {
    const found = (await (this.namespaces && !this.namespaces.includes(g.namespace) ? Promise.resolve([]) : this.list(token, g.namespace).catch(() => [])))
      .find((x) => x.name === g.name);
    return found ? Array.from({ length: found.replicas }, (_, i) => podUrl(g, i, this.opsPort)) : [];
  }
}

export interface PodAnswer {
  pod: string;
  ok: boolean;
  status?: number | undefined;
  error?: string | undefined;
}

type Json = Record<string, unknown>;

/** The built pages (npm run build:console → console/web/dist): path → [content type, bytes]. Only these are served. */
export function loadPages(dir = new URL('./web/dist/', import.meta.url).pathname): Map<string, [string, Buffer]> {
  const pages = new Map<string, [string, Buffer]>();
  const types: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };
  const walk = (sub: string) => {
    let names: string[];
    try {
      names = readdirSync(join(dir, sub));
    } catch {
      return;
    }
    for (const name of names) {
      const rel = sub ? `${sub}/${name}` : name;
      if (statSync(join(dir, rel)).isDirectory()) walk(rel);
      else if (types[extname(name)]) pages.set(`/${rel}`, [types[extname(name)]!, readFileSync(join(dir, rel))]);
    }
  };
  walk('');
  return pages;
}

/** What a browser may do with the console's pages: run and load only what this server sends. */
export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export interface ConsoleOptions {
  host: string;
  port: number;
  directory: GatewayDirectory;
  logger: Logger;
  /** Time a pod has to answer before it counts as not answering (default 3 s). */
  podTimeoutMs?: number;
  /** The pages to serve (default: the built ones, loadPages()). */
  pages?: Map<string, [string, Buffer]>;
}


export async function startConsole(o: ConsoleOptions): Promise<Server> {
  const timeoutMs = o.podTimeoutMs ?? 3000;
  const pages = o.pages ?? loadPages();
  const ask = async (pod: PodRef, method: string, path: string, token: string): Promise<{ status: number; body: unknown }> => {
    const res = await fetch(`${pod.url}${path}`, { method, headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
    return { status: res.status, body: await res.json() };
  };
  /** Every pod's answer to the same GET; failures named per pod. */
  const fanOut = async (pods: PodRef[], path: string, token: string) => Promise.all(pods.map(async (pod) => {
    try {
      const r = await ask(pod, 'GET', path, token);
      return r.status === 200 ? { pod: pod.pod, ok: true, status: 200, body: r.body } : { pod: pod.pod, ok: false, status: r.status, error: String((r.body as Json)?.error ?? `HTTP ${r.status}`) };
    } catch (err) {
      return { pod: pod.pod, ok: false, error: (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err as Error).message };
    }
  }));
  const summary = (answers: (PodAnswer & { body?: unknown })[]) => {
    const pods = answers.map(({ pod, ok, status, error }) => ({ pod, ok, ...(status ? { status } : {}), ...(error ? { error } : {}) }));
    // Every pod refusing the caller is the caller's problem (401/403), not a partial answer.
    const refused = answers.length > 0 && answers.every((a) => a.status === 401 || a.status === 403);
    return { pods, partial: answers.some((a) => !a.ok), refused: refused ? answers[0]!.status : undefined };
  };

  const server = createServer((req, res) => {
    const send = jsonSender(res);
    const handle = async () => {
      const method = req.method ?? 'GET';
      const url = new URL(req.url ?? '/', 'http://console');
      if (url.pathname === '/healthz' && method === 'GET') return send(200, { ok: true });
      if (method === 'GET' && !url.pathname.startsWith('/api/')) {
        const page = pages.get(url.pathname === '/' ? '/index.html' : url.pathname);
        if (!page) return send(404, { error: pages.size === 0 ? 'the console\'s pages are not built (npm run build:console)' : 'not found' });
        res.writeHead(200, {
          'content-type': page[0], 'content-security-policy': PAGE_CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer',
          'cache-control': url.pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-store',
        });
        return res.end(page[1]);
      }
      const token = bearerToken(req);
      if (!token) return send(...NEEDS_TOKEN);
      const p = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      if (p[0] !== 'api' || p[1] !== 'gateways') return send(404, { error: 'not found' });
      if (p.length === 2 && method === 'GET') {
        const list = await o.directory.gateways(token);
        return send(200, await Promise.all(list.map(async (g) => ({ ...g, pods: (await o.directory.pods(token, g)).map((x) => x.pod) }))));
      }
      const [, , namespace, name, area, podName, ...rest] = p;
      if (!namespace || !name || !area) return send(404, { error: 'not found' });
      const gateway = { namespace, name };
      const pods = await o.directory.pods(token, gateway);
      if (pods.length === 0) return send(404, { error: `no gateway ${namespace}/${name}, or it has no pods` });
      if (area === 'pods') {
        // CSRF: an action needs a header no cross-site form can send (and no cookie ever carries the token).
        if (method !== 'GET' && req.headers['x-mailgw-console'] !== '1') return send(403, { error: 'actions need the header x-mailgw-console: 1 (CSRF protection)' });
        const pod = pods.find((x) => x.pod === podName);
        if (!pod || rest[0] !== 'v1') return send(404, { error: `no pod ${String(podName)} in ${namespace}/${name}` });
        if (method !== 'GET' && method !== 'POST' && method !== 'DELETE') return send(405, { error: 'method not allowed' });
        try {
          const r = await ask(pod, method, `/${rest.map(encodeURIComponent).join('/')}${url.search}`, token);
          return send(r.status, r.body);
        } catch (err) {
          return send(502, { error: `pod ${pod.pod} did not answer: ${(err as Error).message}` });
        }
      }
      if (method !== 'GET' || p.length !== 5) return send(404, { error: 'not found' });
      if (area === 'traffic') {
        const limit = Math.min(Math.max(Number(url.searchParams.get('limit') ?? 50) || 50, 1), 500);
        const answers = await fanOut(pods, `/v1/traffic${url.search}`, token);
        const s = summary(answers);
        if (s.refused) return send(s.refused, { error: answers[0]!.error, pods: s.pods });
        const pages = answers.map((a) => (a.ok ? ((a.body as { items: { received: number; qid: string }[] }).items.map((m) => ({ ...m, pod: a.pod }))) : []));
        return send(200, { ...mergeNewestFirst(pages, limit), pods: s.pods, partial: s.partial });
      }
      if (area === 'status') {
        const answers = await fanOut(pods, '/v1/status', token);
        const s = summary(answers);
        if (s.refused) return send(s.refused, { error: answers[0]!.error, pods: s.pods });
        return send(200, { items: answers.filter((a) => a.ok).map((a) => ({ pod: a.pod, ...(a.body as Json) })), pods: s.pods, partial: s.partial });
      }
      if (area === 'config') {
        // Every pod runs the same config (one ConfigMap); the first that answers says it.
        const answers = await fanOut(pods, '/v1/config', token);
        const first = answers.find((a) => a.ok);
        const s = summary(answers);
        if (!first) return send(s.refused ?? 502, { error: answers[0]?.error ?? 'no pod answered', pods: s.pods });
        return send(200, { pod: first.pod, config: first.body, pods: s.pods, partial: s.partial });
      }
      if (area === 'queue' || area === 'backup') {
        const answers = await fanOut(pods, `/v1/${area}`, token);
        const s = summary(answers);
        if (s.refused) return send(s.refused, { error: answers[0]!.error, pods: s.pods });
        const items = answers.flatMap((a) => (a.ok ? (a.body as Json[]).map((e) => ({ ...e, pod: a.pod })) : []));
        return send(200, { items, pods: s.pods, partial: s.partial });
      }
      return send(404, { error: 'not found' });
    };
    handle().catch((err: Error & { code?: number }) => {
      // The API server refusing the caller's token (listing MailGateways) is the caller's answer, not ours.
      if ((err.code === 401 || err.code === 403) && !res.headersSent) return send(err.code, { error: `the API server refused this token (${err.code}) listing MailGateways` });
      o.logger.error({ event: 'console-error', err: err.message }, 'console request failed');
      if (!res.headersSent) send(500, { error: 'internal error' });
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return server;
}
