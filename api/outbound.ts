/**
 * Outbound delivery settings (issue 16): TLS policy per destination (like
 * Postfix's smtp_tls_policy_maps), transports for any destination domain,
 * fallback hosts, and SMTP AUTH to a relay host. Secrets are referenced by
 * name; the operator mounts them into the gateway pod and the rendered
 * config names their files, so a renewed Secret is read without a restart.
 */
import { z } from 'zod';
import { domain, host, objectName, port, toALabel } from './fields.ts';

/**
 * None: never STARTTLS. Attempt: STARTTLS when offered, certificate not
 * checked (Postfix "may"). Encrypt: STARTTLS or no delivery, certificate not
 * checked ("encrypt"). Verify: STARTTLS, and the chain must lead to a trusted
 * CA and the certificate name to the next hop's name — the configured host,
 * or the MX name for MX delivery ("secure"). Require: the earlier name of
 * Encrypt (it never checked the certificate).
 */
export const OUTBOUND_TLS_MODES = ['None', 'Attempt', 'Encrypt', 'Verify', 'Require'] as const;
export const RENDERED_OUTBOUND_TLS_MODES = ['None', 'Attempt', 'Encrypt', 'Verify'] as const;

export const secretKeyRef = z.strictObject({
  secretName: objectName.describe('Secret in the MailGateway\'s namespace.'),
});

export const outboundTls = z.strictObject({
  mode: z.enum(OUTBOUND_TLS_MODES).optional()
    .describe('None, Attempt (opportunistic, unverified), Encrypt (required, unverified), Verify (required; chain and name checked), or Require (the old name of Encrypt). Default: spec.tls.outbound.mode.'),
  ca: secretKeyRef.optional().describe('Secret whose ca.crt holds the CAs trusted for Verify. Default: the system roots.'),
  clientCertificate: secretKeyRef.optional().describe('Secret of type kubernetes.io/tls (tls.crt, tls.key) presented to the next hop (mutual TLS with a partner).'),
});

export const smtpAuth = z.strictObject({
  secretName: objectName.describe('Secret with the keys username and password.'),
}).describe('SMTP AUTH (PLAIN or LOGIN, as the server offers) with these credentials; only over TLS, so the mode must not be None.');

const hopFields = {
  host: host.describe('Next-hop host: IPv4, IPv6 (bare or in brackets) or a DNS name.'),
  port: port.default(25).describe('TCP port of the next hop.'),
  mxLookup: z.boolean().default(false).describe('false: connect to the host\'s A/AAAA records (Postfix "[host]"); true: resolve its MX records first.'),
};
const hopRule = {
  'x-kubernetes-validations': [{
    rule: "!has(self.mxLookup) || !self.mxLookup || !(isIP(self.host) || self.host.startsWith('['))",
    message: 'mxLookup needs a DNS name in host, not an IP address',
    fieldPath: '.mxLookup',
  }],
};
const mxNeedsName = (h: { host: string; mxLookup: boolean }) => !h.mxLookup || toALabel(h.host) !== undefined;

export const fallbackHop = z.strictObject(hopFields)
  .refine(mxNeedsName, { message: 'mxLookup needs a DNS name, not an IP address', path: ['mxLookup'] })
  .meta(hopRule);

/** relayHost: the next hop for non-local mail, with fallbacks, TLS policy and AUTH. */
export const relayHost = z.strictObject({
  ...hopFields,
  fallbackHosts: z.array(fallbackHop).max(4).default([]).describe('Tried in order when the host (all its addresses) cannot be reached.'),
  tls: outboundTls.optional().describe('TLS policy for this next hop.'),
  auth: smtpAuth.optional(),
})
  .refine(mxNeedsName, { message: 'mxLookup needs a DNS name, not an IP address', path: ['mxLookup'] })
  .refine((r) => !r.auth || (r.tls?.mode ?? 'x') !== 'None', { message: 'AUTH is only sent over TLS: tls.mode must not be None', path: ['auth'] })
  .meta(hopRule);

export const transport = z.strictObject({
  name: z.string().min(1).max(63).regex(/^[A-Za-z0-9][-A-Za-z0-9_.]*$/, 'letters, digits, - _ .').describe('Transport name, shown in logs.'),
  domains: z.array(domain).min(1).max(16).describe('Recipient domains this transport carries (any domain, not only local ones).'),
  includeSubdomains: z.boolean().default(false).describe('Also carry mail for subdomains of these domains.'),
  nextHops: z.array(fallbackHop).min(1).max(4).describe('Next hops, tried in order.'),
  tls: outboundTls.optional().describe('TLS policy for these next hops.'),
  auth: smtpAuth.optional(),
}).refine((t) => !t.auth || (t.tls?.mode ?? 'x') !== 'None', { message: 'AUTH is only sent over TLS: tls.mode must not be None', path: ['auth'] });

export type OutboundTlsSpec = z.output<typeof outboundTls>;

/** Header fields signed by default (RFC 6376 5.4.1's recommendation, each signed also when absent so it cannot be added later). */
export const DKIM_DEFAULT_HEADERS = ['From', 'Reply-To', 'Subject', 'Date', 'To', 'Cc', 'Message-ID', 'In-Reply-To', 'References', 'MIME-Version', 'Content-Type', 'Content-Transfer-Encoding', 'List-Unsubscribe', 'List-Unsubscribe-Post'];

export const dkimKey = z.strictObject({
  domain: domain.describe('Signing domain (d=): outbound mail whose From: address is in this domain or a subdomain of it is signed.'),
  selector: z.string().min(1).max(63).regex(/^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'expected a DNS label or labels').describe('Selector (s=): the public key is published at <selector>._domainkey.<domain>. A key selector in the Secret overrides it, so a rotation can change key and selector together.'),
  secretName: objectName.describe('Secret with the private key (PEM, RSA of 2048 bits or more, or Ed25519) under the key private.key, and optionally the selector under selector; re-read when the Secret changes.'),
});

export const dkim = z.strictObject({
  keys: z.array(dkimKey).max(32).default([])
    .describe('Signing keys. Two keys for one domain sign with both selectors (a key rotation: publish the new one, add it, remove the old one later).'),
  headers: z.array(z.string().min(1).max(76).regex(/^[!-9;-~]+$/, 'a header field name')).max(32).default(DKIM_DEFAULT_HEADERS)
    .describe('Header fields signed.'),
}).describe('DKIM signing of outbound mail (to non-local domains), over the message as delivered (after disclaimers and header edits).');
