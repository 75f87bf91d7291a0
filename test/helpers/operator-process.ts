/**
 * Runs `mailgw operator` as a real process against the API emulator, and a
 * tiny kubectl for the tests (fetch against the emulator's REST API).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Emulator } from '../k8s-emulator/server.ts';
import { collectJsonLines } from './mailgw-process.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

export interface OperatorProcess {
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  identity: string;
  waitFor(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startOperator(em: Emulator, identity: string, opts: { leaseDuration?: string } = {}): OperatorProcess {
  const proc = spawn(process.execPath, [join(ROOT, 'bin/mailgw.js'), 'operator', '--kubeconfig', em.kubeconfig, '--metrics-address', '127.0.0.1:0',
    '--lease-namespace', 'mailgw-system', '--lease-duration', opts.leaseDuration ?? '2s', '--identity', identity, '--resync', '2s'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Record<string, unknown>[] = [];
  collectJsonLines(proc.stdout!, lines);
  const exited = new Promise<number | null>((r) => proc.once('exit', r));
  return {
    proc, lines, identity,
    waitFor: async (pred, timeoutMs = 15_000) => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const hit = lines.find(pred);
        if (hit) return hit;
        if (Date.now() > end) throw new Error(`operator ${identity}: expected log line not seen`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null) proc.kill(signal);
      return exited;
    },
  };
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function kubectl(em: Emulator) {
  const call = async (method: string, path: string, body?: unknown, contentType = 'application/json') => {
    const res = await fetch(`${em.url}${path}`, { method, headers: { 'content-type': contentType, 'user-agent': 'kubectl/test' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    const json = (await res.json()) as Json;
    if (!res.ok) throw Object.assign(new Error(`${method} ${path}: ${res.status} ${json.message}`), { status: res.status, body: json });
    return json;
  };
  const crPath = (plural: string, ns: string, name?: string) => `/apis/mailgw.io/v1alpha1/namespaces/${ns}/${plural}${name ? `/${name}` : ''}`;
  return {
    create: (plural: string, ns: string, obj: Json) => call('POST', crPath(plural, ns), obj),
    get: (plural: string, ns: string, name: string) => call('GET', crPath(plural, ns, name)),
    patch: (plural: string, ns: string, name: string, patch: Json) => call('PATCH', crPath(plural, ns, name), patch, 'application/merge-patch+json'),
    delete: (plural: string, ns: string, name: string) => call('DELETE', crPath(plural, ns, name)),
    raw: call,
  };
}

export { eventually } from './wait.ts';
