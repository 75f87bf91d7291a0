/**
 * Renders the mailgw chart with the real `helm template` (the binary
 * test/cluster/build.sh builds from Helm's Go module): the chart's objects
 * for the given values (merged over values.yaml by Helm, and checked by
 * values.schema.json). Used by the chart tests and by `npm run gen:manifests`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { helmBinary } from '../test/cluster/binaries.ts';

export const CHART_DIR = new URL('./mailgw/', import.meta.url).pathname;

export class HelmMissing extends Error {}

/** The API versions of a cluster that already serves the CRDs (the example gateway renders only there). */
export const WITH_CRDS = ['mailgw.io/v1alpha1'];

/** `helm template` output: every object of the chart for these values, as helm prints it; `apiVersions` as --api-versions. */
export function helmTemplate(values: Record<string, unknown> = {}, release = { name: 'mailgw', namespace: 'mailgw-system' }, apiVersions: string[] = []): string {
  const helm = process.env.MAILGW_HELM ?? helmBinary();
  if (!helm) throw new HelmMissing('helm is not built: run `bash test/cluster/build.sh` (or point MAILGW_HELM at a helm binary)');
  const dir = mkdtempSync(join(tmpdir(), 'mailgw-values-'));
  try {
    writeFileSync(join(dir, 'values.yaml'), stringify(values));
    return execFileSync(helm, ['template', release.name, CHART_DIR, '--namespace', release.namespace, '-f', join(dir, 'values.yaml'), ...apiVersions.flatMap((v) => ['--api-versions', v])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The rendered objects by template file (relative to templates/), each file's documents joined by `---`. */
export function renderChart(values: Record<string, unknown> = {}, release?: { name: string; namespace: string }, apiVersions: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of helmTemplate(values, release, apiVersions).split(/^---\n/m)) {
    const m = /^# Source: mailgw\/templates\/(\S+)\n/.exec(part);
    if (!m) continue;
    const doc = part.slice(m[0].length).replace(/\n+$/, '\n');
    out[m[1]!] = out[m[1]!] === undefined ? doc : `${out[m[1]!]}---\n${doc}`;
  }
  return out;
}
