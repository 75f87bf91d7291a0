/**
 * The client side of a running gateway's admin socket
 * (<state-dir>/admin.sock, gateway/admin/admin-server.ts), shared by
 * `mailgw queue`, `mailgw backup` and `mailgw traffic`.
 */
import { request } from 'node:http';
import { resolve } from 'node:path';
import { adminSocketPath } from '../gateway/admin/admin-server.ts';
import { UsageError } from './args.ts';

export interface AdminReply {
  status: number;
  body: Record<string, unknown> & { error?: string };
}

/** `ask(method, path)` against the gateway whose state dir is --state-dir (else $MAILGW_STATE_DIR, else /var/spool/mailgw). */
export function adminClient(flags: ReadonlyMap<string, string>): (method: string, path: string) => Promise<AdminReply> {
  const socketPath = adminSocketPath(resolve(flags.get('state-dir') ?? process.env.MAILGW_STATE_DIR ?? '/var/spool/mailgw'));
  return (method, path) => new Promise<AdminReply>((done, fail) => {
    const req = request({ socketPath, method, path }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (data += d));
      res.on('end', () => done({ status: res.statusCode ?? 0, body: data ? JSON.parse(data) : {} }));
    });
    req.on('error', fail);
    req.end();
  }).catch((err: Error) => {
    throw new UsageError(`cannot reach the gateway's admin socket ${socketPath}: ${err.message} (is the gateway running with this --state-dir?)`);
  });
}
