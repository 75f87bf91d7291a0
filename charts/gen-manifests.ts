/**
 * `npm run gen:manifests`: writes deploy/mailgw.yaml — the operator's
 * namespace, the CRDs, RBAC, Deployment and metrics Service — as
 * `helm template` renders the chart with its default values, for
 * `kubectl apply --server-side -f`. Needs the helm that
 * `bash test/cluster/build.sh` builds.
 */
import { writeFileSync } from 'node:fs';
import { helmTemplate } from './render-chart.ts';

export function plainManifests(): string {
  const docs = helmTemplate().split(/^---\n/m).map((d) => d.replace(/^# (Source: |Generated from api\/).*\n/gm, '').replace(/\n+$/, '\n')).filter((d) => d.trim());
  return `# Generated from charts/mailgw with its default values by \`npm run gen:manifests\` (helm template). Do not edit.\n${
    ['apiVersion: v1\nkind: Namespace\nmetadata:\n  name: mailgw-system\n', ...docs].map((d) => `---\n${d}`).join('')}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(new URL('../deploy/mailgw.yaml', import.meta.url), plainManifests());
  console.log('wrote deploy/mailgw.yaml');
}
