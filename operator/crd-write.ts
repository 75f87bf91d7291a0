/** `npm run gen:crds`: writes crds/ from the schemas (see crd-generate.ts). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateCrds } from './crd-generate.ts';

const dir = new URL('../crds/', import.meta.url).pathname;
for (const [file, text] of Object.entries(generateCrds())) {
  writeFileSync(join(dir, file), text);
  console.log(`wrote crds/${file}`);
}
