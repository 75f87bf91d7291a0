/**
 * The one place that bends smtp-server to the gateway's needs; everything
 * else uses its public hooks (onConnect, onMailFrom, onRcptTo, onData).
 *
 * - Connections are created by our listener (listener.ts), which has already
 *   applied limits and PROXY decoding, and handed over with connect().
 * - Replies whose text starts with an enhanced status code ("5.7.1 ...") are
 *   sent as they are; smtp-server would otherwise derive a second code from
 *   the numeric one (554 → 5.6.0).
 * - The early-talker delay (smtp-server hard-codes 100 ms for everyone) is a
 *   per-connection policy: `pregreetDelayMs` for untrusted clients, none for
 *   trusted networks and load balancers' health checks.
 * - A client that is not a trusted load balancer and opens with a PROXY
 *   header is refused and disconnected.
 */
import type { Socket } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { startsWithProxyHeader } from '../listener/proxy-protocol.ts';
import type { GatewaySession } from './session.ts';
import type { Runtime } from '../runtime.ts';

const ENHANCED_PREFIX = /^[245]\.\d{1,3}\.\d{1,3} /;

export interface ConnectionPolicy {
  id: string;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  /** The runtime current when the connection was accepted. */
  runtime: Runtime;
  /** Decided once by the listener: the client is in a trusted network. */
  trusted: boolean;
  pregreetDelayMs: number;
  /** Refuse a PROXY header at the start of the stream (every non-load-balancer client). */
  refuseProxyHeader: boolean;
  onProxyRefused: () => void;
}

class GatewayConnection extends SMTPConnection {
  private readonly policy: ConnectionPolicy;

  constructor(server: SMTPServer, socket: Socket, policy: ConnectionPolicy) {
    super(server, socket, {
      id: policy.id,
      remoteAddress: policy.remoteAddress,
      remotePort: policy.remotePort,
      localAddress: policy.localAddress,
      localPort: policy.localPort,
    });
    this.policy = policy;
    (this.session as GatewaySession).mgw = {
      rt: policy.runtime,
      trusted: policy.trusted, client: policy.remoteAddress, messagesAccepted: 0, rejected: 0, startedAt: Date.now(),
    };
  }

  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    if (typeof data === 'string' && ENHANCED_PREFIX.test(data)) return super.send(code, data, false);
    super.send(code, data, context);
  }

  override init(): void {
    if (this.policy.refuseProxyHeader) {
      // Registered before smtp-server pipes the socket into its parser, so it sees the first bytes first.
      this._socket.once('data', (chunk: Buffer) => {
        if (!startsWithProxyHeader(chunk)) return;
        this.policy.onProxyRefused();
        this.send(554, '5.7.1 PROXY protocol header not accepted from this address', false);
        this.close();
      });
    }
    this._setListeners(() => {
      const delay = this.policy.pregreetDelayMs;
      if (delay <= 0) return this.connectionReady();
      setTimeout(() => this.connectionReady(), delay).unref();
    });
  }
}

export class GatewaySmtpServer extends SMTPServer {
  constructor(options: SMTPServerOptions) {
    super(options);
  }

  /** Hands an accepted (and, from a load balancer, PROXY-decoded) socket to smtp-server. */
  accept(socket: Socket, policy: ConnectionPolicy): void {
    const connection = new GatewayConnection(this, socket, policy);
    this.connections.add(connection);
    connection.on('error', (err: Error) => this._onError(err));
    connection.on('connect', (data) => this._onClientConnect(data));
    connection.init();
  }
}
