/**
 * Renders one MailGateway with its LocalDomains and TrustedNetworks into the
 * gateway config (api/gateway-config.ts). Pure: no I/O, no clock; the same
 * input gives the same output (domains and networks sorted).
 *
 * Used by the operator (into a ConfigMap) and by `mailgw up` (in-process), so
 * local mode runs exactly what a pod would.
 */
import {
  gatewayConfig, normalizeCidr, normalizeHost, parseDuration, parseSize, toALabel,
  type GatewayConfig, type LocalDomain, type MailGateway, type NextHop, type TrustedNetwork,
} from '../api/index.ts';
import { presetFor } from './integration-presets.ts';
import { facilityCode } from '../api/siem.ts';

export interface RenderOptions {
  /** Directory where the certificate Secret is mounted (tls.crt, tls.key, ca.crt). */
  tlsDir?: string;
  /** Directory where each other referenced Secret is mounted, one subdirectory per Secret name (referencedSecrets). */
  secretsDir?: string;
  /** The gateway image when spec.image is absent (the operator's --gateway-image). */
  gatewayImage?: string | undefined;
}

const DEFAULT_TLS_DIR = '/etc/mailgw/tls';
export const DEFAULT_SECRETS_DIR = '/etc/mailgw/secrets';

type Spec = MailGateway['spec'];
type OutboundTls = NonNullable<Spec['tls']['outbound']>;
type RenderedTls = Omit<GatewayConfig['tls']['outbound'], 'mtaSts'>;

/** Every Secret the gateway pods read besides the inbound certificate: outbound CAs and client certificates, AUTH credentials, DKIM keys. */
export function referencedSecrets(spec: Spec): string[] {
  const names: string[] = [];
  const tls = (t: { ca?: { secretName: string } | undefined; clientCertificate?: { secretName: string } | undefined } | undefined) => {
    if (t?.ca) names.push(t.ca.secretName);
    if (t?.clientCertificate) names.push(t.clientCertificate.secretName);
  };
  tls(spec.tls.outbound);
  tls(spec.relayHost?.tls);
  if (spec.relayHost?.auth) names.push(spec.relayHost.auth.secretName);
  for (const t of spec.transports) {
    tls(t.tls);
    if (t.auth) names.push(t.auth.secretName);
  }
  for (const k of spec.dkim.keys) names.push(k.secretName);
  if (spec.siem.syslog?.ca) names.push(spec.siem.syslog.ca.secretName);
  return [...new Set(names)].sort();
}

/** Require was the name of Encrypt (encrypted, certificate not checked). */
function tlsMode(mode: OutboundTls['mode']): RenderedTls['mode'] {
  return mode === 'Require' ? 'Encrypt' : mode;
}
function nextHop(hop: { host: string; port: number; mxLookup: boolean } | undefined): NextHop | undefined {
  if (!hop) return undefined;
  return { host: normalizeHost(hop.host)!, port: hop.port, mxLookup: hop.mxLookup };
}

function ms(text: string): number {
  return parseDuration(text)!;
}

export function belongsTo(gw: MailGateway, ref: { metadata: { namespace?: string | undefined }; spec: { gatewayRef: { name: string } } }): boolean {
  return ref.spec.gatewayRef.name === gw.metadata.name
    && (ref.metadata.namespace ?? 'default') === (gw.metadata.namespace ?? 'default');
}

export function renderGatewayConfig(
  gw: MailGateway,
  domains: readonly LocalDomain[],
  networks: readonly TrustedNetwork[],
  options: RenderOptions = {},
): GatewayConfig {
  const spec = gw.spec;
  const namespace = gw.metadata.namespace ?? 'default';
  const preset = presetFor(spec.integration);
  const hostname = spec.hostname ? toALabel(spec.hostname)! : `${gw.metadata.name}.${namespace}.mailgw`;
  const tlsDir = options.tlsDir ?? DEFAULT_TLS_DIR;
  const secretsDir = options.secretsDir ?? DEFAULT_SECRETS_DIR;
  const cert = spec.tls.inbound.certificate;
  const file = (secretName: string, key: string) => `${secretsDir}/${secretName}/${key}`;
  const outbound: RenderedTls = {
    mode: tlsMode(spec.tls.outbound.mode),
    ...(spec.tls.outbound.ca ? { caFile: file(spec.tls.outbound.ca.secretName, 'ca.crt') } : {}),
    ...(spec.tls.outbound.clientCertificate ? { certFile: file(spec.tls.outbound.clientCertificate.secretName, 'tls.crt'), keyFile: file(spec.tls.outbound.clientCertificate.secretName, 'tls.key') } : {}),
  };
  /** A route's own policy: what it sets, the rest from tls.outbound. */
  const policy = (t: { mode?: OutboundTls['mode'] | undefined; ca?: { secretName: string } | undefined; clientCertificate?: { secretName: string } | undefined } | undefined): RenderedTls | undefined => (t ? {
    mode: t.mode ? tlsMode(t.mode) : outbound.mode,
    ...(t.ca ? { caFile: file(t.ca.secretName, 'ca.crt') } : outbound.caFile ? { caFile: outbound.caFile } : {}),
    ...(t.clientCertificate ? { certFile: file(t.clientCertificate.secretName, 'tls.crt'), keyFile: file(t.clientCertificate.secretName, 'tls.key') }
      : outbound.certFile ? { certFile: outbound.certFile, keyFile: outbound.keyFile } : {}),
  } : undefined);
  const auth = (a: { secretName: string } | undefined) => (a ? { usernameFile: file(a.secretName, 'username'), passwordFile: file(a.secretName, 'password') } : undefined);
  const route = (hops: NextHop[], t: Parameters<typeof policy>[0], a: { secretName: string } | undefined) => {
    const p = policy(t);
    const credentials = auth(a);
    return { hops, ...(p ? { tls: p } : {}), ...(credentials ? { auth: credentials } : {}) };
  };

  const localDomains = domains
    .filter((d) => belongsTo(gw, d))
    .map((d) => ({
      domain: toALabel(d.spec.domain)!,
      includeSubdomains: d.spec.includeSubdomains,
      ...(d.spec.routing ? { routing: nextHop(d.spec.routing)! } : {}),
      source: `LocalDomain/${d.metadata.name}`,
    }))
    .sort((a, b) => a.domain.localeCompare(b.domain) || a.source.localeCompare(b.source));

  const trustedNetworks = networks
    .filter((n) => belongsTo(gw, n))
    .flatMap((n) => n.spec.cidrs.map((c) => ({ cidr: normalizeCidr(c)!, source: `TrustedNetwork/${n.metadata.name}` })))
    .sort((a, b) => a.cidr.localeCompare(b.cidr) || a.source.localeCompare(b.source));

  const relayHost = nextHop(spec.relayHost);
  const pr = spec.protection;
  const config: GatewayConfig = {
    version: 1,
    gateway: { namespace, name: gw.metadata.name },
    integration: spec.integration,
    hostname,
    banner: spec.banner ?? 'mailgw',
    ...(relayHost ? { relayHost, relay: route([relayHost, ...spec.relayHost!.fallbackHosts.map((h) => nextHop(h)!)], spec.relayHost!.tls, spec.relayHost!.auth) } : {}),
    transports: spec.transports.map((t) => ({
      name: t.name, domains: [...new Set(t.domains.map((d) => toALabel(d)!))].sort(), includeSubdomains: t.includeSubdomains,
      route: route(t.nextHops.map((h) => nextHop(h)!), t.tls, t.auth),
    })),
    localDomains,
    trustedNetworks,
    recipientVerification: {
      mode: spec.recipientVerification.mode ?? preset.recipientVerificationMode,
      positiveTtlMs: ms(spec.recipientVerification.positiveTtl),
      negativeTtlMs: ms(spec.recipientVerification.negativeTtl),
      timeoutMs: ms(spec.recipientVerification.timeout),
    },
    limits: {
      messageSize: parseSize(spec.limits.messageSize)!,
      recipientsPerMessage: spec.limits.recipientsPerMessage,
      connectionsPerClient: spec.limits.connectionsPerClient,
      connectionsTotal: spec.limits.connectionsTotal,
      connectionRatePerClient: spec.limits.connectionRatePerClient,
      messageRatePerClient: spec.limits.messageRatePerClient,
      idleTimeoutMs: ms(spec.limits.idleTimeout),
      pregreetDelayMs: ms(spec.limits.pregreetDelay),
      memoryBudget: parseSize(spec.limits.memoryBudget)!,
      maxHops: spec.limits.maxHops,
      maxErrors: spec.limits.maxErrors,
      maxJunkCommands: spec.limits.maxJunkCommands,
    },
    queue: {
      lifetimeMs: ms(spec.queue.lifetime),
      bounceLifetimeMs: ms(spec.queue.bounceLifetime),
      minBackoffMs: ms(spec.queue.minBackoff),
      maxBackoffMs: ms(spec.queue.maxBackoff),
      delayWarningMs: ms(spec.queue.delayWarning),
    },
    dkim: { keys: spec.dkim.keys.map((k) => ({ domain: toALabel(k.domain)!, selector: k.selector, keyFile: file(k.secretName, 'private.key'), selectorFile: file(k.secretName, 'selector') })), headers: spec.dkim.headers },
    dsn: { suppressForSuspectSenders: spec.dsn.suppressForSuspectSenders, suppressForUnreachableSenders: spec.dsn.suppressForUnreachableSenders },
    tls: {
      inbound: {
        mode: cert ? spec.tls.inbound.mode : 'None',
        clientCertificate: cert ? spec.tls.inbound.clientCertificate : 'None',
        ...(cert ? { certFile: `${tlsDir}/tls.crt`, keyFile: `${tlsDir}/tls.key` } : {}),
        ...(cert && spec.tls.inbound.clientCertificate !== 'None' ? { caFile: `${tlsDir}/ca.crt` } : {}),
      },
      outbound: { ...outbound, mtaSts: spec.tls.outbound.mtaSts },
    },
    proxyProtocol: {
      trustedLoadBalancers: [...new Set(spec.proxyProtocol.trustedLoadBalancers.map((c) => normalizeCidr(c)!))].sort(),
    },
    resolver: { servers: spec.resolver.servers, timeoutMs: ms(spec.resolver.timeout) },
    authentication: {
      spf: spec.authentication.spf ?? preset.spf,
      dkim: spec.authentication.dkim,
      dmarc: spec.authentication.dmarc ?? preset.dmarc,
      tempErrorIsViolation: spec.authentication.tempErrorIsViolation,
      permErrorIsViolation: spec.authentication.permErrorIsViolation,
      applyDmarcPolicy: spec.authentication.applyDmarcPolicy,
      action: spec.authentication.action ?? preset.scanAction,
    },
    protection: {
      antivirus: {
        enabled: pr.antivirus.enabled, clamd: pr.antivirus.clamd, timeoutMs: ms(pr.antivirus.timeout), maxScanSize: parseSize(pr.antivirus.maxScanSize)!,
        actions: { infected: pr.antivirus.actions.infected ?? preset.scanAction, encrypted: pr.antivirus.actions.encrypted },
      },
      antispam: {
        enabled: pr.antispam.enabled, rspamd: pr.antispam.rspamd, timeoutMs: ms(pr.antispam.timeout),
        actions: { spam: pr.antispam.actions.spam ?? preset.scanAction, probableSpam: pr.antispam.actions.probableSpam },
        subjectTag: pr.antispam.subjectTag,
      },
      contentFilter: {
        enabled: pr.contentFilter.enabled, action: pr.contentFilter.action ?? preset.scanAction,
        ...(pr.contentFilter.maxMessageSize !== undefined ? { maxMessageSize: parseSize(pr.contentFilter.maxMessageSize)! } : {}),
        fileNames: pr.contentFilter.fileNames, fileTypes: pr.contentFilter.fileTypes,
        archiveDepth: pr.contentFilter.archiveDepth, archiveMaxBytes: parseSize(pr.contentFilter.archiveMaxBytes)!, blockUnscannableArchives: pr.contentFilter.blockUnscannableArchives,
      },
      onScannerFailure: pr.onScannerFailure,
      infoHeaders: pr.infoHeaders,
      ndrAfterSession: pr.ndrAfterSession,
    },
    rules: spec.rules.map((r) => (r.match?.size ? {
      ...r, match: { ...r.match, size: {
        ...(r.match.size.atLeast !== undefined ? { atLeast: parseSize(r.match.size.atLeast)! } : {}),
        ...(r.match.size.below !== undefined ? { below: parseSize(r.match.size.below)! } : {}),
      } },
    } : { ...r, match: r.match ? { ...r.match, size: undefined } : undefined })),
    defaultRule: spec.defaultRule,
    backup: { maxSize: parseSize(spec.backup.maxSize)!, retentionMs: ms(spec.backup.retention) },
    trafficLog: { enabled: spec.trafficLog.enabled, retentionMs: ms(spec.trafficLog.retention), maxSize: parseSize(spec.trafficLog.maxSize)! },
    siem: spec.siem.syslog ? {
      syslog: {
        host: normalizeHost(spec.siem.syslog.host)!, port: spec.siem.syslog.port, transport: spec.siem.syslog.transport,
        ...(spec.siem.syslog.ca ? { caFile: file(spec.siem.syslog.ca.secretName, 'ca.crt') } : {}), facility: facilityCode(spec.siem.syslog.facility),
      },
    } : {},
  };
  return gatewayConfig.parse(config);
}
