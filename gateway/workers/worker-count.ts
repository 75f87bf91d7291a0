/**
 * How many worker processes a gateway pod runs by default (`--workers`):
 * the CPUs its container may use. Kubernetes writes a CPU limit into the
 * cgroup as `cpu.max` ("QUOTA PERIOD", or "max PERIOD" with no limit); the
 * count is the limit rounded up, never more than the CPUs the process may
 * run on, never less than one. A container without a CPU limit on a big
 * node could otherwise start dozens: the memory limit (`memory.max`) caps
 * the count at one worker per 512 MiB (a worker's own ~150 MiB plus its
 * share of the memory budget and the garbage collector's slack).
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

/** Memory per worker the default count allows for. */
export const WORKER_MEMORY = 512 * 1024 * 1024;

/** Workers a cgroup v2 `memory.max` leaves room for; undefined when there is no limit. Pure. */
export function workersForMemoryMax(text: string): number | undefined {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return undefined; // "max": no limit
  return Math.max(1, Math.floor(Number(t) / WORKER_MEMORY));
}

const readOr = (path: string): string => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return 'max'; // cgroup v1, or not Linux: no limit known
  }
};

/** The default worker count of this process: its cgroup's CPU limit (else the CPUs it may run on), within its memory limit. */
export function defaultWorkers(cgroupDir = '/sys/fs/cgroup', cpus = availableParallelism()): number {
  const byCpu = Math.min(cpusFromCpuMax(readOr(`${cgroupDir}/cpu.max`)) ?? cpus, cpus);
  const byMemory = workersForMemoryMax(readOr(`${cgroupDir}/memory.max`)) ?? byCpu;
  return Math.max(1, Math.min(byCpu, byMemory));
}
