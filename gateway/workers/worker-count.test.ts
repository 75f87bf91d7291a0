import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpusFromCpuMax, defaultWorkers } from './worker-count.ts';

it('cpusFromCpuMax: a limit rounded up; no limit, garbage or zero is no answer', () => {
  assert.equal(cpusFromCpuMax('200000 100000\n'), 2);
  assert.equal(cpusFromCpuMax('150000 100000'), 2, '1.5 CPUs: two workers, the second half busy');
  assert.equal(cpusFromCpuMax('50000 100000'), 1);
  assert.equal(cpusFromCpuMax('max 100000\n'), undefined);
  assert.equal(cpusFromCpuMax('0 100000'), undefined);
  assert.equal(cpusFromCpuMax('two cpus'), undefined);
});

it('defaultWorkers: the cgroup limit, capped by the CPUs there are; without a cgroup file, the CPUs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailgw-cpumax-'));
  const file = join(dir, 'cpu.max');
  writeFileSync(file, '400000 100000\n');
  assert.equal(defaultWorkers(file, 8), 4);
  assert.equal(defaultWorkers(file, 2), 2);
  writeFileSync(file, 'max 100000\n');
  assert.equal(defaultWorkers(file, 3), 3);
  assert.equal(defaultWorkers(join(dir, 'missing'), 6), 6);
});
