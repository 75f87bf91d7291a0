/**
 * MailGateway (mailgw.io/v1alpha1): one gateway deployment and its MTA
 * settings. Field names are the public contract of DESIGN.md; defaults follow
 * KSMG/Postfix (docs in ../shared/reference/ksmg-features.md).
 *
 * Defaults that depend on `integration` (recipient verification mode, ...)
 * are left undefined here and applied by the renderer's integration presets,
 * so an explicit field always wins.
 */
import { z } from 'zod';
import { cidr, duration, host, metadata, nextHop, objectName, size, toALabel } from './fields.ts';

export const INTEGRATIONS = ['Direct', 'BehindEdgeGateway', 'BehindEdgeGatewayNoRecipientVerification'] as const;
export const TLS_MODES = ['None', 'Attempt', 'Require'] as const;
export const CLIENT_CERT_MODES = ['None', 'Request', 'Require'] as const;
export const VERIFICATION_MODES = ['DoNotReject', 'RejectUnverified'] as const;

const tlsCertificate = z.strictObject({
  secretName: objectName.describe('Secret of type kubernetes.io/tls holding tls.crt, tls.key and optionally ca.crt (for client certificates).'),
});

export const mailGatewaySpec = z.strictObject({
  integration: z
    .enum(INTEGRATIONS)
    .default('Direct')
    .describe('Integration scheme: Direct (the gateway is the MX), BehindEdgeGateway (the edge verifies recipients) or BehindEdgeGatewayNoRecipientVerification (nobody verifies recipients). Sets defaults and drives lint warnings.'),
  hostname: z
    .string()
    .refine((s) => toALabel(s) !== undefined, 'expected a fully qualified domain name')
    .optional()
    .describe('FQDN used in the banner, HELO, Received headers and DSNs. Default: <name>.<namespace>.mailgw.'),
  banner: z.string().max(200).regex(/^[^\r\n]*$/, 'a single line').optional()
    .describe('Text of the 220 greeting after "<hostname> ESMTP". Default: "mailgw".'),
  relayHost: nextHop.optional()
    .describe('Where mail for non-local domains goes (the edge gateway). Absent: DNS MX of the recipient domain.'),
  recipientVerification: z
    .strictObject({
      mode: z.enum(VERIFICATION_MODES).optional()
        .describe('DoNotReject: accept every recipient that passes relay control. RejectUnverified: ask the next hop (SMTP callout) before answering RCPT. Default from the integration scheme.'),
      positiveTtl: duration.default('1h').describe('How long a verified recipient is remembered.'),
      negativeTtl: duration.default('10m').describe('How long a rejected recipient is remembered.'),
      timeout: duration.default('10s').describe('Time limit for one callout.'),
    })
    .prefault({})
    .describe('Recipient verification (Postfix reject_unverified_recipient).'),
  limits: z
    .strictObject({
      messageSize: size.default(20_971_520).describe('Largest message in bytes, headers included; 0 = unlimited.'),
      recipientsPerMessage: z.number().int().min(1).max(100_000).default(1000).describe('Most RCPT TO commands in one transaction.'),
      connectionsPerClient: z.number().int().min(0).default(50).describe('Simultaneous connections from one client address; 0 = unlimited.'),
      connectionsTotal: z.number().int().min(0).default(10_000).describe('Simultaneous connections per gateway pod; 0 = unlimited.'),
      connectionRatePerClient: z.number().int().min(0).default(0).describe('Connections per client per minute; 0 = unlimited.'),
      messageRatePerClient: z.number().int().min(0).default(0).describe('Messages (MAIL FROM) per client per minute; 0 = unlimited.'),
      idleTimeout: duration.default('30s').describe('How long a session may stay silent.'),
      pregreetDelay: duration.default('100ms')
        .describe('Untrusted clients must wait this long for the greeting; one that talks first is refused (early-talker check). Trusted networks never wait.'),
    })
    .prefault({})
    .describe('Session and message limits.'),
  queue: z
    .strictObject({
      lifetime: duration.default('72h').describe('How long a message may stay deferred before it bounces.'),
      bounceLifetime: duration.default('72h').describe('How long a DSN may stay deferred before it is dropped.'),
      minBackoff: duration.default('5m').describe('Shortest wait between delivery attempts.'),
      maxBackoff: duration.default('1h').describe('Longest wait between delivery attempts.'),
      storage: z.strictObject({
        size: size.default('10Gi').describe('Size of the spool volume per pod.'),
        storageClassName: z.string().optional().describe('StorageClass of the spool volume.'),
      }).prefault({}).describe('The spool volume.'),
    })
    .prefault({})
    .describe('Queue lifetime, retry and spool storage.'),
  tls: z
    .strictObject({
      inbound: z.strictObject({
        mode: z.enum(TLS_MODES).default('Attempt').describe('STARTTLS for clients: None, Attempt (offer it) or Require (refuse mail without it).'),
        clientCertificate: z.enum(CLIENT_CERT_MODES).default('None').describe('Client certificates: None, Request or Require (Require needs mode Require).'),
        certificate: tlsCertificate.optional().describe('Server certificate. Without it STARTTLS is not offered.'),
      }).prefault({}).describe('TLS for incoming sessions.'),
      outbound: z.strictObject({
        mode: z.enum(TLS_MODES).default('Attempt').describe('STARTTLS to next hops: None, Attempt or Require.'),
      }).prefault({}).describe('TLS for outgoing sessions.'),
    })
    .prefault({})
    .superRefine((tls, ctx) => {
      if (tls.inbound.clientCertificate === 'Require' && tls.inbound.mode !== 'Require') {
        ctx.addIssue({ code: 'custom', path: ['inbound', 'clientCertificate'], message: 'clientCertificate Require needs inbound mode Require' });
      }
      if (tls.inbound.mode !== 'None' && tls.inbound.clientCertificate !== 'None' && !tls.inbound.certificate) {
        ctx.addIssue({ code: 'custom', path: ['inbound', 'certificate'], message: 'client certificates need a server certificate' });
      }
      if (tls.inbound.mode === 'Require' && !tls.inbound.certificate) {
        ctx.addIssue({ code: 'custom', path: ['inbound', 'certificate'], message: 'inbound mode Require needs a certificate' });
      }
    })
    .describe('TLS settings.'),
  proxyProtocol: z
    .strictObject({
      trustedLoadBalancers: z.array(cidr).max(256).default([])
        .describe('Sources allowed to send a PROXY protocol (v1 or v2) header; the address inside it is then the client. From anyone else a PROXY header is refused.'),
    })
    .prefault({})
    .describe('PROXY protocol from load balancers.'),
  resolver: z
    .strictObject({
      servers: z.array(z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[0-9.]+|[0-9a-fA-F:]+)(:\d+)?$/, 'expected an IP address with an optional port'))
        .max(8).default([]).describe('DNS servers ("10.0.0.10", "127.0.0.1:5353"); empty: the system resolver.'),
      timeout: duration.default('10s').describe('Time limit for one DNS query.'),
    })
    .prefault({})
    .describe('DNS used for MX lookups, callouts and sender checks.'),
  replicas: z.number().int().min(0).max(100).default(2).describe('Number of gateway pods.'),
});

export const mailGateway = z.strictObject({
  apiVersion: z.literal('mailgw.io/v1alpha1'),
  kind: z.literal('MailGateway'),
  metadata,
  spec: mailGatewaySpec.prefault({}),
  status: z.unknown().optional(),
});

export type MailGateway = z.output<typeof mailGateway>;
export type MailGatewaySpec = z.output<typeof mailGatewaySpec>;
export { host };
