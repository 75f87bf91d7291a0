/**
 * `mailgw gateway --config FILE [--listen 0.0.0.0:2525] [--state-dir /var/spool/mailgw] [--config-poll 2s] [--metrics-address 0.0.0.0:9090]`
 *
 * What a gateway pod runs: reads the rendered config (JSON or YAML, as the
 * operator writes it into the ConfigMap), validates it and serves SMTP; a
 * changed file is applied live (config-watch.ts).
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseDuration } from '../api/index.ts';
import { Gateway } from '../gateway/gateway.ts';
import { parseArgs, parseListen, UsageError } from './args.ts';
import { parseGatewayConfig, watchConfig } from './config-watch.ts';
import { runUntilSignal } from './run-until-signal.ts';

export async function cmdGateway(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ['config', 'listen', 'state-dir', 'config-poll', 'metrics-address']);
  const file = args.flags.get('config');
  if (!file) throw new UsageError('mailgw gateway needs --config FILE');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    console.error(`error: ${file}: ${(err as Error).message}`);
    return 1;
  }
  const parsed = parseGatewayConfig(text);
  if ('errors' in parsed) {
    for (const e of parsed.errors) console.error(`error: ${file}: ${e}`);
    console.error(`mailgw gateway: invalid config; nothing started`);
    return 1;
  }
  const poll = parseDuration(args.flags.get('config-poll') ?? '2s');
  if (poll === undefined || poll <= 0) throw new UsageError('--config-poll: expected a duration such as "2s"');
  const listen = parseListen(args.flags.get('listen') ?? '0.0.0.0:2525');
  const metricsAddress = args.flags.get('metrics-address');
  const gateway = await Gateway.start(parsed.config, {
    ...listen, stateDir: resolve(args.flags.get('state-dir') ?? '/var/spool/mailgw'),
    ...(metricsAddress ? { metrics: parseListen(metricsAddress) } : {}),
  });
  const stopWatching = watchConfig(file, gateway, text, poll);
  const code = await runUntilSignal(gateway);
  stopWatching();
  return code;
}
