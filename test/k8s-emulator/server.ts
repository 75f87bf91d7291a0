/**
 * A Kubernetes API emulator for the operator's tests: the REST and watch
 * protocol over HTTP on loopback, so the real @kubernetes/client-node code
 * paths run against it (discovery, list/get/create/update/delete, JSON merge
 * patch, server-side apply, /status, watch with resourceVersion and 410).
 * What it does not emulate is listed in docs/testing.md.
 *
 * startEmulator() → { url, kubeconfig, store, restart(), stop() }.
 */
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { RESOURCES, apiVersionOf, type ResourceType } from './resources.ts';
import { ApiError, Store, selectorMatches, type WatchEvent } from './store.ts';

type Json = Record<string, unknown>;

export interface Emulator {
  url: string;
  port: number;
  kubeconfig: string;
  store: Store;
  /** Drops every connection and listens again on the same port; `compact` also forgets the watch history (410 for old watches). */
  restart(opts?: { compact?: boolean; downMs?: number }): Promise<void>;
  stop(): Promise<void>;
  /** Ends every open watch stream (as an API server does at its watch timeout). */
  endWatches(): void;
}

function status(code: number, reason: string, message: string, causes: unknown[] = []): Json {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code, ...(causes.length ? { details: { causes } } : {}) };
}

function discovery(): { groups: Json; resourceLists: Map<string, Json> } {
  const lists = new Map<string, Json>();
  for (const t of RESOURCES) {
    const gv = apiVersionOf(t);
    const list = lists.get(gv) ?? { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources: [] as Json[] };
    const verbs = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
    (list.resources as Json[]).push({ name: t.resource, singularName: t.kind.toLowerCase(), namespaced: t.namespaced, kind: t.kind, verbs });
    if (t.status) (list.resources as Json[]).push({ name: `${t.resource}/status`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: ['get', 'patch', 'update'] });
    lists.set(gv, list);
  }
  const groups = [...new Set(RESOURCES.filter((t) => t.group).map((t) => t.group))].map((g) => {
    const v = RESOURCES.find((t) => t.group === g)!.version;
    return { name: g, versions: [{ groupVersion: `${g}/${v}`, version: v }], preferredVersion: { groupVersion: `${g}/${v}`, version: v } };
  });
  return { groups: { kind: 'APIGroupList', apiVersion: 'v1', groups }, resourceLists: lists };
}

async function body(req: IncomingMessage): Promise<Json> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return {};
  const type = req.headers['content-type'] ?? '';
  try {
    return (type.includes('yaml') ? parseYaml(text) : JSON.parse(text)) as Json;
  } catch {
    throw new ApiError(400, 'BadRequest', 'request body is not valid JSON/YAML');
  }
}

export async function startEmulator(opts: { historyLimit?: number } = {}): Promise<Emulator> {
  const store = new Store(opts.historyLimit);
  store.typeOf = (group, resource) => RESOURCES.find((t) => t.group === group && t.resource === resource);
  const { groups, resourceLists } = discovery();
  const sockets = new Set<Socket>();
  const watches = new Set<ServerResponse>();

  const route = (path: string): { t: ResourceType; ns?: string; name?: string; sub?: 'status' } | undefined => {
    const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/(.*)$/.exec(path);
    if (!m) return undefined;
    const group = m[2] ?? '';
    const version = m[1] ?? m[3]!;
    let segs = m[4]!.split('/').filter(Boolean);
    let ns: string | undefined;
    if (segs[0] === 'namespaces' && segs.length >= 3) {
      ns = segs[1];
      segs = segs.slice(2);
    }
    const t = RESOURCES.find((r) => r.group === group && r.version === version && r.resource === segs[0]);
    if (!t || segs.length > 3 || (segs[2] !== undefined && segs[2] !== 'status')) return undefined;
    return { t, ...(ns !== undefined ? { ns } : {}), ...(segs[1] ? { name: segs[1] } : {}), ...(segs[2] ? { sub: 'status' as const } : {}) };
  };

  const watch = (res: ServerResponse, t: ResourceType, ns: string | undefined, q: URLSearchParams) => {
    const from = Number(q.get('resourceVersion') || store.resourceVersion);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const send = (e: { type: string; object: Json }) => res.write(`${JSON.stringify(e)}\n`);
    if (from < store.oldestWatchable) {
      send({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${store.oldestWatchable})`) });
      res.end();
      return;
    }
    const wanted = (e: WatchEvent) => e.resource === t && (ns === undefined || (e.object.metadata as Json).namespace === ns) && selectorMatches(e.object, q.get('labelSelector') ?? undefined);
    for (const e of store.eventsSince(from)) if (wanted(e)) send({ type: e.type, object: e.object });
    const listener = (e: WatchEvent) => {
      if (wanted(e)) send({ type: e.type, object: e.object });
    };
    store.watchers.add(listener);
    watches.add(res);
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    res.on('close', () => {
      store.watchers.delete(listener);
      watches.delete(res);
      if (timer) clearTimeout(timer);
    });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const q = url.searchParams;
    const json = (code: number, obj: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(obj));
    };
    if (req.method === 'GET' && url.pathname === '/version') return json(200, { major: '1', minor: '34', gitVersion: 'v1.34.0-mailgw-emulator', platform: 'linux/amd64' });
    if (req.method === 'GET' && url.pathname === '/api') return json(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
    if (req.method === 'GET' && url.pathname === '/apis') return json(200, groups);
    if (req.method === 'GET' && url.pathname === '/version') return json(200, { major: '1', minor: '31', gitVersion: 'v1.31.0-mailgw-emulator' });
    const gv = /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))\/?$/.exec(url.pathname);
    if (req.method === 'GET' && gv) {
      const list = resourceLists.get(gv[1] ?? gv[2]!);
      return list ? json(200, list) : json(404, status(404, 'NotFound', 'the server could not find the requested resource'));
    }
    const r = route(url.pathname);
    if (!r) return json(404, status(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`));
    const { t, ns, name, sub } = r;
    if (t.namespaced && name !== undefined && ns === undefined) return json(404, status(404, 'NotFound', 'namespace required'));
    const agent = String(req.headers['user-agent'] ?? 'unknown').split('/')[0]!;
    const manager = q.get('fieldManager') ?? agent;
    const verb = req.method === 'GET' ? (name !== undefined ? 'get' : (q.get('watch') === 'true' || q.get('watch') === '1') ? 'watch' : 'list')
      : ({ POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, string>)[req.method ?? ''] ?? 'unknown';
    store.audit.add(`${agent} ${verb} ${t.group}/${t.resource}${sub ? `/${sub}` : ''} ${ns ?? '*'}`);
    if (req.method === 'GET' && name === undefined) {
      if (q.get('watch') === 'true' || q.get('watch') === '1') return watch(res, t, ns, q);
      return json(200, { kind: `${t.kind}List`, apiVersion: apiVersionOf(t), metadata: { resourceVersion: store.resourceVersion }, items: store.list(t, ns, q.get('labelSelector') ?? undefined) });
    }
    if (req.method === 'GET') return json(200, store.get(t, ns, name!));
    if (req.method === 'POST' && name === undefined) return json(201, store.create(t, ns, await body(req), manager));
    if (req.method === 'PUT' && name !== undefined) return json(200, store.update(t, ns, name, await body(req), manager, sub));
    if (req.method === 'PATCH' && name !== undefined) {
      const type = String(req.headers['content-type'] ?? '');
      const patch = await body(req);
      if (type.startsWith('application/apply-patch')) return json(200, store.apply(t, ns, name, patch, q.get('fieldManager') ?? '', q.get('force') === 'true', sub));
      if (type.startsWith('application/merge-patch+json')) return json(200, store.patch(t, ns, name, patch, manager, sub));
      return json(415, status(415, 'UnsupportedMediaType', `the emulator does not support patch type ${type}`));
    }
    if (req.method === 'DELETE' && name !== undefined) return json(200, store.delete(t, ns, name));
    return json(405, status(405, 'MethodNotAllowed', `${req.method} is not supported here`));
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      const e = err instanceof ApiError ? err : new ApiError(500, 'InternalError', err.message);
      if (!res.headersSent) {
        res.writeHead(e.code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(status(e.code, e.reason, e.message, e.causes)));
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const listen = (port: number) => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'mailgw-k8s-'));
  const kubeconfig = join(dir, 'kubeconfig.yaml');
  writeFileSync(kubeconfig, `apiVersion: v1
kind: Config
clusters:
- name: emulator
  cluster:
    server: ${url}
    insecure-skip-tls-verify: true
users:
- name: operator
  user:
    token: emulator-token
contexts:
- name: emulator
  context: { cluster: emulator, user: operator, namespace: default }
current-context: emulator
`);
  const close = () => new Promise<void>((resolve) => {
    for (const w of watches) w.destroy();
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  });
  return {
    url, port, kubeconfig, store,
    restart: async (o = {}) => {
      await close();
      if (o.compact) store.compact();
      if (o.downMs) await new Promise((r) => setTimeout(r, o.downMs));
      await listen(port);
    },
    stop: close,
    endWatches: () => {
      for (const w of watches) w.end();
    },
  };
}
