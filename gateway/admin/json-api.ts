/**
 * What the operations API and the console answer with: JSON that a browser
 * can neither run nor cache nor frame, and the bearer token of a request.
 * Shared by gateway/admin/ops-server.ts and console/console-server.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
} as const;

/** `send(status, body)` for one response, with JSON_HEADERS. */
export function jsonSender(res: ServerResponse): (status: number, body: unknown, extra?: Record<string, string>) => void {
  return (status, body, extra = {}) => {
    res.writeHead(status, { ...JSON_HEADERS, ...extra });
    res.end(JSON.stringify(body));
  };
}

/** The token of `Authorization: Bearer TOKEN`, or undefined. */
export function bearerToken(req: IncomingMessage): string | undefined {
  return /^Bearer\s+(\S{1,4096})$/i.exec(req.headers.authorization ?? '')?.[1];
}

/** The answer to a request without a usable token. */
export const NEEDS_TOKEN = [401, { error: 'a bearer token is needed (Authorization: Bearer TOKEN)' }, { 'www-authenticate': 'Bearer realm="mailgw"' }] as const;
