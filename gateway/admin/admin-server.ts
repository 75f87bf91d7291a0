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
import { permissionFor, route, type AdminTargets } from './admin-routes.ts';

export type { BackupAdmin } from './admin-routes.ts';

export function adminSocketPath(stateDir: string): string {
  return `${stateDir}/admin.sock`;
}

export async function startAdminServer(socketPath: string, targets: () => AdminTargets | undefined, logger: () => Logger): Promise<Server> {
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://admin');
    if (!permissionFor(method, url.pathname)) return send(404, { error: 'not found' });
    const t = targets();
    if (!t) return send(503, { error: 'the gateway is starting' });
    route(t, { method, url, actor: 'admin-socket', rawBackups: true }, logger())
      .then((r) => send(r.status, r.body), (err: Error) => send(500, { error: err.message }));
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
