/**
 * rspamd client: POST /checkv2 with the envelope as headers; the verdict
 * from rspamd's action: reject → spam; add header / rewrite subject /
 * soft reject → probable spam; anything else (no action, greylist) → clean.
 * Symbols are kept for the log. Never throws: trouble is an 'error'.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pipeline } from 'node:stream/promises';
import { bufferSource, type MessageSource } from '../spool/incoming.ts';

export type SpamResult =
  | { status: 'clean' | 'probable' | 'spam'; score: number; action: string; symbols: string[] }
  | { status: 'error'; error: string };

export interface SpamEnvelope {
  ip: string;
  helo: string;
  from: string;
  rcpts: string[];
  qid: string;
  hostname: string;
}

/**
 * The message body is streamed from its source through node:http with
 * backpressure (Content-Length known), never copied whole: fetch with a web
 * stream body read the file far ahead of the socket and held it.
 */
export async function scanWithRspamd(url: string, input: MessageSource | Buffer, env: SpamEnvelope, timeoutMs: number): Promise<SpamResult> {
  const source = Buffer.isBuffer(input) ? bufferSource(input) : input;
  const headers: Record<string, string> = {
    IP: env.ip, Helo: env.helo || 'unknown', 'Queue-Id': env.qid, 'MTA-Name': env.hostname, From: env.from || '<>',
    'Content-Length': String(source.size), ...Object.fromEntries(env.rcpts.slice(0, 1).map((r) => ['Rcpt', r])),
  };
  try {
    const target = new URL(`${url.replace(/\/$/, '')}/checkv2`);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const signal = AbortSignal.timeout(timeoutMs);
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = send(target, { method: 'POST', headers, signal }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      pipeline(source.stream(), req).catch(reject);
    });
    if (status < 200 || status >= 300) return { status: 'error', error: `rspamd answered HTTP ${status}` };
    const r = JSON.parse(body) as { score?: number; action?: string; symbols?: Record<string, unknown> };
    const action = r.action ?? 'no action';
    const verdict = action === 'reject' ? 'spam' : ['add header', 'rewrite subject', 'soft reject'].includes(action) ? 'probable' : 'clean';
    return { status: verdict, score: r.score ?? 0, action, symbols: Object.keys(r.symbols ?? {}).sort() };
  } catch (err) {
    return { status: 'error', error: `rspamd: ${(err as Error).message}` };
  }
}
