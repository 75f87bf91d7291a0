#!/usr/bin/env node
// mailgw launcher. The sources are TypeScript run directly by Node.js 24's
// type stripping (docs/adr/0001-runtime-and-layout.md).
import { main } from '../cli/main.ts';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
