/**
 * `npm run gen:crds`: writes crds/ from the schemas (see crd-generate.ts), and
 * the chart's copies as templates (chartCrdTemplate): Helm never upgrades a
 * chart's crds/ directory, so the chart renders its CRDs as ordinary objects
 * that `helm upgrade` updates (docs/install.md, "Upgrading the CRDs").
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chartCrdTemplate, generateCrds } from './crd-generate.ts';

const crds = new URL('../crds/', import.meta.url).pathname;
const chart = new URL('../charts/mailgw/templates/crds/', import.meta.url).pathname;
mkdirSync(chart, { recursive: true });
for (const f of readdirSync(chart)) rmSync(join(chart, f));
for (const [file, text] of Object.entries(generateCrds())) {
  writeFileSync(join(crds, file), text);
  writeFileSync(join(chart, file), chartCrdTemplate(text));
  console.log(`wrote crds/${file} and charts/mailgw/templates/crds/${file}`);
}
