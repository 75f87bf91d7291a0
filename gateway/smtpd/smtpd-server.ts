/**
 * Builds an smtp-server instance for one runtime (a reload builds a new one
 * for new connections; sessions in flight keep theirs): ESMTP features, TLS,
 * timeouts, and thin hooks that call the stage functions (smtpd-mail,
 * smtpd-rcpt, smtpd-data) and turn their replies into SMTP answers.
 */
import { readFileSync } from 'node:fs';
import type { SMTPServerOptions } from 'smtp-server';
import type { Runtime } from '../runtime.ts';
import { GatewaySmtpServer } from './smtp-server-adapter.ts';
import { replies } from '../smtp-replies.ts';
import { stateOf, type GatewaySession } from './session.ts';
import { checkMailFrom } from './smtpd-mail.ts';
import { checkRcptTo } from './smtpd-rcpt.ts';
import { receiveData } from './smtpd-data.ts';

export function createSmtpServer(rt: Runtime): GatewaySmtpServer {
  const cfg = rt.config;
  const tls = cfg.tls.inbound;
  const tlsOn = tls.mode !== 'None' && tls.certFile !== undefined && tls.keyFile !== undefined;
  const options: SMTPServerOptions = {
    name: cfg.hostname,
    banner: cfg.banner,
    ...(cfg.limits.messageSize > 0 ? { size: cfg.limits.messageSize } : {}),
    hideSize: false,
    hidePIPELINING: false,
    hide8BITMIME: false,
    hideSMTPUTF8: false,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: false,
    hideSTARTTLS: !tlsOn,
    disabledCommands: tlsOn ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    authOptional: true,
    disableReverseLookup: true,
    socketTimeout: cfg.limits.idleTimeoutMs,
    closeTimeout: 10_000,
    logger: false,
    ...(tlsOn ? {
      key: readFileSync(tls.keyFile!),
      cert: readFileSync(tls.certFile!),
      ...(tls.caFile ? { ca: readFileSync(tls.caFile) } : {}),
      requestCert: tls.clientCertificate !== 'None',
      rejectUnauthorized: tls.clientCertificate === 'Require',
    } : {}),
    onMailFrom(from, session, callback) {
      const reply = checkMailFrom(stateOf(session).rt, session, from);
      callback(reply ?? null);
    },
    onRcptTo(rcpt, session, callback) {
      checkRcptTo(stateOf(session).rt, session, rcpt).then((reply) => callback(reply ?? null), (err: Error) => {
        rt.logger.error({ event: 'rcpt', sid: session.id, err: err.message }, 'recipient check failed');
        callback(Object.assign(new Error('4.3.0 Temporary failure, try again later'), { responseCode: 451 }));
      });
    },
    onData(stream, session, callback) {
      receiveData(stateOf(session).rt, stream, session).then((message) => callback(null, message), (err: Error) => {
        if (typeof (err as { responseCode?: number }).responseCode !== 'number') {
          rt.logger.error({ event: 'message', sid: session.id, err: err.message }, 'data stage failed');
          stream.resume();
          return callback(replies.spoolFailed());
        }
        stream.resume();
        callback(err);
      });
    },
    onClose(session) {
      const state = (session as GatewaySession).mgw;
      if (!state) return;
      rt.logger.info({
        event: 'disconnect', sid: session.id, client: state.client, trusted: state.trusted,
        helo: session.hostNameAppearsAs || undefined, tls: Boolean(session.secure),
        messages: state.messagesAccepted, rejected: state.rejected, ms: Date.now() - state.startedAt,
      }, 'session closed');
    },
  };
  const server = new GatewaySmtpServer(options);
  // Connection-level errors (TLS handshakes, resets) are the client's problem, never a reason to crash.
  server.on('error', (err: Error & { remoteAddress?: string; code?: string }) => {
    rt.logger.warn({ event: 'session-error', client: err.remoteAddress, code: err.code, err: err.message }, 'session error');
  });
  return server;
}

