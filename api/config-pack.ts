/**
 * How a rendered gateway config travels from the operator to the gateway
 * pods in ConfigMaps, whatever its size (ADR 0009). Shared by the renderer
 * (pack) and the gateway (unpack); pure apart from gzip.
 *
 * - Up to PLAIN_LIMIT bytes of JSON: one ConfigMap, key `gateway.json`,
 *   readable text (what reviews and GitOps diffs show for most gateways).
 * - Larger: the JSON gzipped, cut into parts of at most PART_LIMIT bytes,
 *   one part per ConfigMap (`binaryData`), so every object stays well under
 *   the API server's 1 MiB; the first ConfigMap also holds
 *   `gateway.manifest.json`: the SHA-256 and size of the whole JSON and of
 *   each part. The pod mounts all of them as one projected volume, which
 *   the kubelet updates atomically, and the gateway takes a new version only
 *   when every part matches the manifest: never half of one.
 * - Past `limit` compressed bytes the config is refused (ConfigTooLarge):
 *   `mailgw validate` fails and the MailGateway turns Degraded, before any
 *   apply.
 */
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';

export const CONFIG_JSON = 'gateway.json';
export const CONFIG_MANIFEST = 'gateway.manifest.json';
export const MANIFEST_FORMAT = 'mailgw.io/gateway-config-parts/v1';
/** JSON up to this size stays plain text in one ConfigMap. */
export const PLAIN_LIMIT = 256 * 1024;
/** Compressed bytes per ConfigMap: base64 in the object's JSON makes ~934 KiB, under the API server's 1 MiB. */
export const PART_LIMIT = 700 * 1024;
/** Default cap on all parts together (8 ConfigMaps; about a million domains like the tests'). */
export const DEFAULT_CONFIG_LIMIT = 8 * PART_LIMIT;

export interface ConfigPart {
  /** File name in the volume and key in its ConfigMap's binaryData. */
  file: string;
  sha256: string;
  bytes: number;
}

export interface ConfigManifest {
  format: typeof MANIFEST_FORMAT;
  /** SHA-256 and size of the whole uncompressed JSON. */
  sha256: string;
  bytes: number;
  parts: ConfigPart[];
}

/** One ConfigMap's contents: `data` (text) and `binaryData` (bytes). */
export interface ConfigMapContent {
  data: Record<string, string>;
  binaryData: Record<string, Buffer>;
}

export interface PackedConfig {
  /** Short hash of the config (the pod-template annotation): the same for the same config whatever the packing. */
  hash: string;
  /** Bytes of the JSON, and of all parts when compressed. */
  bytes: number;
  compressedBytes?: number;
  /** The ConfigMaps, in order: the first is `<name>-config`, the others `<name>-config-1`, `-2`… */
  configMaps: ConfigMapContent[];
}

export class ConfigTooLarge extends Error {
  readonly compressedBytes: number;
  readonly limit: number;
  constructor(compressedBytes: number, limit: number, domains: number) {
    super(`the rendered config is ${kib(compressedBytes)} compressed (${domains} local domains), over the limit of ${kib(limit)}: split the domains over several MailGateways, or raise --config-limit`);
    this.compressedBytes = compressedBytes;
    this.limit = limit;
  }
}

const kib = (n: number) => `${Math.ceil(n / 1024)} KiB`;
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

export interface PackOptions {
  limit?: number;
  partLimit?: number;
  plainLimit?: number;
}

export function packConfig(config: { localDomains: readonly unknown[] }, o: PackOptions = {}): PackedConfig {
  const compact = JSON.stringify(config);
  const hash = sha256(compact).slice(0, 16);
  const plainLimit = o.plainLimit ?? PLAIN_LIMIT;
  if (Buffer.byteLength(compact) <= plainLimit) {
    const text = `${JSON.stringify(config, null, 2)}\n`;
    if (Buffer.byteLength(text) <= plainLimit) return { hash, bytes: Buffer.byteLength(text), configMaps: [{ data: { [CONFIG_JSON]: text }, binaryData: {} }] };
  }
  const gz = gzipSync(compact);
  const limit = o.limit ?? DEFAULT_CONFIG_LIMIT;
  if (gz.length > limit) throw new ConfigTooLarge(gz.length, limit, config.localDomains.length);
  const partLimit = o.partLimit ?? PART_LIMIT;
  const chunks: Buffer[] = [];
  for (let at = 0; at < gz.length; at += partLimit) chunks.push(gz.subarray(at, Math.min(gz.length, at + partLimit)));
  const parts = chunks.map((c, i) => ({ file: `${CONFIG_JSON}.gz.${String(i).padStart(3, '0')}`, sha256: sha256(c), bytes: c.length }));
  const manifest: ConfigManifest = { format: MANIFEST_FORMAT, sha256: sha256(compact), bytes: Buffer.byteLength(compact), parts };
  return {
    hash, bytes: Buffer.byteLength(compact), compressedBytes: gz.length,
    configMaps: chunks.map((c, i) => ({
      data: i === 0 ? { [CONFIG_MANIFEST]: `${JSON.stringify(manifest, null, 2)}\n` } : {},
      binaryData: { [parts[i]!.file]: c },
    })),
  };
}

/** A version of the config as read from a volume: the JSON text, or why it is not (yet) whole. */
export type Unpacked = { text: string; version: string } | { incomplete: string };

/**
 * Reassembles the JSON from the files of a config volume (`read` returns a
 * file's bytes, or undefined when it is missing). A manifest wins over a
 * plain `gateway.json`. Parts that do not match the manifest (a volume caught
 * between two versions, or damaged) give `incomplete`, never a config.
 */
export function unpackConfig(read: (file: string) => Buffer | undefined): Unpacked {
  const manifestBytes = read(CONFIG_MANIFEST);
  if (!manifestBytes) {
    const plain = read(CONFIG_JSON);
    if (!plain) return { incomplete: `neither ${CONFIG_MANIFEST} nor ${CONFIG_JSON}` };
    return { text: plain.toString('utf8'), version: sha256(plain) };
  }
  let manifest: ConfigManifest;
  try {
    manifest = JSON.parse(manifestBytes.toString('utf8')) as ConfigManifest;
  } catch (err) {
    return { incomplete: `${CONFIG_MANIFEST}: ${(err as Error).message}` };
  }
  if (manifest.format !== MANIFEST_FORMAT || !Array.isArray(manifest.parts)) return { incomplete: `${CONFIG_MANIFEST}: not a ${MANIFEST_FORMAT} manifest` };
  const chunks: Buffer[] = [];
  for (const p of manifest.parts) {
    const b = read(p.file);
    if (!b) return { incomplete: `${p.file} is missing` };
    if (b.length !== p.bytes || sha256(b) !== p.sha256) return { incomplete: `${p.file} does not match the manifest` };
    chunks.push(b);
  }
  let json: Buffer;
  try {
    json = gunzipSync(Buffer.concat(chunks));
  } catch (err) {
    return { incomplete: `the parts do not decompress: ${(err as Error).message}` };
  }
  if (json.length !== manifest.bytes || sha256(json) !== manifest.sha256) return { incomplete: 'the decompressed config does not match the manifest' };
  return { text: json.toString('utf8'), version: manifest.sha256 };
}
