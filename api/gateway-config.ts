/**
 * The rendered gateway config: what the operator writes into a ConfigMap and
 * `mailgw gateway --config FILE` reads. Everything is resolved: durations in
 * milliseconds, sizes in bytes, domains as A-labels, CIDRs normalised, the
 * integration presets applied. The gateway never re-derives a default.
 */
import { z } from 'zod';
import { renderedRule } from './rule.ts';
import { RENDERED_OUTBOUND_TLS_MODES } from './outbound.ts';
import { SYSLOG_TRANSPORTS } from './siem.ts';
import { ACTIONS, FILE_TYPES, INTEGRATIONS, MESSAGE_ACTIONS, RULE_MODES, TLS_MODES, CLIENT_CERT_MODES, VERIFICATION_MODES } from './mailgateway.ts';

const ms = z.number().int().min(0);
const count = z.number().int().min(0);

export const renderedNextHop = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  mxLookup: z.boolean(),
});

/** A TLS policy with the Secret files it reads (re-read when they change). */
export const renderedTls = z.strictObject({
  mode: z.enum(RENDERED_OUTBOUND_TLS_MODES),
  caFile: z.string().optional(),
  certFile: z.string().optional(),
  keyFile: z.string().optional(),
});
export const renderedAuth = z.strictObject({ usernameFile: z.string(), passwordFile: z.string() });
/** Next hops of one route, tried in order, with the route's TLS policy and credentials. */
export const renderedRoute = z.strictObject({
  hops: z.array(renderedNextHop).min(1),
  tls: renderedTls.optional(),
  auth: renderedAuth.optional(),
});

export const gatewayConfig = z.strictObject({
  version: z.literal(1),
  gateway: z.strictObject({ namespace: z.string(), name: z.string() }),
  integration: z.enum(INTEGRATIONS),
  hostname: z.string().min(1),
  banner: z.string(),
  relayHost: renderedNextHop.optional(),
  /** relayHost's fallbacks, TLS policy and AUTH (relayHost itself is hops[0]). */
  relay: renderedRoute.optional(),
  transports: z.array(z.strictObject({
    name: z.string(),
    domains: z.array(z.string()),
    includeSubdomains: z.boolean(),
    route: renderedRoute,
  })).default([]),
  localDomains: z.array(z.strictObject({
    domain: z.string().min(1),
    includeSubdomains: z.boolean(),
    routing: renderedNextHop.optional(),
    source: z.string(),
  })),
  trustedNetworks: z.array(z.strictObject({ cidr: z.string(), source: z.string() })),
  recipientVerification: z.strictObject({
    mode: z.enum(VERIFICATION_MODES),
    positiveTtlMs: ms,
    negativeTtlMs: ms,
    timeoutMs: ms,
  }),
  limits: z.strictObject({
    messageSize: count,
    recipientsPerMessage: count,
    connectionsPerClient: count,
    connectionsTotal: count,
    connectionRatePerClient: count,
    messageRatePerClient: count,
    idleTimeoutMs: ms,
    pregreetDelayMs: ms,
    memoryBudget: count,
    maxHops: count,
    maxErrors: count,
    maxJunkCommands: count,
  }),
  queue: z.strictObject({
    lifetimeMs: ms,
    bounceLifetimeMs: ms,
    minBackoffMs: ms,
    maxBackoffMs: ms,
    delayWarningMs: ms.default(4 * 3600_000),
  }),
  dkim: z.strictObject({
    keys: z.array(z.strictObject({ domain: z.string(), selector: z.string(), keyFile: z.string(), selectorFile: z.string() })),
    headers: z.array(z.string()),
  }).default({ keys: [], headers: [] }),
  dsn: z.strictObject({ suppressForSuspectSenders: z.boolean(), suppressForUnreachableSenders: z.boolean() }).default({ suppressForSuspectSenders: true, suppressForUnreachableSenders: true }),
  tls: z.strictObject({
    inbound: z.strictObject({
      mode: z.enum(TLS_MODES),
      clientCertificate: z.enum(CLIENT_CERT_MODES),
      certFile: z.string().optional(),
      keyFile: z.string().optional(),
      caFile: z.string().optional(),
    }),
    outbound: renderedTls.extend({ mtaSts: z.boolean().default(true) }),
  }),
  proxyProtocol: z.strictObject({ trustedLoadBalancers: z.array(z.string()) }),
  resolver: z.strictObject({ servers: z.array(z.string()), timeoutMs: ms }),
  authentication: z.strictObject({
    spf: z.boolean(),
    dkim: z.boolean(),
    dmarc: z.boolean(),
    tempErrorIsViolation: z.boolean(),
    permErrorIsViolation: z.boolean(),
    applyDmarcPolicy: z.boolean(),
    action: z.enum(MESSAGE_ACTIONS),
  }),
  protection: z.strictObject({
    antivirus: z.strictObject({
      enabled: z.boolean(), clamd: z.string(), timeoutMs: ms, maxScanSize: count,
      actions: z.strictObject({ infected: z.enum(ACTIONS), encrypted: z.enum(ACTIONS) }),
    }),
    antispam: z.strictObject({
      enabled: z.boolean(), rspamd: z.string(), timeoutMs: ms,
      actions: z.strictObject({ spam: z.enum(MESSAGE_ACTIONS), probableSpam: z.enum(MESSAGE_ACTIONS) }), subjectTag: z.string(),
    }),
    contentFilter: z.strictObject({
      enabled: z.boolean(), action: z.enum(ACTIONS), maxMessageSize: count.optional(), fileNames: z.array(z.string()),
      fileTypes: z.array(z.enum(FILE_TYPES)), archiveDepth: count, archiveMaxBytes: count, blockUnscannableArchives: z.boolean().default(true),
    }),
    onScannerFailure: z.enum(['Tempfail', 'Pass']),
    infoHeaders: z.boolean(),
    ndrAfterSession: z.boolean(),
  }),
  rules: z.array(renderedRule),
  defaultRule: z.strictObject({ mode: z.enum(RULE_MODES), backup: z.boolean() }),
  backup: z.strictObject({ maxSize: count, retentionMs: ms }),
  trafficLog: z.strictObject({ enabled: z.boolean(), retentionMs: ms, maxSize: count }).prefault({ enabled: true, retentionMs: 604_800_000, maxSize: 1_073_741_824 }),
  siem: z.strictObject({
    syslog: z.strictObject({ host: z.string(), port: z.number().int(), transport: z.enum(SYSLOG_TRANSPORTS), caFile: z.string().optional(), facility: z.number().int().min(0).max(23) }).optional(),
  }).prefault({}),
});

export type GatewayConfig = z.output<typeof gatewayConfig>;
export type NextHop = z.output<typeof renderedNextHop>;
