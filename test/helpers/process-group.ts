/** Ends a detached child's whole process group (SIGKILL); resolves when the child has exited. */
import type { ChildProcess } from 'node:child_process';

export function killGroup(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    p.once('exit', () => resolve());
    try {
      process.kill(-p.pid!, 'SIGKILL');
    } catch {
      resolve();
    }
  });
}
