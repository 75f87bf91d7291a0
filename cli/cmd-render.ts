/**
 * `mailgw render -f PATH... [--gateway NAME] [--config-limit SIZE]`
 *
 * The Kubernetes objects the operator would apply for each MailGateway (or
 * the named one), as multi-document YAML, for GitOps diffs and reviews.
 * Refuses (exit 1) on schema errors and lint errors, like the operator.
 */
import { render } from '../operator/render.ts';
import { objectsToYaml } from '../operator/render-yaml.ts';
import { formatFinding } from '../operator/lint.ts';
import { configLimitFlag, parseArgs, UsageError } from './args.ts';
import { formatProblem, loadManifests } from './manifest-load.ts';

export const RENDER_FLAGS = ['gateway', 'config-limit'] as const;

export async function cmdRender(argv: string[]): Promise<number> {
  const args = parseArgs(argv, RENDER_FLAGS);
  if (args.files.length === 0) throw new UsageError('needs -f PATH (manifest files or directories)');
  const m = await loadManifests(args.files);
  const schemaErrors = m.problems.filter((p) => p.severity === 'error');
  if (schemaErrors.length > 0) {
    for (const p of schemaErrors) process.stderr.write(`${formatProblem(p)}\n`);
    return 1;
  }
  const configLimit = configLimitFlag(args.flags);
  const name = args.flags.get('gateway');
  const gateways = name ? m.gateways.filter((g) => g.metadata.name === name) : m.gateways;
  if (gateways.length === 0) {
    process.stderr.write(`error: no MailGateway${name ? ` named ${name}` : ''} in ${args.files.join(' ')}\n`);
    return 1;
  }
  const docs: string[] = [];
  let failed = false;
  for (const gw of gateways) {
    const r = render(gw, m.domains, m.networks, { configLimit });
    for (const f of r.findings) process.stderr.write(`${formatFinding(f, m.locate(f.object, f.field))}\n`);
    if (r.findings.some((f) => f.severity === 'Error')) {
      failed = true;
      continue;
    }
    docs.push(objectsToYaml(r.objects));
  }
  if (failed) return 1;
  process.stdout.write(docs.join('---\n'));
  return 0;
}
