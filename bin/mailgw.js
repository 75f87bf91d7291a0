#!/usr/bin/env node
// mailgw launcher. In a checkout the TypeScript sources run directly on
// Node.js 24's type stripping (docs/adr/0001-runtime-and-layout.md); Node
// does not strip types under node_modules, so an installed package runs the
// `npm run build` output in dist/.
const entry = import.meta.url.includes('/node_modules/') ? '../dist/cli/main.js' : '../cli/main.ts';
const { main } = await import(entry);

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
