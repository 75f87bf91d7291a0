/**
 * mailgw command line: dispatches to the subcommands of DESIGN.md (CLI).
 * Exit codes: 0 ok, 1 invalid input or failure, 2 usage error.
 */
import { UsageError } from './args.ts';
import { StartupError } from '../gateway/startup-error.ts';

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

// Loaded on demand: a command starts without importing the others (the operator's Kubernetes client is heavy).
const COMMANDS: Record<string, () => Promise<(argv: string[]) => Promise<number>>> = {
  up: async () => (await import('./cmd-up.ts')).cmdUp,
  gateway: async () => (await import('./cmd-gateway.ts')).cmdGateway,
  queue: async () => (await import('./cmd-queue.ts')).cmdQueue,
  validate: async () => (await import('./cmd-validate.ts')).cmdValidate,
  render: async () => (await import('./cmd-render.ts')).cmdRender,
  operator: async () => (await import('./cmd-operator.ts')).cmdOperator,
  backup: async () => (await import('./cmd-backup.ts')).cmdBackup,
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
    return await (await command())(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`mailgw ${name}: ${err.message}\n`);
      return 2;
    }
    if (err instanceof StartupError) {
      process.stderr.write(`mailgw ${name}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
