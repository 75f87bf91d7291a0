/**
 * mailgw command line: dispatches to the subcommands of DESIGN.md (CLI).
 * Exit codes: 0 ok, 1 invalid input or failure, 2 usage error.
 */
import { UsageError } from './args.ts';
import { StartupError } from '../gateway/startup-error.ts';

/** Each command's synopsis and flags (test/cli-usage.test.ts checks that every flag a command accepts is listed): `mailgw COMMAND --help` prints its own, `mailgw --help` all of them. */
export const HELP: Record<string, string> = {
  up: `up -f PATH... [options]
    Run a gateway locally from manifests (no cluster needed).
      -f, --filename PATH        manifest file or directory (repeatable)
      --listen HOST:PORT         SMTP listener (default 127.0.0.1:2525)
      --state-dir DIR            spool, backup store, admin socket (default .mailgw)
      --gateway NAME             which MailGateway, when the manifests hold several
      --capture                  also play the loopback next hops, storing what they receive in DIR/captured
      --console HOST:PORT        serve the console there (pages and API), with an operator's and a viewer's token printed at start
      --workers N                gateway worker processes sharing the SMTP port (default 1)`,
  gateway: `gateway --config FILE|DIR [options]
    Run a gateway from a rendered config (what a pod runs); a changed config is applied live.
      --config FILE|DIR          the rendered config (JSON or YAML), or the directory its ConfigMaps are mounted in
      --listen HOST:PORT         SMTP listener (default 0.0.0.0:2525)
      --state-dir DIR            spool, backup store, admin socket (default /var/spool/mailgw)
      --config-poll DURATION     how often to look for a changed config (default 2s)
      --workers N                worker processes sharing the SMTP port, each with its own spool (default: the container's CPU limit, else the CPUs; at most one per 512 MiB of its memory limit)
      --metrics-address HOST:PORT  /metrics, /healthz, /readyz (not served when absent)
      --ops-listen HOST:PORT     the operations API; each caller's token and permissions checked by the API server (SelfSubjectReview, SelfSubjectAccessReview)
      --ops-token-file FILE      instead: fixed tokens, one per line: TOKEN USER view[,operate][,release]
      --handover-listen HOST:PORT  where retiring peers hand over their queues
      --handover-token-file FILE   the shared handover token (at least 16 characters)
      --handover-statefulset NAME  in Kubernetes: the StatefulSet that says whether this pod is scaled away
      --handover-peer-address TEMPLATE  peer address (default {pod}.{statefulset}-headless.{namespace}.svc:2526)
      --handover-peers HOST:PORT,...    static peers, instead of --handover-statefulset
      --handover-drain DURATION  time to deliver the queue before handing it over (default 20s)
      --handover-time DURATION   time for the handover itself (default 60s)`,
  operator: `operator [options]
    Run the operator (in-cluster config, KUBECONFIG or --kubeconfig).
      --kubeconfig FILE          kubeconfig to use (default $KUBECONFIG, else the pod's in-cluster config)
      --metrics-address HOST:PORT  /metrics, /healthz, /readyz (default 0.0.0.0:8080)
      --lease-namespace NS       namespace of the leader-election Lease (default $POD_NAMESPACE, else default)
      --lease-duration DURATION  leader lease duration (default 15s)
      --identity NAME            this replica's name in the Lease (default $POD_NAME, else host-pid)
      --autoscale-interval DURATION  how often the autopilot reads autoscaled gateways' pods (default 15s)
      --gateway-metrics-port PORT    the gateway pods' metrics port it reads (default 9090)
      --resync DURATION          full re-reconcile interval (default 10m)
      --watch-silence DURATION   restart a watch that has been silent this long (default 5m)
      --gateway-image IMAGE      image for gateway pods whose MailGateway sets no spec.image
      --watch-namespaces NS,...  watch (and need permissions in) only these namespaces (default: all)
      --config-limit SIZE        largest compressed config a gateway may have (default 5600Ki); larger: Degraded`,
  validate: `validate -f PATH... [--output text|json] [--config-limit SIZE]
    Schema errors and integration-scheme lint findings, each with file, document and line; exit 1 on errors.
      --config-limit SIZE        largest compressed config a gateway may have (default 5600Ki)`,
  render: `render -f PATH... [--gateway NAME] [--config-limit SIZE]
    The Kubernetes objects the operator would apply, as YAML.
      --config-limit SIZE        largest compressed config a gateway may have (default 5600Ki)`,
  queue: `queue list|flush|delete|hold|release [ID...] [--state-dir DIR] [--output text|json]
    Administer the queue of a running gateway through DIR/admin.sock (like mailq/postsuper).`,
  backup: `backup list|show|release|delete [ID] [--to ADDRESS] [--state-dir DIR] [--output text|json]
    Originals kept by rules with backup: true; release re-queues one (to ADDRESS instead of its recipients).`,
  console: `console [--pods NS/NAME=URL,URL…] [--namespaces NS,…] [--listen HOST:PORT]
    One view over every pod of a gateway: the pods' operations APIs asked with the caller's own token, merged; a pod that does not answer leaves a partial answer.
      --pods NS/NAME=URL,URL…     the gateway pods' operations APIs (several gateways separated by ;); without it, found through the API server
      --namespaces NS,…          where to look for MailGateways (default: the whole cluster, as far as the caller may list)
      --ops-port PORT            the pods' operations API port (default 8081)
      --listen HOST:PORT         where the console serves (default 127.0.0.1:8080)`,
  traffic: `traffic search [filters] | show ID [--state-dir DIR] [--output text|json]
    The traffic log of a running gateway: every message's arrival, verdicts, delivery attempts and outcome, newest first.
      --since, --until TIME      30m, 2h, 7d ago, or a time such as 2026-12-08T09:00:00Z
      --sender, --recipient ADDR an address, or a pattern with * (*@bank.example)
      --subject WORDS            words of the subject (all of them; word* for a prefix)
      --client IP                the SMTP client's address
      --status STATUS            queued, deferred, delivered, failed, deleted, rejected, tempfail or mixed
      --verdict WORD             a verdict word: antivirus=infected, antispam=spam, action=Delete, rule=NAME…
      --qid ID, --message-id ID  one message
      --limit N, --cursor C      page size (default 50) and the next page`,
};

const USAGE = `usage: mailgw <command> [options]   (mailgw <command> --help for one command)

commands:
${Object.values(HELP).map((h) => `  ${h}`).join('\n\n')}
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
  traffic: async () => (await import('./cmd-traffic.ts')).cmdTraffic,
  console: async () => (await import('./cmd-console.ts')).cmdConsole,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (command && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(`usage: mailgw ${HELP[name]}\n`);
    return 0;
  }
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
