/**
 * `mailgw validate -f PATH... [--output text|json] [--config-limit SIZE]`
 *
 * Schema errors (with file, document, line and field), integration-scheme
 * lint findings (with code, object and field), and a gateway whose rendered
 * config would not fit its ConfigMaps (MGW301). Exit 1 when there is any
 * error, 0 when there are only warnings or nothing.
 */
import { lint, formatFinding } from '../operator/lint.ts';
import { render } from '../operator/render.ts';
import { configLimitFlag, parseArgs, UsageError } from './args.ts';
import { formatProblem, loadManifests } from './manifest-load.ts';

export const VALIDATE_FLAGS = ['output', 'config-limit'] as const;

export async function cmdValidate(argv: string[]): Promise<number> {
  const args = parseArgs(argv, VALIDATE_FLAGS);
  if (args.files.length === 0) throw new UsageError('needs -f PATH (manifest files or directories)');
  const output = args.flags.get('output') ?? 'text';
  if (output !== 'text' && output !== 'json') throw new UsageError('--output is text or json');
  const m = await loadManifests(args.files);
  const configLimit = configLimitFlag(args.flags);
  const findings = lint(m.gateways, m.domains, m.networks);
  // Whether each gateway's rendered config fits its ConfigMaps (MGW301).
  for (const gw of m.gateways) findings.push(...render(gw, m.domains, m.networks, { configLimit }).findings.filter((f) => f.code === 'MGW301'));
  const errors = m.problems.filter((p) => p.severity === 'error').length + findings.filter((f) => f.severity === 'Error').length;
  const warnings = m.problems.length + findings.length - errors;
  if (output === 'json') {
    const located = findings.map((f) => ({ ...f, ...m.locate(f.object, f.field) }));
    process.stdout.write(`${JSON.stringify({ problems: m.problems, findings: located, errors, warnings }, null, 2)}\n`);
  } else {
    for (const p of m.problems) process.stdout.write(`${formatProblem(p)}\n`);
    for (const f of findings) process.stdout.write(`${formatFinding(f, m.locate(f.object, f.field))}\n`);
    process.stdout.write(`${m.gateways.length} MailGateway(s), ${m.domains.length} LocalDomain(s), ${m.networks.length} TrustedNetwork(s): ${errors} error(s), ${warnings} warning(s)\n`);
  }
  return errors > 0 ? 1 : 0;
}
