/**
 * `mailgw console --pods NS/NAME=URL,URL… [--listen 127.0.0.1:8080]`
 *
 * The console's server (console/console-server.ts): one view over every pod
 * of a gateway, each request made to the pods' operations APIs with the
 * caller's own bearer token. The pods are given with --pods; finding them
 * through the API server is the next step.
 */
import pino from 'pino';
import { StaticDirectory, startConsole } from '../console/console-server.ts';
import { parseArgs, parseListen, UsageError } from './args.ts';

export const CONSOLE_FLAGS = ['listen', 'pods'] as const;

export async function cmdConsole(argv: string[]): Promise<number> {
  const args = parseArgs(argv, CONSOLE_FLAGS);
  const pods = args.flags.get('pods');
  if (!pods) throw new UsageError('needs --pods NAMESPACE/NAME=URL,URL… (the gateway pods\' operations APIs)');
  let directory: StaticDirectory;
  try {
    directory = StaticDirectory.parse(pods);
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
