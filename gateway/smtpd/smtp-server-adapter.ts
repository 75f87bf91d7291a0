/**
 * The one place that bends smtp-server to the gateway's needs; everything
 * else uses its public hooks (onConnect, onMailFrom, onRcptTo, onData).
 * Only public members are overridden or called (send, init,
 * connectionReady, handler_*, connections, emit); no underscored internal is
 * touched. test/smtp-server-contract.test.ts pins the behaviour this relies on.
 *
 * - Connections are created by our listener (listener.ts), which has already
 *   applied limits and PROXY decoding, and handed over with connect().
 * - Replies whose text starts with an enhanced status code ("5.7.1 ...") are
 *   sent as they are; smtp-server would otherwise derive a second code from
 *   the numeric one (554 → 5.6.0).
 * - The early-talker delay (smtp-server hard-codes 100 ms for everyone) is a
 *   per-connection policy: `pregreetDelayMs` for untrusted clients, none for
 *   trusted networks and load balancers' health checks. smtp-server's own
 *   timer still calls connectionReady() after 100 ms; the override lets
 *   only our timer's call through.
 * - A client that is not a trusted load balancer and opens with a PROXY
 *   header is refused and disconnected.
 * - Error and junk-command limits (Postfix smtpd_hard_error_limit and
 *   smtpd_junk_command_limit): after limits.maxErrors 4xx/5xx replies, or
 *   limits.maxJunkCommands NOOP/RSET/VRFY/HELP, the session gets 421 4.7.0
 *   and is closed. Refusals that smtp-server decides itself (early talker,
 *   SIZE over the limit at MAIL FROM, syntax) are logged with their reason.
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
  private errors = 0;
  private junk = 0;
  private limitHit = false;
  private readonly raw: Socket;
  /** Our pregreet timer has run: the next connectionReady() call is ours. */
  private released = false;
  private readied = false;

  constructor(server: SMTPServer, socket: Socket, policy: ConnectionPolicy) {
    super(server, socket, {
      id: policy.id,
      remoteAddress: policy.remoteAddress,
      remotePort: policy.remotePort,
      localAddress: policy.localAddress,
      localPort: policy.localPort,
    });
    this.policy = policy;
    this.raw = socket;
    (this.session as GatewaySession).mgw = {
      rt: policy.runtime,
      trusted: policy.trusted, client: policy.remoteAddress, messagesAccepted: 0, rejected: 0, startedAt: Date.now(),
    };
  }

  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    const ours = typeof data === 'string' && ENHANCED_PREFIX.test(data);
    if (ours) super.send(code, data, false);
    else super.send(code, data, context);
    if (code < 400 || this.limitHit) return;
    const rt = this.policy.runtime;
    if (!ours) {
      // Decided inside smtp-server, so no stage logged it.
      const text = Array.isArray(data) ? data.join(' ') : (data ?? '');
      const reason = /talk too soon/i.test(text) ? 'early-talker' : code === 552 ? 'size' : /HTTP/.test(text) ? 'http' : /shutting down/i.test(text) ? 'shutdown' : code >= 500 ? 'syntax' : 'other';
      rt.logger.info({ event: 'refused', sid: this.id, client: this.policy.remoteAddress, command: context || undefined, code, reason, reply: text }, `refused: ${reason} (${code} ${text})`);
    }
    if (code === 421) return;
    this.errors++;
    const max = rt.config.limits.maxErrors;
    if (max > 0 && this.errors >= max) this.tooMany('errors', `${this.errors} errors`);
  }

  /** Closes the session after the error or junk-command limit: 421 4.7.0, one log line, a metric. */
  private tooMany(limit: 'errors' | 'junk', what: string): void {
    this.limitHit = true;
    const rt = this.policy.runtime;
    rt.metrics.sessionLimits.inc({ limit });
    rt.logger.warn({ event: 'session-limit', sid: this.id, client: this.policy.remoteAddress, limit, errors: this.errors, junk: this.junk }, `session closed: too many ${limit === 'errors' ? 'errors' : 'junk commands'} (${what})`);
    super.send(421, `4.7.0 ${rt.config.hostname} Error: too many ${limit === 'errors' ? 'errors' : 'junk commands'}`, false);
  }

  /** NOOP, RSET, VRFY and HELP count as junk commands. */
  private junkCommand(): boolean {
    this.junk++;
    const max = this.policy.runtime.config.limits.maxJunkCommands;
    if (max > 0 && this.junk > max) {
      this.tooMany('junk', `${this.junk} junk commands`);
      return true;
    }
    return false;
  }

  override handler_NOOP(command: Buffer, callback: () => void): void {
    if (this.junkCommand()) return callback();
    super.handler_NOOP(command, callback);
  }

  override handler_RSET(command: Buffer, callback: () => void): void {
    if (this.junkCommand()) return callback();
    super.handler_RSET(command, callback);
  }

  override handler_VRFY(command: Buffer, callback: () => void): void {
    if (this.junkCommand()) return callback();
    super.handler_VRFY(command, callback);
  }

  override handler_HELP(command: Buffer, callback: () => void): void {
    if (this.junkCommand()) return callback();
    super.handler_HELP(command, callback);
  }

  override init(): void {
    if (this.policy.refuseProxyHeader) {
      // Registered before smtp-server pipes the socket into its parser, so it sees the first bytes first.
      this.raw.once('data', (chunk: Buffer) => {
        if (!startsWithProxyHeader(chunk)) return;
        this.policy.onProxyRefused();
        this.send(554, '5.7.1 PROXY protocol header not accepted from this address', false);
        this.close();
      });
    }
    super.init();
    const ready = () => {
      this.released = true;
      this.connectionReady();
    };
    const delay = this.policy.pregreetDelayMs;
    if (delay <= 0) ready();
    else setTimeout(ready, delay).unref();
  }

  /** Greets once, when our pregreet delay has run (smtp-server's fixed 100 ms call is ignored). */
  override connectionReady(next?: () => void): void {
    if (!this.released || this.readied) return;
    this.readied = true;
    super.connectionReady(next);
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
    connection.on('error', (err: Error) => this.emit('error', err));
    connection.on('connect', (data) => this.emit('connect', data));
    connection.init();
  }
}
