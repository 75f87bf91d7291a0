import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpusFromCpuMax, defaultWorkers, workersForMemoryMax } from './worker-count.ts';

it('cpusFromCpuMax: a limit rounded up; no limit, garbage or zero is no answer', () => {
  assert.equal(cpusFromCpuMax('200000 100000\n'), 2);
  assert.equal(cpusFromCpuMax('150000 100000'), 2, '1.5 CPUs: two workers, the second half busy');
  assert.equal(cpusFromCpuMax('50000 100000'), 1);
  assert.equal(cpusFromCpuMax('max 100000\n'), undefined);
  assert.equal(cpusFromCpuMax('0 100000'), undefined);
  assert.equal(cpusFromCpuMax('two cpus'), undefined);
});

it('workersForMemoryMax: one worker per 512 MiB of the limit, at least one; no limit is no answer', () => {
  assert.equal(workersForMemoryMax(`${2 * 1024 ** 3}\n`), 4);
  assert.equal(workersForMemoryMax(`${1024 ** 3}`), 2, 'the rendered pod\'s default limit (1 GiB)');
  assert.equal(workersForMemoryMax(`${256 * 1024 ** 2}`), 1);
  assert.equal(workersForMemoryMax('max\n'), undefined);
});

it('defaultWorkers: the CPU limit, capped by the CPUs there are and by the memory limit; without cgroup files, the CPUs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailgw-cgroup-'));
  writeFileSync(join(dir, 'cpu.max'), '400000 100000\n');
  assert.equal(defaultWorkers(dir, 8), 4);
  assert.equal(defaultWorkers(dir, 2), 2);
  writeFileSync(join(dir, 'memory.max'), `${1024 ** 3}\n`);
  assert.equal(defaultWorkers(dir, 8), 2, 'a 1 GiB container runs two, whatever its CPUs');
  writeFileSync(join(dir, 'cpu.max'), 'max 100000\n');
  writeFileSync(join(dir, 'memory.max'), 'max\n');
  assert.equal(defaultWorkers(dir, 3), 3);
  assert.equal(defaultWorkers(join(dir, 'missing'), 6), 6);
});
