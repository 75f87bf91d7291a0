/**
 * `mailgw gateway --config FILE [--listen 0.0.0.0:2525] [--state-dir /var/spool/mailgw]`
 *
 * What a gateway pod runs: reads the rendered config (JSON or YAML, as the
 * operator writes it into the ConfigMap), validates it and serves SMTP.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { gatewayConfig } from '../api/index.ts';
import { Gateway } from '../gateway/gateway.ts';
import { parseArgs, parseListen, UsageError } from './args.ts';
import { formatPath } from './manifest-load.ts';
import { runUntilSignal } from './run-until-signal.ts';

export async function cmdGateway(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ['config', 'listen', 'state-dir']);
  const file = args.flags.get('config');
  if (!file) throw new UsageError('mailgw gateway needs --config FILE');
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(file, 'utf8'));
  } catch (err) {
    console.error(`error: ${file}: ${(err as Error).message}`);
    return 1;
  }
  const parsed = gatewayConfig.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) console.error(`error: ${file}: ${formatPath(issue.path)}: ${issue.message}`);
    console.error(`mailgw gateway: invalid config; nothing started`);
    return 1;
  }
  const listen = parseListen(args.flags.get('listen') ?? '0.0.0.0:2525');
  const gateway = await Gateway.start(parsed.data, { ...listen, stateDir: resolve(args.flags.get('state-dir') ?? '/var/spool/mailgw') });
  return runUntilSignal(gateway);
}
