/**
 * Random bytes for ids (queue ids, session ids) from a pooled buffer: one
 * getrandom call per 4 KiB instead of one per id, which showed in the
 * benchmark profile (bench/RESULTS.md). Not for keys or secrets.
 */
import { randomFillSync } from 'node:crypto';

const POOL = Buffer.allocUnsafe(4096);
let used = POOL.length;

/** n fresh random bytes (n ≤ 64), copied out of the pool. */
export function randomIdBytes(n: number): Buffer {
  if (used + n > POOL.length) {
    randomFillSync(POOL);
    used = 0;
  }
  const out = Buffer.from(POOL.subarray(used, used + n));
  used += n;
  return out;
}
