/**
 * The gateway's shape (DESIGN.md, the message pipeline; issue 15): mail flows
 * one way through its stages — receive → decide → apply → inject → queue →
 * deliver → bounce —
 * and one injector is the queue's only front door.
 * - No stage folder imports a folder of an earlier stage (the injector
 *   excepted: every stage may hand it a new queue entry). Folders outside
 *   the flow (spool, tables, mime, backup, admin, handover, traffic, and workers:
 *   the processes of a pod) and the top-level
 *   shared modules may be imported by any stage.
 * - Only the injector starts a spool entry (`spool.begin`).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const GATEWAY = new URL('../gateway/', import.meta.url).pathname;
/** Each stage folder's step in the flow. */
const STEP: Record<string, number> = { listener: 0, smtpd: 0, policy: 1, verify: 1, protection: 1, apply: 2, inject: 3, queue: 4, routing: 5, delivery: 5, bounce: 6 };
const FLOW = ['receive', 'decide', 'apply', 'inject', 'queue', 'deliver', 'bounce'];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return sources(p);
    return f.endsWith('.ts') && !f.endsWith('.test.ts') ? [p] : [];
  });
}

describe('gateway layout', () => {
  it('no stage imports an earlier stage\'s folder (the injector excepted)', () => {
    const against: string[] = [];
    for (const file of sources(GATEWAY)) {
      const folder = relative(GATEWAY, file).split('/')[0]!;
      if (!(folder in STEP)) continue;
      for (const m of readFileSync(file, 'utf8').matchAll(/from '\.\.\/([a-z-]+)\//g)) {
        const target = m[1]!;
        if (target === 'inject' || !(target in STEP)) continue;
        if (STEP[target]! < STEP[folder]!) against.push(`${relative(GATEWAY, file)} (${FLOW[STEP[folder]!]}) imports ${target}/ (${FLOW[STEP[target]!]})`);
      }
    }
    assert.deepEqual(against, []);
  });

  it('every gateway folder has its place: a step in the flow or a shared one', () => {
    const shared = ['spool', 'tables', 'mime', 'backup', 'admin', 'handover', 'traffic', 'workers'];
    const folders = readdirSync(GATEWAY).filter((f) => statSync(join(GATEWAY, f)).isDirectory());
    assert.deepEqual(folders.filter((f) => !(f in STEP) && !shared.includes(f)), []);
  });

  it('only the injector starts a queue entry in the spool', () => {
    const writers = sources(GATEWAY).filter((f) => /\bspool\.begin\(/.test(readFileSync(f, 'utf8'))).map((f) => relative(GATEWAY, f));
    assert.deepEqual(writers, ['inject/injector.ts']);
  });
});
