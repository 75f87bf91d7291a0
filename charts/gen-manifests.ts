/**
 * `npm run gen:manifests`: writes deploy/mailgw.yaml — the CRDs, the
 * operator's namespace, RBAC, Deployment and metrics Service — rendered from
 * the chart with its default values, for `kubectl apply --server-side -f`.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chartValues, renderChart, CHART_DIR } from './render-chart.ts';

export function plainManifests(): string {
  const docs: string[] = ['apiVersion: v1\nkind: Namespace\nmetadata:\n  name: mailgw-system\n'];
  for (const f of readdirSync(join(CHART_DIR, 'crds')).sort()) docs.push(readFileSync(join(CHART_DIR, 'crds', f), 'utf8').replace(/^#.*\n/, ''));
  for (const [file, text] of Object.entries(renderChart(chartValues()))) {
    if (file.endsWith('.txt')) continue;
    for (const doc of text.split(/^---$/m)) if (doc.trim()) docs.push(`${doc.replace(/^\n+/, '').replace(/\n*$/, '')}\n`);
  }
  return `# Generated from charts/mailgw with its default values by \`npm run gen:manifests\`. Do not edit.\n${docs.map((d) => `---\n${d}`).join('')}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(new URL('../deploy/mailgw.yaml', import.meta.url), plainManifests());
  console.log('wrote deploy/mailgw.yaml');
}
