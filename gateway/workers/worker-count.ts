/**
 * How many worker processes a gateway pod runs by default (`--workers`):
 * the CPUs its container may use. Kubernetes writes a CPU limit into the
 * cgroup as `cpu.max` ("QUOTA PERIOD", or "max PERIOD" with no limit); the
 * count is the limit rounded up, never more than the CPUs the process may
 * run on, never less than one.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Parses cgroup v2 `cpu.max`; undefined when there is no limit or the text is not one. Pure. */
export function cpusFromCpuMax(text: string): number | undefined {
  const m = /^(max|\d+)\s+(\d+)\s*$/.exec(text.trim());
  if (!m || m[1] === 'max') return undefined;
  const quota = Number(m[1]);
  const period = Number(m[2]);
  if (!(quota > 0) || !(period > 0)) return undefined;
  return Math.max(1, Math.ceil(quota / period));
}

/** The default worker count of this process: its cgroup's CPU limit, else the CPUs it may run on. */
export function defaultWorkers(cpuMaxPath = '/sys/fs/cgroup/cpu.max', cpus = availableParallelism()): number {
  let limit: number | undefined;
  try {
    limit = cpusFromCpuMax(readFileSync(cpuMaxPath, 'utf8'));
  } catch {
    limit = undefined; // cgroup v1, or not Linux: the CPUs the process may run on
  }
  return Math.max(1, Math.min(limit ?? cpus, cpus));
}
