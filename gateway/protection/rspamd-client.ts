/**
 * rspamd client: POST /checkv2 with the envelope as headers; the verdict
 * from rspamd's action: reject → spam; add header / rewrite subject /
 * soft reject → probable spam; anything else (no action, greylist) → clean.
 * Symbols are kept for the log. Never throws: trouble is an 'error'.
 */
import { Readable } from 'node:stream';
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

/** The message body is streamed from its source (Content-Length known), never copied whole. */
export async function scanWithRspamd(url: string, input: MessageSource | Buffer, env: SpamEnvelope, timeoutMs: number): Promise<SpamResult> {
  const source = Buffer.isBuffer(input) ? bufferSource(input) : input;
  const headers: Record<string, string> = { IP: env.ip, Helo: env.helo || 'unknown', 'Queue-Id': env.qid, 'MTA-Name': env.hostname, From: env.from || '<>' };
  try {
    const res = await fetch(`${url.replace(/\/$/, '')}/checkv2`, {
      method: 'POST',
      headers: { ...headers, 'Content-Length': String(source.size), ...Object.fromEntries(env.rcpts.slice(0, 1).map((r) => ['Rcpt', r])) },
      body: Readable.toWeb(source.stream()) as ReadableStream<Uint8Array>,
      duplex: 'half',
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) return { status: 'error', error: `rspamd answered HTTP ${res.status}` };
    const r = (await res.json()) as { score?: number; action?: string; symbols?: Record<string, unknown> };
    const action = r.action ?? 'no action';
    const status = action === 'reject' ? 'spam' : ['add header', 'rewrite subject', 'soft reject'].includes(action) ? 'probable' : 'clean';
    return { status, score: r.score ?? 0, action, symbols: Object.keys(r.symbols ?? {}).sort() };
  } catch (err) {
    return { status: 'error', error: `rspamd: ${(err as Error).message}` };
  }
}
