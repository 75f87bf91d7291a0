/**
 * The console's pages as built from the checkout. `npm test` builds them
 * first (its pretest runs `npm run build:console`); a single test file run
 * on its own builds them here when they are missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;

export function ensureConsolePages(): void {
  if (existsSync(join(ROOT, 'console/web/dist/index.html'))) return;
  execFileSync(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', join(ROOT, 'console/web/vite.config.ts'), '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
}
