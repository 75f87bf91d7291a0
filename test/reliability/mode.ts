/**
 * Short and long forms of the reliability suites. `npm test` (and so
 * `.ci/run`) runs the short form; `npm run reliability` runs the long form
 * (MAILGW_RELIABILITY=long) and writes test/reliability/RESULTS.md from what
 * each suite recorded.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const LONG = process.env.MAILGW_RELIABILITY === 'long';
export const MODE = LONG ? 'long' : 'short';

/** The short-form value, or the long-form one under MAILGW_RELIABILITY=long. */
export const pick = <T>(short: T, long: T): T => (LONG ? long : short);

export const RESULTS_DIR = process.env.MAILGW_RELIABILITY_RESULTS ?? join(tmpdir(), 'mailgw-reliability');

/** Records a suite's counts (read by report.ts into RESULTS.md). */
export function record(suite: string, figures: Record<string, number | string | boolean>): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${suite}.json`), `${JSON.stringify({ suite, mode: MODE, at: new Date().toISOString(), ...figures }, null, 2)}\n`);
}
