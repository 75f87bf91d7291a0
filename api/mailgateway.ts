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
import { ACTIONS, MESSAGE_ACTIONS, RULE_MODES, ruleSpec } from './rule.ts';
import { OUTBOUND_TLS_MODES, dkim, relayHost, secretKeyRef, transport } from './outbound.ts';

export { ACTIONS, MESSAGE_ACTIONS, RULE_MODES } from './rule.ts';
import { cidr, duration, host, metadata, objectName, port, size, toALabel } from './fields.ts';
import { SYSLOG_FACILITIES, SYSLOG_TRANSPORTS } from './siem.ts';
import { mailGatewayStatus } from './status.ts';

export const INTEGRATIONS = ['Direct', 'BehindEdgeGateway', 'BehindEdgeGatewayNoRecipientVerification'] as const;
export const TLS_MODES = ['None', 'Attempt', 'Require'] as const;
export const CLIENT_CERT_MODES = ['None', 'Request', 'Require'] as const;
export const VERIFICATION_MODES = ['DoNotReject', 'RejectUnverified'] as const;
/** KSMG actions; precedence when modules disagree: Delete > Reject > DeleteAttachment > Skip. */
export const SERVICE_TYPES = ['ClusterIP', 'LoadBalancer', 'NodePort'] as const;
/** True types the content filter recognises by magic bytes. */
export const FILE_TYPES = ['executable', 'script', 'archive', 'office-macro', 'pdf', 'image'] as const;
export const DEFAULT_IMAGE = 'mailgw/mailgw:0.1.0';

const freeForm = (description: string) => z.record(z.string(), z.unknown()).meta({ 'x-kubernetes-preserve-unknown-fields': true }).describe(description);

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
    .max(253)
    .refine((s) => toALabel(s) !== undefined, 'expected a fully qualified domain name')
    .optional()
    .describe('FQDN used in the banner, HELO, Received headers and DSNs. Default: <name>.<namespace>.mailgw.'),
  banner: z.string().max(200).regex(/^[^\r\n]*$/, 'a single line').optional()
    .describe('Text of the 220 greeting after "<hostname> ESMTP". Default: "mailgw".'),
  relayHost: relayHost.optional()
    .describe('Where mail for non-local domains goes (the edge gateway, a smarthost), unless a transport carries its domain. Absent: DNS MX of the recipient domain.'),
  transports: z.array(transport).max(8).default([])
    .superRefine((ts, ctx) => {
      const names = new Set<string>();
      ts.forEach((t, i) => {
        if (names.has(t.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `transport name ${t.name} is used twice` });
        names.add(t.name);
      });
    })
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })
    .describe('Routes for any destination domain (partners, a second internal system), before relayHost and DNS MX; LocalDomain routing comes first.'),
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
      memoryBudget: size.default('256Mi')
        .describe('Memory per gateway pod for what must be held in memory: each session\'s DATA buffers (256 KiB while it streams to disk) and one decoded attachment or archive per message being inspected. Mail itself streams through files. A session that cannot get its share within 5 s is answered 451 4.3.2. Keep it well under the pod\'s memory limit (docs/operations.md, sizing).'),
      maxHops: z.number().int().min(1).max(1000).default(50)
        .describe('A message with this many Received/Delivered-To headers or more is refused with 554 5.4.6 (a mail loop; Postfix hopcount_limit). A queued message over the limit is bounced, never sent.'),
      maxErrors: z.number().int().min(0).default(20)
        .describe('Refused commands in one session before the gateway answers 421 4.7.0 and closes it (Postfix smtpd_hard_error_limit); 0 = unlimited.'),
      maxJunkCommands: z.number().int().min(0).default(100)
        .describe('NOOP, RSET, VRFY, HELP and ETRN commands in one session before 421 4.7.0 and close (Postfix smtpd_junk_command_limit); 0 = unlimited.'),
    })
    .prefault({})
    .describe('Session and message limits.'),
  queue: z
    .strictObject({
      lifetime: duration.default('72h').describe('How long a message may stay deferred before it bounces.'),
      bounceLifetime: duration.default('72h').describe('How long a DSN may stay deferred before it is dropped.'),
      minBackoff: duration.default('5m').describe('Shortest wait between delivery attempts.'),
      maxBackoff: duration.default('1h').describe('Longest wait between delivery attempts.'),
      delayWarning: duration.default('4h').describe('After this long still deferred, the sender gets one delay notice (RFC 3464 Action: delayed) unless NOTIFY excludes DELAY; "0" turns delay notices off.'),
      storage: z.strictObject({
        size: size.default('10Gi').describe('Size of the spool volume per pod.'),
        storageClassName: z.string().max(253).optional().describe('StorageClass of the spool volume.'),
      }).prefault({}).describe('The spool volume.'),
    })
    .prefault({})
    .describe('Queue lifetime, retry and spool storage.'),
  dkim: dkim.prefault({}),
  dsn: z.strictObject({
    suppressForSuspectSenders: z.boolean().default(true)
      .describe('No DSN (logged and counted instead) to a sender whose message failed SPF or DMARC or scored as spam: it is most likely forged (backscatter).'),
    suppressForUnreachableSenders: z.boolean().default(true)
      .describe('No DSN to a sender whose domain has a null MX or no address: it could never be delivered.'),
  }).prefault({}).describe('Delivery status notifications to senders.'),
  tls: z
    .strictObject({
      inbound: z.strictObject({
        mode: z.enum(TLS_MODES).default('Attempt').describe('STARTTLS for clients: None, Attempt (offer it) or Require (refuse mail without it).'),
        clientCertificate: z.enum(CLIENT_CERT_MODES).default('None').describe('Client certificates: None, Request or Require (Require needs mode Require).'),
        certificate: tlsCertificate.optional().describe('Server certificate. Without it STARTTLS is not offered.'),
      }).prefault({}).describe('TLS for incoming sessions.'),
      outbound: z.strictObject({
        mode: z.enum(OUTBOUND_TLS_MODES).default('Attempt')
          .describe('STARTTLS to next hops without a policy of their own: None, Attempt (opportunistic, unverified), Encrypt (required, unverified), Verify (required; the chain must lead to a trusted CA and the name match the next hop or MX name), or Require — the earlier name of Encrypt: it meant "encrypted, to any certificate", and renders as Encrypt.'),
        ca: secretKeyRef.optional().describe('Secret whose ca.crt holds the CAs trusted for Verify. Default: the system roots.'),
        clientCertificate: secretKeyRef.optional().describe('Secret of type kubernetes.io/tls presented to next hops that ask for a client certificate.'),
        mtaSts: z.boolean().default(true).describe('Honour MTA-STS (RFC 8461) when delivering by MX: a domain\'s enforce policy restricts delivery to its listed MX hosts with a verified certificate (deferred otherwise); testing delivers and logs. Policies are fetched over HTTPS (system roots, plus ca).'),
      }).prefault({}).describe('TLS for outgoing sessions (the default policy; relayHost and transports may set their own).'),
    })
    .prefault({})
    .meta({
      'x-kubernetes-validations': [
        { rule: "!has(self.inbound) || !has(self.inbound.clientCertificate) || self.inbound.clientCertificate != 'Require' || (has(self.inbound.mode) && self.inbound.mode == 'Require')", message: 'tls.inbound.clientCertificate Require needs tls.inbound.mode Require', fieldPath: '.inbound.clientCertificate' },
        { rule: "!has(self.inbound) || !has(self.inbound.mode) || self.inbound.mode != 'Require' || has(self.inbound.certificate)", message: 'tls.inbound.mode Require needs tls.inbound.certificate', fieldPath: '.inbound.certificate' },
        { rule: "!has(self.inbound) || !has(self.inbound.clientCertificate) || self.inbound.clientCertificate == 'None' || has(self.inbound.certificate)", message: 'tls.inbound.clientCertificate needs tls.inbound.certificate', fieldPath: '.inbound.certificate' },
      ],
    })
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
      servers: z.array(z.string().max(64).regex(/^(\[[0-9a-fA-F:.]+\]|[0-9.]+|[0-9a-fA-F:]+)(:\d+)?$/, 'expected an IP address with an optional port'))
        .max(8).default([]).describe('DNS servers ("10.0.0.10", "127.0.0.1:5353"); empty: the system resolver.'),
      timeout: duration.default('10s').describe('Time limit for one DNS query.'),
    })
    .prefault({})
    .describe('DNS used for MX lookups, callouts and sender checks.'),
  authentication: z
    .strictObject({
      spf: z.boolean().optional().describe('Check SPF. Default: on, off for BehindEdgeGatewayNoRecipientVerification (the peer is always the edge).'),
      dkim: z.boolean().default(true).describe('Verify DKIM signatures.'),
      dmarc: z.boolean().optional().describe('Check DMARC. Default: on, off for BehindEdgeGatewayNoRecipientVerification.'),
      tempErrorIsViolation: z.boolean().default(false).describe('Count a TempError result as a violation.'),
      permErrorIsViolation: z.boolean().default(false).describe('Count a PermError result as a violation.'),
      applyDmarcPolicy: z.boolean().default(false).describe("Apply the sender domain's DMARC policy (p=reject/quarantine)."),
      action: z.enum(MESSAGE_ACTIONS).optional().describe('What a violation does: Skip, Reject or Delete. Default: Reject, Delete behind an edge without recipient verification.'),
    })
    .prefault({})
    .describe('Sender authentication (SPF, DKIM, DMARC).'),
  protection: z
    .strictObject({
      antivirus: z.strictObject({
        enabled: z.boolean().default(false).describe('Scan with ClamAV (clamd).'),
        clamd: z.string().max(256).regex(/^(tcp:\/\/[^/\s]+:\d{1,5}|unix:\/\S+)$/, 'expected tcp://HOST:PORT or unix:/PATH').default('tcp://127.0.0.1:3310')
          .describe('clamd address: tcp://HOST:PORT or unix:/PATH.'),
        timeout: duration.default('30s').describe('Time limit for one scan.'),
        maxScanSize: size.default('25Mi').describe('Bytes of a message sent to clamd; the rest is not scanned.'),
        actions: z.strictObject({
          infected: z.enum(ACTIONS).optional().describe('Action for an infected message. Default: Reject, Delete behind an edge without recipient verification.'),
          encrypted: z.enum(ACTIONS).default('Skip').describe('Action for an encrypted (unscannable) message.'),
        }).prefault({}).describe('Actions per scan status.'),
      }).prefault({}).describe('Anti-virus.'),
      antispam: z.strictObject({
        enabled: z.boolean().default(false).describe('Scan with rspamd.'),
        rspamd: z.string().max(256).regex(/^https?:\/\/\S+$/, 'expected an http(s) URL').default('http://127.0.0.1:11333').describe('URL of the rspamd normal worker.'),
        timeout: duration.default('20s').describe('Time limit for one scan.'),
        actions: z.strictObject({
          spam: z.enum(MESSAGE_ACTIONS).optional().describe('Action for spam. Default: Reject, Delete behind an edge without recipient verification.'),
          probableSpam: z.enum(MESSAGE_ACTIONS).default('Skip').describe('Action for probable spam (delivered tagged when Skip).'),
        }).prefault({}).describe('Actions per verdict.'),
        subjectTag: z.string().max(64).default('[Spam]').describe('Tag added to the subject of spam and probable spam that is delivered (empty: none).'),
      }).prefault({}).describe('Anti-spam.'),
      contentFilter: z.strictObject({
        enabled: z.boolean().default(false).describe('Filter by size, attachment names and true types.'),
        action: z.enum(ACTIONS).optional().describe('Action for a match. Default: Reject, Delete behind an edge without recipient verification.'),
        maxMessageSize: size.optional().describe('Messages larger than this match.'),
        fileNames: z.array(z.string().min(1).max(255)).max(256).default([]).describe('Attachment file name masks (* and ?, case-insensitive), e.g. "*.exe".'),
        fileTypes: z.array(z.enum(FILE_TYPES)).max(16).default([]).describe('True types found by content (magic bytes), whatever the name says.'),
        archiveDepth: z.number().int().min(0).max(10).default(3).describe('How deep to look into nested archives — zip, tar, gzip (a tar.gz is two levels) — (0: archives are not opened); see blockUnscannableArchives for what lies deeper.'),
        archiveMaxBytes: size.default('50Mi').describe('Most uncompressed bytes examined per archive.'),
        blockUnscannableArchives: z.boolean().default(true).describe('An archive that cannot be looked into (nested deeper than archiveDepth, damaged, with encrypted entries, or 7z and rar, which are recognised but not opened) counts as a finding, so it is no way past the filter.'),
      }).prefault({}).describe('Content filtering.'),
      onScannerFailure: z.enum(['Tempfail', 'Pass']).default('Tempfail')
        .describe('A scanner down or timing out: Tempfail answers 451 4.7.1 (the sender retries), Pass delivers with a header saying it was not scanned.'),
      infoHeaders: z.boolean().default(true).describe('Add X-Mailgw-Rule, -Action, -AntiVirus and -AntiSpam-Status headers to delivered mail.'),
      ndrAfterSession: z.boolean().default(true).describe('When a reject can only be decided after the session (recipients under different rules), send an NDR.'),
    })
    .prefault({})
    .describe('Protection modules and their actions (Skip, Reject, Delete, DeleteAttachment).'),
  rules: z
    .array(ruleSpec)
    .max(256)
    .default([])
    .superRefine((rules, ctx) => {
      const seen = new Set<string>();
      rules.forEach((r, i) => {
        if (r.name === 'default') ctx.addIssue({ code: 'custom', path: [i, 'name'], message: '"default" names defaultRule: choose another name' });
        else if (seen.has(r.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `rule name ${r.name} is used twice: names identify rules in logs, headers and recipient groups` });
        seen.add(r.name);
      });
    })
    // Keyed by name: the API server refuses a name twice, and server-side apply merges rules from several managers by name.
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })
    .describe('Rules, evaluated top-down: the first whose sender and recipient match wins; else defaultRule.'),
  defaultRule: z.strictObject({
    mode: z.enum(RULE_MODES).default('Scan').describe('Mode when no rule matches.'),
    backup: z.boolean().default(false).describe('Keep the original message in the backup store.'),
  }).prefault({}).describe('What applies when no rule matches.'),
  backup: z.strictObject({
    maxSize: size.default('7Gi').describe('Size cap of the backup store; the oldest entries are purged.'),
    retention: duration.default('720h').describe('How long an entry is kept.'),
  }).prefault({}).describe('The backup store (on the spool volume).'),
  trafficLog: z.strictObject({
    enabled: z.boolean().default(true).describe('Record every message\'s life (arrival, verdicts, delivery attempts, final status per recipient) in a searchable log on the spool volume, written off the SMTP path.'),
    retention: duration.default('168h').describe('How long a message stays in the traffic log.'),
    maxSize: size.default('1Gi').describe('Size cap of the traffic log; the oldest messages are removed first.'),
  }).prefault({}).describe('The traffic log (message search, timelines).'),
  siem: z.strictObject({
    syslog: z.strictObject({
      host: host.describe('The syslog receiver (a SIEM collector): IPv4, IPv6 or a DNS name.'),
      port: port.default(514).describe('Its port (6514 is usual for TLS).'),
      transport: z.enum(SYSLOG_TRANSPORTS).default('TCP').describe('UDP (one datagram per event), TCP, or TLS (RFC 5425; the certificate checked against host).'),
      ca: secretKeyRef.optional().describe('Secret whose ca.crt holds the CAs trusted for TLS. Default: the system roots.'),
      facility: z.enum(SYSLOG_FACILITIES).default('local0').describe('Syslog facility of the events.'),
    }).optional().describe('Send traffic and audit events as CEF over syslog (RFC 5424 framing); unset: not sent.'),
  }).prefault({}).describe('Export to a SIEM (docs/operations.md has the CEF field mapping).'),
  replicas: z.number().int().min(0).max(100).default(2).describe('Number of gateway pods (with autoscaling: ignored, the autoscaler decides).'),
  autoscaling: z.strictObject({
    mode: z.enum(['Operator', 'HorizontalPodAutoscaler']).default('Operator')
      .describe('Operator: the operator scales the gateway from its pods\' own metrics (queue backlog, CPU), scale-down one pod at a time through the handover. HorizontalPodAutoscaler: the platform\'s HPA owns the replica count (render one for CPU, e.g. with the Helm chart\'s gateway.autoscaling); the operator leaves it alone.'),
    minReplicas: z.number().int().min(1).max(100).default(2).describe('Fewest gateway pods.'),
    maxReplicas: z.number().int().min(1).max(100).describe('Most gateway pods.'),
    targetQueueAge: duration.default('30s').describe('Scale up while a pod\'s oldest message still waiting for its first delivery attempt is older than this (deferred mail, waiting for its next hop, does not count).'),
    targetCPUUtilization: z.number().int().min(1).max(100).default(70).describe('Scale to keep the pods\' average CPU at this percentage of their CPU request (of one CPU when resources set none).'),
    scaleUpStabilization: duration.default('30s').describe('A scale-up waits until the load has asked for it this long, and comes this long after the previous change.'),
    scaleDownStabilization: duration.default('5m').describe('A scale-down waits until every recommendation in this window was lower; then one pod at a time, each after the previous one has handed its queue over and gone.'),
  }).meta({
    'x-kubernetes-validations': [{ rule: '!has(self.minReplicas) || self.minReplicas <= self.maxReplicas', message: 'autoscaling.minReplicas must not exceed maxReplicas', fieldPath: '.minReplicas' }],
  }).superRefine((a, ctx) => {
    if (a.minReplicas > a.maxReplicas) ctx.addIssue({ code: 'custom', path: ['minReplicas'], message: 'minReplicas must not exceed maxReplicas' });
  }).optional().describe('Autopilot: scale the gateway pods with the load (unset: spec.replicas pods).'),
  image: z.string().min(1).max(512).optional().describe(`Container image of the gateway. Default: the operator's own image (its --gateway-image flag, which the Helm chart sets from image.repository and image.tag), else ${DEFAULT_IMAGE}.`),
  resources: freeForm('Compute resources of the gateway container (Kubernetes ResourceRequirements).').optional(),
  service: z
    .strictObject({
      type: z.enum(SERVICE_TYPES).default('ClusterIP').describe('Service type: ClusterIP, LoadBalancer or NodePort.'),
      port: port.default(25).describe('Port the Service offers SMTP on.'),
      externalTrafficPolicy: z.enum(['Cluster', 'Local']).optional().describe('For LoadBalancer/NodePort. Default: Local, so client addresses survive.'),
      annotations: z.record(z.string().max(253), z.string().max(4096)).optional().describe('Annotations of the Service (cloud load balancer settings).'),
      loadBalancerSourceRanges: z.array(cidr).max(64).optional().describe('Source ranges allowed to reach a LoadBalancer Service.'),
    })
    .prefault({})
    .describe('The Service in front of the gateway pods.'),
  nodeSelector: z.record(z.string().max(317), z.string().max(63)).optional().describe('Node labels the gateway pods must run on.'),
  tolerations: z.array(freeForm('A Kubernetes toleration.')).max(32).optional().describe('Tolerations of the gateway pods.'),
  affinity: freeForm('Kubernetes affinity of the gateway pods.').optional(),
  topologySpreadConstraints: z.array(freeForm('A Kubernetes topology spread constraint.')).max(16).optional().describe('How gateway pods spread over zones and nodes.'),
  priorityClassName: z.string().max(253).optional().describe('PriorityClass of the gateway pods.'),
});

export const mailGateway = z.strictObject({
  apiVersion: z.literal('mailgw.io/v1alpha1'),
  kind: z.literal('MailGateway'),
  metadata,
  spec: mailGatewaySpec.prefault({}),
  status: mailGatewayStatus.optional(),
});

export type MailGateway = z.output<typeof mailGateway>;
export type MailGatewaySpec = z.output<typeof mailGatewaySpec>;
