/**
 * The client side of a running gateway's admin socket
 * (<state-dir>/admin.sock, gateway/admin/admin-server.ts), shared by
 * `mailgw queue`, `mailgw backup` and `mailgw traffic`.
 */
import { resolve } from 'node:path';
import { adminSocketPath } from '../gateway/admin/admin-server.ts';
import { askAdminSocket } from '../gateway/admin/admin-socket-client.ts';
import { UsageError } from './args.ts';

export interface AdminReply {
  status: number;
  body: Record<string, unknown> & { error?: string };
}

/** `ask(method, path)` against the gateway whose state dir is --state-dir (else $MAILGW_STATE_DIR, else /var/spool/mailgw). */
export function adminClient(flags: ReadonlyMap<string, string>): (method: string, path: string) => Promise<AdminReply> {
  const socketPath = adminSocketPath(resolve(flags.get('state-dir') ?? process.env.MAILGW_STATE_DIR ?? '/var/spool/mailgw'));
  return (method, path) => (askAdminSocket(socketPath, method, path, {}, 0) as Promise<AdminReply>).catch((err: Error) => {
    throw new UsageError(`cannot reach the gateway's admin socket ${socketPath}: ${err.message} (is the gateway running with this --state-dir?)`);
  });
}
