/**
 * The SMTP listener: accepts TCP connections, sets TCP_NODELAY, reads the
 * PROXY header from trusted load balancers (only from them), applies the
 * connection limits to the real client address, and hands the socket to
 * smtp-server. Logs refused connections; smtp-server's onClose logs the rest.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Runtime } from '../runtime.ts';
import type { GatewaySmtpServer } from '../smtpd/smtp-server-adapter.ts';
import { normalizeClientAddress } from '../tables/network-table.ts';
import { readProxyHeader } from './proxy-protocol.ts';
import { randomIdBytes } from '../random-pool.ts';

const PROXY_HEADER_TIMEOUT_MS = 10_000;

export function sessionId(): string {
  return randomIdBytes(8).toString('hex');
}

function refuse(socket: Socket, line: string): void {
  socket.on('error', () => undefined);
  socket.end(`${line}\r\n`);
  setTimeout(() => socket.destroy(), 1000).unref();
}

/**
 * `ready` resolves once the gateway can serve (spool recovered): the port is
 * bound before that, so a busy port fails the start before the spool is
 * touched, and a client connecting meanwhile waits for its greeting.
 */
export function createListener(current: () => { rt: Runtime; smtp: GatewaySmtpServer }, ready: Promise<void> = Promise.resolve()): Server {
  const handle = async (socket: Socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => undefined); // smtp-server reports errors once it owns the socket
    await ready;
    if (socket.destroyed) return;
    const { rt, smtp } = current();
    const sid = sessionId();
    const peer = normalizeClientAddress(socket.remoteAddress ?? '');
    let client = peer;
    let clientPort = socket.remotePort ?? 0;
    let localAddress = normalizeClientAddress(socket.localAddress ?? '');
    let localPort = socket.localPort ?? 0;
    const fromBalancer = rt.loadBalancers.size > 0 && rt.loadBalancers.contains(peer);
    let proxied = false;
    if (fromBalancer) {
      try {
        const header = await readProxyHeader(socket, PROXY_HEADER_TIMEOUT_MS);
        if (header.proxied) {
          proxied = true;
          client = normalizeClientAddress(header.remoteAddress!);
          clientPort = header.remotePort!;
          localAddress = normalizeClientAddress(header.localAddress!);
          localPort = header.localPort!;
        }
      } catch (err) {
        rt.metrics.connections.inc({ result: 'refused', reason: 'proxy-header' });
        rt.logger.warn({ event: 'connect', sid, client: peer, reason: 'proxy-header', err: (err as Error).message }, 'connection refused: bad PROXY header');
        refuse(socket, '421 4.7.0 Invalid PROXY protocol header');
        return;
      }
    }
    // A balancer's own connection (PROXY UNKNOWN/LOCAL: health checks) is never trusted, whatever its address.
    const trusted = fromBalancer && !proxied ? false : rt.trusted.contains(client);
    const refusal = rt.limits.connect(client, trusted);
    if (refusal) {
      rt.metrics.connections.inc({ result: 'refused', reason: refusal });
      rt.logger.warn({ event: 'connect', sid, client, peer, reason: refusal }, 'connection refused: limit');
      refuse(socket, `421 4.7.0 ${rt.config.hostname} Error: too many connections from ${client}`);
      return;
    }
    rt.metrics.connections.inc({ result: 'accepted', reason: '' });
    rt.metrics.openConnections.inc();
    socket.once('close', () => {
      rt.limits.disconnect(client);
      rt.metrics.openConnections.dec();
    });
    smtp.accept(socket, {
      runtime: rt,
      id: sid,
      remoteAddress: client,
      remotePort: clientPort,
      localAddress,
      localPort,
      trusted,
      pregreetDelayMs: trusted || (fromBalancer && !proxied) ? 0 : rt.config.limits.pregreetDelayMs,
      refuseProxyHeader: !fromBalancer,
      onProxyRefused: () => {
        rt.metrics.connections.inc({ result: 'refused', reason: 'proxy-not-allowed' });
        rt.logger.warn({ event: 'connect', sid, client, reason: 'proxy-not-allowed' }, 'connection refused: PROXY header from a source that is not a trusted load balancer');
      },
    });
  };
  return createServer({ noDelay: true }, (socket) => {
    handle(socket).catch((err: Error) => {
      current()?.rt.logger.error({ event: 'connect', err: err.message }, 'connection setup failed');
      socket.destroy();
    });
  });
}
