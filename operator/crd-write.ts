/** `npm run gen:crds`: writes crds/ (and the chart's copy) from the schemas (see crd-generate.ts). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateCrds } from './crd-generate.ts';

for (const dir of ['../crds/', '../charts/mailgw/crds/']) {
  const path = new URL(dir, import.meta.url).pathname;
  for (const [file, text] of Object.entries(generateCrds())) {
    writeFileSync(join(path, file), text);
    console.log(`wrote ${join(dir.replace('../', ''), file)}`);
  }
}
