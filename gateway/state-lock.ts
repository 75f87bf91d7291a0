/**
 * One process per state directory: an exclusive lock taken before anything
 * in the directory is touched (spool, backup store, admin socket, TLS files).
 *
 * The lock is the file `<state-dir>/lock`, created atomically (link), holding the
 * owner's pid and its start time (from /proc, where there is one). A lock
 * whose owner is gone, or whose pid now belongs to another process (a
 * container restart reuses pids), is stale and taken over; a live owner
 * makes acquire() fail with a StartupError naming it. Release removes the
 * file only while it is still ours.
 */
import { readFileSync } from 'node:fs';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PRIVATE_FILE_MODE, privateDir } from './private-fs.ts';
import { StartupError } from './startup-error.ts';

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or '' where unknown. */
export function processStartTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? '';
  } catch {
    return '';
  }
}

/** A zombie (Z) or dead (X) process holds nothing: killed, and not yet reaped (a container whose PID 1 does not reap orphans). */
export function exitedState(stat: string): boolean {
  const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  return state === 'Z' || state === 'X';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return !exitedState(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true; // no /proc here: the signal said it runs
  }
}

/** Parses a lock file's text; undefined when it is not one of ours (empty or garbled: a crash while writing it). */
export function parseLock(text: string): { pid: number; start: string } | undefined {
  const m = /^(\d+) (\S*)\n?$/.exec(text);
  return m ? { pid: Number(m[1]), start: m[2]! } : undefined;
}

/** Whether the recorded owner still runs: same pid, not ourselves, and (where /proc tells) the same start time. */
function held(owner: { pid: number; start: string }): boolean {
  if (owner.pid === process.pid || !alive(owner.pid)) return false;
  const start = processStartTime(owner.pid);
  return owner.start === '' || start === '' || start === owner.start;
}

export class StateLock {
  readonly path: string;
  private readonly token: string;
  private released = false;

  private constructor(path: string, token: string) {
    this.path = path;
    this.token = token;
  }

  static async acquire(stateDir: string): Promise<StateLock> {
    await privateDir(stateDir);
    const path = join(stateDir, 'lock');
    const token = `${process.pid} ${processStartTime(process.pid)}\n`;
    for (let attempt = 0; attempt < 3; attempt++) {
      // Written whole beside it, then linked into place: nobody ever sees a lock file half written.
      const tmp = `${path}.${process.pid}`;
      await writeFile(tmp, token, { mode: PRIVATE_FILE_MODE, flush: true });
      try {
        await link(tmp, path);
        return new StateLock(path, token);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        await unlink(tmp).catch(() => undefined);
      }
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch {
        continue; // removed meanwhile: try again
      }
      const owner = parseLock(text);
      if (owner && held(owner)) {
        throw new StartupError(`state directory ${stateDir} is in use by process ${owner.pid} (another mailgw gateway); stop it or choose another --state-dir`);
      }
      // Stale: its owner is gone. Remove it only if it is still the one we judged.
      const again = await readFile(path, 'utf8').catch(() => undefined);
      if (again === text) await unlink(path).catch(() => undefined);
    }
    throw new StartupError(`state directory ${stateDir}: could not take its lock (another process keeps taking it)`);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const text = await readFile(this.path, 'utf8').catch(() => undefined);
    if (text === this.token) await unlink(this.path).catch(() => undefined);
  }
}
