/**
 * The admin endpoint behind `mailgw queue`, `mailgw backup` and
 * `mailgw traffic`: HTTP on a Unix socket in the state directory (mode 0600:
 * only the gateway's user), never on the SMTP port and never on the
 * network. Whoever can open the socket may do everything; the requests are
 * those of admin-routes.ts (the operations API serves the same ones over
 * TCP, authenticated: ops-server.ts).
 */
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { permissionFor, type AdminRouter } from './admin-routes.ts';

export type { BackupAdmin } from './admin-routes.ts';

export function adminSocketPath(stateDir: string): string {
  return `${stateDir}/admin.sock`;
}

/** The header with which a pod's supervisor passes on who asked it (whoever may open the socket may do everything anyway). */
export const ACTOR_HEADER = 'x-mailgw-actor';
/** With "0", a backup is answered as the operations API shows it (headers and text), for a supervisor that serves that API. */
export const RAW_HEADER = 'x-mailgw-raw';

export async function startAdminServer(socketPath: string, router: AdminRouter, logger: () => Logger): Promise<Server> {
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://admin');
    if (!permissionFor(method, url.pathname)) return send(404, { error: 'not found' });
    const actor = req.headers[ACTOR_HEADER];
    router({ method, url, actor: typeof actor === 'string' && actor ? actor.slice(0, 200) : 'admin-socket', rawBackups: req.headers[RAW_HEADER] !== '0' }, logger())
      .then((r) => (r ? send(r.status, r.body) : send(503, { error: 'the gateway is starting' })), (err: Error) => send(500, { error: err.message }));
  });
  // The caller holds the state directory's lock, so a socket file left here is a dead gateway's.
  rmSync(socketPath, { force: true });
  // Created 0600 (umask while binding), never reachable by others even for a moment.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
  } finally {
    process.umask(umask);
  }
  return server;
}
