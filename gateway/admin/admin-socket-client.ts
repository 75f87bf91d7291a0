/**
 * One request to a gateway's admin socket (admin-server.ts), its JSON answer
 * read whole. Used by the CLI (`mailgw queue`, `backup`, `traffic`) and by a
 * pod's supervisor asking its workers (workers/pod-admin.ts).
 */
import { request } from 'node:http';

export interface SocketReply {
  status: number;
  body: unknown;
}

/** timeoutMs 0: wait as long as it takes (a person's `mailgw queue flush` on a long queue). */
export function askAdminSocket(socketPath: string, method: string, path: string, headers: Record<string, string> = {}, timeoutMs = 30_000): Promise<SocketReply> {
  return new Promise<SocketReply>((done, fail) => {
    const req = request({ socketPath, method, path, headers, ...(timeoutMs > 0 ? { timeout: timeoutMs } : {}) }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (data += d));
      res.on('end', () => {
        try {
          done({ status: res.statusCode ?? 502, body: data ? JSON.parse(data) : {} });
        } catch (err) {
          fail(err as Error);
        }
      });
      res.on('error', fail);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on('error', fail);
    req.end();
  });
}
