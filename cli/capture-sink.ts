/**
 * Capture sinks for local mode (`mailgw up --capture`): stand-ins for the
 * internal mail server and the edge gateway when they are on loopback.
 * Each next hop of the config that is a loopback address (relayHost, every
 * LocalDomain routing) gets a small SMTP server that stores what it receives
 * as .eml files under <state-dir>/captured/ and logs one line per message —
 * so a new user sees a sent message arrive without any other software.
 */
import { writeFile } from 'node:fs/promises';
import { PRIVATE_FILE_MODE, privateDir } from '../gateway/private-fs.ts';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import type { Logger } from 'pino';
import { SMTPServer } from 'smtp-server';
import type { GatewayConfig, NextHop } from '../api/index.ts';

function isLoopback(host: string): boolean {
  try {
    return ipaddr.process(host).range() === 'loopback';
  } catch {
    return false;
  }
}

export async function startCaptureSinks(config: GatewayConfig, dir: string, logger: Logger): Promise<() => Promise<void>> {
  await privateDir(dir);
  const hops = new Map<string, { hop: NextHop; role: string }>();
  if (config.relayHost) hops.set(`${config.relayHost.host}:${config.relayHost.port}`, { hop: config.relayHost, role: 'edge gateway (relayHost)' });
  for (const d of config.localDomains) {
    if (d.routing) hops.set(`${d.routing.host}:${d.routing.port}`, { hop: d.routing, role: `internal server for ${d.domain}` });
  }
  const servers: SMTPServer[] = [];
  let n = 0;
  for (const [key, { hop, role }] of hops) {
    if (hop.mxLookup || !isLoopback(hop.host)) continue;
    const server = new SMTPServer({
      logger: false, authOptional: true, disabledCommands: ['AUTH', 'STARTTLS'], hideSTARTTLS: true, disableReverseLookup: true,
      onData(stream, session, callback) {
        const parts: Buffer[] = [];
        stream.on('data', (d: Buffer) => parts.push(d));
        stream.on('end', () => {
          const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${++n}.eml`);
          const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
          const to = session.envelope.rcptTo.map((r) => r.address);
          writeFile(file, Buffer.concat(parts), { mode: PRIVATE_FILE_MODE }).then(() => {
            logger.info({ event: 'captured', sink: key, role, from, to, file }, `message arrived at the ${role} (${key}): ${file}`);
            callback(null, 'Captured');
          }, (err: Error) => callback(err));
        });
      },
    });
    server.on('error', (err) => logger.warn({ event: 'capture-error', sink: key, err: err.message }, 'capture sink error'));
    try {
      await new Promise<void>((resolve, reject) => {
        server.server.once('error', reject);
        server.listen(hop.port, hop.host, () => resolve());
      });
      servers.push(server);
      logger.info({ event: 'capture-listening', sink: key, role, dir }, `capturing mail for the ${role} on ${key}`);
    } catch (err) {
      logger.warn({ event: 'capture-error', sink: key, err: (err as Error).message }, `cannot capture on ${key}: ${(err as Error).message}`);
    }
  }
  return async () => {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  };
}
