#!/usr/bin/env node
// mailgw launcher. In a checkout the TypeScript sources run directly on
// Node.js 24's type stripping (docs/adr/0001-runtime-and-layout.md). The
// container image and an installed package carry the `npm run build` output
// in dist/ instead (Node does not strip types under node_modules).
import { existsSync } from 'node:fs';

const sources = new URL('../cli/main.ts', import.meta.url);
const useSources = existsSync(sources) && !import.meta.url.includes('/node_modules/');
const { main } = await import(useSources ? '../cli/main.ts' : '../dist/cli/main.js');

// `mailgw validate ... | head`: a reader that goes away is not an error.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
