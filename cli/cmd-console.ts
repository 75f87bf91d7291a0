/**
 * `mailgw console [--pods NS/NAME=URL,URL…] [--namespaces NS,…] [--listen 127.0.0.1:8080]`
 *
 * The console's server (console/console-server.ts): one view over every pod
 * of a gateway, each request made to the pods' operations APIs with the
 * caller's own bearer token. In a cluster the MailGateways and their pods
 * are found through the API server, again with the caller's token (the
 * console needs no rights of its own); --pods names them instead.
 */
import pino from 'pino';
import { KubernetesDirectory, StaticDirectory, startConsole, type GatewayDirectory } from '../console/console-server.ts';
import { parseArgs, parseListen, UsageError } from './args.ts';

export const CONSOLE_FLAGS = ['listen', 'pods', 'namespaces', 'ops-port'] as const;

export async function cmdConsole(argv: string[]): Promise<number> {
  const args = parseArgs(argv, CONSOLE_FLAGS);
  const pods = args.flags.get('pods');
  let directory: GatewayDirectory;
  try {
    if (pods) directory = StaticDirectory.parse(pods);
    else {
      const opsPort = Number(args.flags.get('ops-port') ?? 8081);
      if (!Number.isInteger(opsPort) || opsPort < 1 || opsPort > 65535) throw new Error('--ops-port: expected a port number');
      const namespaces = args.flags.get('namespaces')?.split(',').map((n) => n.trim()).filter(Boolean);
      directory = await KubernetesDirectory.fromKubeconfig({ namespaces, opsPort });
    }
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const listen = parseListen(args.flags.get('listen') ?? '127.0.0.1:8080');
  const logger = pino({ base: { component: 'console' } });
  const server = await startConsole({ ...listen, directory, logger });
  const a = server.address() as { address: string; port: number };
  logger.info({ event: 'listening', host: a.address, port: a.port }, `console on http://${a.address}:${a.port}`);
  await new Promise<void>((resolve) => {
    const stop = () => server.close(() => resolve());
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return 0;
}
