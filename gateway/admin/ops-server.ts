/**
 * The operations API (issue 17): the administration requests of
 * admin-routes.ts over HTTP on their own port, for the console and for
 * scripts. Every request carries a bearer token; the authenticator says
 * who it is and what it may do (`view`, `operate`, `release`), and each
 * request is checked server-side before anything happens. Refusals are
 * logged (`admin-denied`), actions by admin-routes.ts (`admin`).
 *
 * Answers are JSON with `cache-control: no-store`, `nosniff` and a
 * Content-Security-Policy that lets a browser run nothing from them.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { permissionFor, type AdminRouter, type Permission } from './admin-routes.ts';
import { bearerToken, jsonSender, NEEDS_TOKEN } from './json-api.ts';

export interface OpsIdentity {
  user: string;
  can(p: Permission): Promise<boolean>;
}

export interface Authenticator {
  /** Who a bearer token is, or undefined when it is nobody. */
  authenticate(token: string): Promise<OpsIdentity | undefined>;
}

export interface StaticToken {
  token: string;
  user: string;
  permissions: readonly Permission[];
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Fixed tokens (local mode: `mailgw up --console` prints them), compared in constant time. */
export class StaticTokens implements Authenticator {
  private readonly tokens: { digest: Buffer; user: string; permissions: ReadonlySet<Permission> }[];

  constructor(tokens: readonly StaticToken[]) {
    this.tokens = tokens.map((t) => ({ digest: digest(t.token), user: t.user, permissions: new Set(t.permissions) }));
  }

  authenticate(token: string): Promise<OpsIdentity | undefined> {
    const d = digest(token);
    let found: (typeof this.tokens)[number] | undefined;
    for (const t of this.tokens) if (timingSafeEqual(t.digest, d)) found = t;
    return Promise.resolve(found ? { user: found.user, can: (p) => Promise.resolve(found.permissions.has(p)) } : undefined);
  }
}


/** `router` and `logger` answer per request: the gateway behind them is built after every listener is bound, and its logger feeds the traffic log. */
export async function startOpsServer(host: string, port: number, router: AdminRouter, auth: Authenticator, logger: () => Logger): Promise<Server> {
  const server = createServer((req, res) => {
    const send = jsonSender(res);
    const handle = async () => {
      const method = req.method ?? 'GET';
      const log = logger();
      const url = new URL(req.url ?? '/', 'http://ops');
      const bearer = bearerToken(req);
      let who: OpsIdentity | undefined;
      try {
        who = bearer ? await auth.authenticate(bearer) : undefined;
      } catch (err) {
        log.error({ event: 'ops-auth-error', err: (err as Error).message }, 'operations API: the token could not be checked');
        return send(503, { error: 'the token could not be checked; try again' });
      }
      if (!who) return send(...NEEDS_TOKEN);
      const permission = permissionFor(method, url.pathname);
      if (!permission) return send(404, { error: `no such request: ${method} ${url.pathname}` });
      let allowed: boolean;
      try {
        allowed = await who.can(permission);
      } catch (err) {
        log.error({ event: 'ops-auth-error', err: (err as Error).message }, 'operations API: the permission could not be checked');
        return send(503, { error: 'the permission could not be checked; try again' });
      }
      if (!allowed) {
        log.warn({ event: 'admin-denied', actor: who.user, action: `${method} ${url.pathname}`, permission }, `${who.user} may not ${permission}`);
        return send(403, { error: `${who.user} may not ${permission} (${method} ${url.pathname})` });
      }
      const r = await router({ method, url, actor: who.user, rawBackups: false }, log);
      return r ? send(r.status, r.body) : send(503, { error: 'the gateway is starting' });
    };
    handle().catch((err: Error) => {
      logger().error({ event: 'ops-error', err: err.message }, 'operations API request failed');
      if (!res.headersSent) send(500, { error: 'internal error' });
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
