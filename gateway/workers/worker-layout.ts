/**
 * Where a pod's worker processes keep their state. One process alone
 * (`--workers 1`, and every gateway that never ran more) uses the state
 * directory itself, as it always has. With more, or once a pod has run
 * with more, worker N owns `<state-dir>/workers/N` — its own spool,
 * incoming files, backups, traffic log, admin socket and lock — and the
 * supervisor holds `<state-dir>/lock` and serves `<state-dir>/admin.sock`
 * for the whole pod.
 *
 * When a pod that ran as one process starts with several, the state
 * directory's own spool, backups and traffic log move to `workers/0`
 * (adoptOneProcessState): worker 0 recovers that queue as its own. A spool
 * no running worker owns — `workers/N` for N at or above the count after a
 * change — is stranded: the supervisor drains it into the workers that run
 * (worker-supervisor.ts), so nothing queued waits for an index that will not
 * come back.
 */
import { existsSync, readdirSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { privateDir } from '../private-fs.ts';

export const WORKERS_DIR = 'workers';

export function workerStateDir(stateDir: string, index: number): string {
  return join(stateDir, WORKERS_DIR, String(index));
}

/** Whether this state directory has the per-worker layout (a pod that ran with several workers stays with it). */
export function hasWorkerLayout(stateDir: string): boolean {
  try {
    return readdirSync(join(stateDir, WORKERS_DIR)).some((n) => /^\d+$/.test(n));
  } catch {
    return false;
  }
}

/** State directories whose spool no worker of `workers` owns, in a fixed order. */
export function strandedStateDirs(stateDir: string, workers: number): string[] {
  const out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(join(stateDir, WORKERS_DIR));
  } catch {
    names = [];
  }
  const indexes = names.filter((n) => /^\d+$/.test(n)).map(Number).filter((i) => i >= workers).sort((a, b) => a - b);
  for (const i of indexes) if (existsSync(join(workerStateDir(stateDir, i), 'spool'))) out.push(workerStateDir(stateDir, i));
  return out;
}

/** What a one-process gateway keeps in its state directory and a worker in its own. */
const MOVED = ['spool', 'backup', 'traffic'];

/**
 * Moves a one-process gateway's state (spool, backups, traffic log) into a
 * worker's directory: `workers/0` when there is none yet, else the first
 * index no worker of `workers` runs (then drained as stranded). Each rename
 * is atomic; a crash between two leaves each part whole in one place, and the
 * next start moves the rest. Undefined when there was nothing to move.
 */
export async function adoptOneProcessState(stateDir: string, workers: number): Promise<string | undefined> {
  const present = MOVED.filter((n) => existsSync(join(stateDir, n)));
  if (present.length === 0) return undefined;
  let index = 0;
  const taken = (i: number) => MOVED.some((n) => existsSync(join(workerStateDir(stateDir, i), n)));
  if (taken(0)) for (index = workers; taken(index); index++);
  const to = workerStateDir(stateDir, index);
  await privateDir(join(stateDir, WORKERS_DIR));
  await privateDir(to);
  for (const n of present) await rename(join(stateDir, n), join(to, n));
  return to;
}
