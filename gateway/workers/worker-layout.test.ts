import { it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adoptOneProcessState, hasWorkerLayout, strandedStateDirs, workerStateDir } from './worker-layout.ts';

it('strandedStateDirs: the spools of indexes at or above the count', () => {
  const state = mkdtempSync(join(tmpdir(), 'mailgw-layout-'));
  assert.deepEqual(strandedStateDirs(state, 2), []);
  assert.equal(hasWorkerLayout(state), false);
  for (const i of [0, 1, 2, 10]) mkdirSync(join(workerStateDir(state, i), 'spool'), { recursive: true });
  mkdirSync(join(state, 'workers', 'notes')); // not an index
  mkdirSync(join(state, 'workers', '3')); // no spool: nothing to drain
  assert.equal(hasWorkerLayout(state), true);
  assert.deepEqual(strandedStateDirs(state, 2), [workerStateDir(state, 2), workerStateDir(state, 10)]);
  assert.deepEqual(strandedStateDirs(state, 11), []);
});

it('adoptOneProcessState: a one-process state moves to workers/0, or beside the running workers when 0 is taken', async () => {
  const state = mkdtempSync(join(tmpdir(), 'mailgw-layout-'));
  assert.equal(await adoptOneProcessState(state, 2), undefined);
  mkdirSync(join(state, 'spool'));
  writeFileSync(join(state, 'spool', 'seg-1'), 'queued');
  mkdirSync(join(state, 'backup'));
  assert.equal(await adoptOneProcessState(state, 2), workerStateDir(state, 0));
  assert.equal(readFileSync(join(workerStateDir(state, 0), 'spool', 'seg-1'), 'utf8'), 'queued');
  assert.ok(existsSync(join(workerStateDir(state, 0), 'backup')));
  assert.ok(!existsSync(join(state, 'spool')));
  mkdirSync(join(state, 'spool'));
  mkdirSync(join(workerStateDir(state, 2), 'spool'), { recursive: true });
  assert.equal(await adoptOneProcessState(state, 2), workerStateDir(state, 3), 'workers/0 and the stranded 2 are taken');
  assert.deepEqual(strandedStateDirs(state, 2), [workerStateDir(state, 2), workerStateDir(state, 3)]);
});
