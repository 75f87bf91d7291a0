/**
 * Reads a gateway's config from what `--config` names: a file of JSON (or
 * YAML), or the directory a pod mounts its config ConfigMaps in (a plain
 * `gateway.json`, or a manifest and its gzipped parts: api/config-pack.ts).
 *
 * `peek` is cheap (the manifest, or the plain file) and tells whether there is
 * a new version; `loadOffThread` does the heavy part — read and verify the
 * parts, decompress, parse and validate — in a worker thread, and hands the
 * config back in slices that the event loop parses between its other work, so
 * that sessions in flight do not stall while a 100,000-domain config loads.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { parse as parseYaml } from 'yaml';
import { gatewayConfig, type GatewayConfig } from '../api/index.ts';
import { CONFIG_JSON, CONFIG_MANIFEST, unpackConfig, type Unpacked } from '../api/config-pack.ts';
import { formatPath } from './manifest-load.ts';

export type Loaded = { config: GatewayConfig; version: string } | { errors: string[]; version: string } | { incomplete: string };

/** Reads the config text (whole, verified): the JSON of a directory's parts, or a file's text. */
export function readConfig(path: string): Unpacked {
  let dir: string | undefined;
  try {
    if (statSync(path).isDirectory()) dir = path;
    else if (basename(path) === CONFIG_MANIFEST) dir = dirname(path);
  } catch (err) {
    return { incomplete: (err as Error).message };
  }
  if (!dir) {
    const text = readFileSync(path, 'utf8');
    return { text, version: text };
  }
  return unpackConfig((f) => {
    try {
      return readFileSync(join(dir, f));
    } catch {
      return undefined;
    }
  });
}

/** What identifies the current version without reading the parts: the manifest's text, or the plain file's. */
export function peek(path: string): string | undefined {
  const candidates = statSafe(path)?.isDirectory() ? [join(path, CONFIG_MANIFEST), join(path, CONFIG_JSON)] : [path];
  for (const f of candidates) {
    try {
      return `${f}\n${readFileSync(f, 'utf8')}`;
    } catch {
      // the next candidate
    }
  }
  return undefined;
}

function statSafe(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** Parses and validates config text (JSON or YAML): the config, or every problem with its path. */
export function parseGatewayConfig(text: string): { config: GatewayConfig } | { errors: string[] } {
  let raw: unknown;
  try {
    raw = text.trimStart().startsWith('{') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    return { errors: [(err as Error).message] };
  }
  const parsed = gatewayConfig.safeParse(raw);
  if (!parsed.success) return { errors: parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`) };
  return { config: parsed.data };
}

/** Loads on the calling thread (start-up: nothing else runs yet). */
export function loadNow(path: string): Loaded {
  const u = readConfig(path);
  if ('incomplete' in u) return u;
  const p = parseGatewayConfig(u.text);
  return 'errors' in p ? { errors: p.errors, version: u.version } : { config: p.config, version: u.version };
}

/** The worker's module, beside this one: .ts in a checkout, .js in the built image (dist/). */
const WORKER = new URL(`./config-load-worker${import.meta.url.endsWith('.js') ? '.js' : '.ts'}`, import.meta.url);

/** Domains per slice handed back by the worker (a few milliseconds of JSON.parse each). */
export const SLICE = 5000;

/** Loads in a worker thread; the validated config comes back as JSON slices parsed here between turns of the event loop. */
export async function loadOffThread(path: string): Promise<Loaded> {
  const reply = await new Promise<{ incomplete?: string; errors?: string[]; version?: string; head?: string; slices?: string[] }>((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData: { path, slice: SLICE } });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`config loader exited with ${code}`)));
  });
  if (reply.incomplete !== undefined) return { incomplete: reply.incomplete };
  if (reply.errors) return { errors: reply.errors, version: reply.version! };
  const config = JSON.parse(reply.head!) as GatewayConfig;
  for (const s of reply.slices!) {
    await yieldToLoop();
    for (const d of JSON.parse(s) as GatewayConfig['localDomains']) config.localDomains.push(d);
  }
  return { config, version: reply.version! };
}
