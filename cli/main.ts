/**
 * mailgw command line: dispatches to the subcommands of DESIGN.md (CLI).
 * Exit codes: 0 ok, 1 invalid input or failure, 2 usage error.
 */
import { UsageError } from './args.ts';
import { cmdGateway } from './cmd-gateway.ts';
import { cmdUp } from './cmd-up.ts';
import { cmdQueue } from './cmd-queue.ts';
import { cmdRender } from './cmd-render.ts';
import { cmdValidate } from './cmd-validate.ts';
import { cmdOperator } from './cmd-operator.ts';
import { cmdBackup } from './cmd-backup.ts';

const USAGE = `usage: mailgw <command> [options]

commands:
  up -f PATH... [--listen HOST:PORT] [--state-dir DIR] [--gateway NAME] [--capture]
                     run a gateway locally from manifests (no cluster needed);
                     --capture stores mail for loopback next hops in DIR/captured
  gateway --config FILE [--listen HOST:PORT] [--state-dir DIR]
                     run a gateway from a rendered config (what a pod runs)
  operator [--kubeconfig FILE] [--metrics-address HOST:PORT] [--lease-namespace NS]
                     run the operator (in-cluster config, KUBECONFIG or --kubeconfig)
  validate -f PATH... [--output json]
                     schema errors and integration-scheme lint findings
  render -f PATH... [--gateway NAME]
                     the Kubernetes objects the operator would apply, as YAML
  queue list|flush|delete|hold|release [ID...] [--state-dir DIR] [--output json]
                     administer the queue of a running gateway (like mailq/postsuper)
  backup list|show|release|delete [ID] [--to ADDRESS] [--state-dir DIR]
                     originals kept by rules with backup: true
`;

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  up: cmdUp,
  gateway: cmdGateway,
  queue: cmdQueue,
  validate: cmdValidate,
  render: cmdRender,
  operator: cmdOperator,
  backup: cmdBackup,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`mailgw: unknown command ${JSON.stringify(name)}\n${USAGE}`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`mailgw ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
