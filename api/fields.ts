/**
 * Field types shared by the mailgw resources and the rendered gateway config:
 * durations (Go form), sizes (bytes or Kubernetes quantities), ports, hosts,
 * domains (stored as A-labels) and CIDRs.
 *
 * Every schema here validates and normalises; parse errors carry a message
 * that names what was expected, so `mailgw validate` can print it as is.
 */
import { domainToASCII } from 'node:url';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_RE = /^(?:(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))+$/;
/** The same grammar as an anchored pattern that RE2 (the API server) and JS both read. */
export const DURATION_PATTERN = '^(0|([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$';
export const QUANTITY_PATTERN = '^[0-9]+(\\.[0-9]+)?(k|M|G|T|Ki|Mi|Gi|Ti)?$';

/**
 * CEL for what OpenAPI cannot say, evaluated by the API server at admission
 * (x-kubernetes-validations; isIP/isCIDR need Kubernetes 1.31+). Character
 * classes are written with \xHH so RE2 and JS read them alike.
 */
const LABEL = '[^\\\\x00-\\\\x2f\\\\x3a-\\\\x40\\\\x5b-\\\\x60\\\\x7b-\\\\x7f]([^\\\\x00-\\\\x2c\\\\x2e\\\\x2f\\\\x3a-\\\\x40\\\\x5b-\\\\x60\\\\x7b-\\\\x7f]{0,61}[^\\\\x00-\\\\x2f\\\\x3a-\\\\x40\\\\x5b-\\\\x60\\\\x7b-\\\\x7f])?';
export const CEL_DOMAIN = `self.matches('^(${LABEL}\\\\.)*${LABEL}$') && !self.matches('^[0-9.]+$')`;
export const CEL_HOST = `isIP(self) || (self.startsWith('[') && self.endsWith(']') && isIP(self.substring(1, self.size() - 1))) || (${CEL_DOMAIN})`;
export const CEL_CIDR = 'isCIDR(self) || isIP(self)';

function cel(rule: string, message: string) {
  return { 'x-kubernetes-validations': [{ rule, message }] };
}

/** Parses a Go/Kubernetes duration ("30s", "1h30m", "100ms") into milliseconds. */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (!DURATION_RE.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  return Math.round(ms);
}

export const duration = z
  .string()
  .max(32)
  .regex(new RegExp(DURATION_PATTERN), 'expected a duration such as "30s", "5m" or "72h"');

const QUANTITY_SUFFIX: Record<string, number> = {
  '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4,
};

/** Parses a size given as bytes (number) or a Kubernetes quantity ("20Mi", "10G") into bytes. */
export function parseSize(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const m = /^(\d+(?:\.\d+)?)(k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(value);
  if (!m) return undefined;
  const bytes = Number(m[1]) * QUANTITY_SUFFIX[m[2] ?? '']!;
  return Number.isSafeInteger(Math.round(bytes)) ? Math.round(bytes) : undefined;
}

export const size = z
  .union([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.string().max(32).regex(new RegExp(QUANTITY_PATTERN), 'expected bytes (an integer) or a quantity such as "20Mi"')])
  .refine((v) => parseSize(v) !== undefined, { message: 'expected bytes (an integer) or a quantity such as "20Mi"' })
  .meta({ 'x-kubernetes-int-or-string': true });

export const port = z.number().int().min(1).max(65535);

/**
 * Converts a domain (U-labels or A-labels, any case) to its lower-case A-label
 * form, or undefined when it is not a valid host name. No trailing dot, no
 * empty labels, labels of letters, digits and inner hyphens, at most 253 octets.
 */
export function toALabel(domain: string): string | undefined {
  if (domain.length === 0 || domain.length > 253 * 4 || domain.endsWith('.')) return undefined;
  const ascii = domainToASCII(domain);
  if (!ascii || ascii.length > 253) return undefined;
  const labels = ascii.split('.');
  for (const label of labels) {
    if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(label)) return undefined;
  }
  if (/^\d+$/.test(labels[labels.length - 1]!)) return undefined; // looks like an IPv4 address
  return ascii;
}

export const domain = z
  .string()
  .min(1)
  .max(253)
  .refine((s) => toALabel(s) !== undefined, {
    message: 'expected a domain name such as "example.com" (IDN allowed, no trailing dot)',
  })
  .meta(cel(CEL_DOMAIN, 'must be a domain name such as "example.com" (IDN allowed, no trailing dot)'));

/** A host: IPv4, IPv6 (bare or in brackets) or a DNS name. Returns it normalised (no brackets, A-label). */
export function normalizeHost(host: string): string | undefined {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (ipaddr.IPv4.isValidFourPartDecimal(bare)) return bare;
  if (ipaddr.IPv6.isValid(bare) && bare.includes(':')) return ipaddr.IPv6.parse(bare).toString();
  if (bare !== host) return undefined; // brackets only around IPv6
  return toALabel(host);
}

export const host = z
  .string()
  .min(1)
  .max(255)
  .refine((s) => normalizeHost(s) !== undefined, {
    message: 'expected an IPv4 address, an IPv6 address (bare or in brackets) or a DNS name',
  })
  .meta(cel(CEL_HOST, 'must be an IPv4 address, an IPv6 address (bare or in brackets) or a DNS name'));

/** Parses "10.0.0.0/8", "2001:db8::/32" or a bare address into a normalised CIDR string. */
export function normalizeCidr(text: string): string | undefined {
  try {
    if (!text.includes('/')) {
      const addr = ipaddr.parse(text);
      if (addr.kind() === 'ipv4' && !ipaddr.IPv4.isValidFourPartDecimal(text)) return undefined;
      const plain = addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()
        ? (addr as ipaddr.IPv6).toIPv4Address() : addr;
      return `${plain.toString()}/${plain.kind() === 'ipv4' ? 32 : 128}`;
    }
    const [addr, bits] = ipaddr.parseCIDR(text);
    if (addr.kind() === 'ipv4' && !ipaddr.IPv4.isValidFourPartDecimal(text.split('/')[0]!)) return undefined;
    if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
      const v4 = (addr as ipaddr.IPv6).toIPv4Address();
      return `${ipaddr.IPv4.networkAddressFromCIDR(`${v4.toString()}/${bits - 96}`).toString()}/${bits - 96}`;
    }
    const network = addr.kind() === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(text) : ipaddr.IPv6.networkAddressFromCIDR(text);
    return `${network.toString()}/${bits}`;
  } catch {
    return undefined;
  }
}

export const cidr = z
  .string()
  .min(1)
  .max(64)
  .refine((s) => normalizeCidr(s) !== undefined, {
    message: 'expected an IPv4 or IPv6 address or prefix such as "10.0.0.0/8" or "2001:db8::/32"',
  })
  .meta(cel(CEL_CIDR, 'must be an IPv4 or IPv6 address or prefix such as "10.0.0.0/8" or "2001:db8::/32"'));

export const objectName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'expected a Kubernetes object name (lower case, digits, "-" and ".")');

export const metadata = z.looseObject({
  name: objectName,
  namespace: objectName.optional(),
  generation: z.number().int().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

export const nextHop = z
  .strictObject({
    host: host.describe('Next-hop host: IPv4, IPv6 (bare or in brackets) or a DNS name.'),
    port: port.default(25).describe('TCP port of the next hop.'),
    mxLookup: z
      .boolean()
      .default(false)
      .describe('false: connect to the host\'s A/AAAA records (Postfix "[host]"); true: resolve its MX records first.'),
  })
  .refine((h) => !h.mxLookup || toALabel(h.host) !== undefined, {
    message: 'mxLookup needs a DNS name, not an IP address',
    path: ['mxLookup'],
  })
  .meta({
    'x-kubernetes-validations': [{
      rule: "!has(self.mxLookup) || !self.mxLookup || !(isIP(self.host) || self.host.startsWith('['))",
      message: 'mxLookup needs a DNS name in host, not an IP address',
      fieldPath: '.mxLookup',
    }],
  });

export const gatewayRef = z.strictObject({
  name: objectName.describe('Name of the MailGateway in the same namespace.'),
});
