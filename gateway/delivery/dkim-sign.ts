/**
 * DKIM signing of outbound mail (issue 16) with mailauth's signer: at
 * delivery, over the message exactly as it leaves (disclaimers and header
 * edits are already in the spool copy), for recipients in non-local
 * domains, with every configured key whose domain is the From: address's
 * domain or a parent of it — two selectors of one domain both sign during
 * a key rotation. Keys (and a selector, when the Secret holds one) are read
 * from the mounted Secret when it changes (readSecret caches by
 * modification time), so a new key signs without a restart. rsa-sha256 (2048 bits or more) or ed25519-sha256, by the key's
 * type; relaxed/relaxed canonicalization.
 */
import { createPrivateKey } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import type { GatewayConfig } from '../../api/index.ts';
import { headerFields } from '../mime/header-fields.ts';
import { readSecret } from './smtp-client.ts';

const require = createRequire(import.meta.url);
type SignatureData = { signingDomain: string; selector: string; privateKey: Buffer; algorithm: string; canonicalization: string };
const { dkimSign } = require('mailauth/lib/dkim/sign') as {
  dkimSign: (input: Readable | Buffer, o: { signatureData: SignatureData[]; headerList: string[] }) => Promise<{ signatures: string; errors: unknown[] }>;
};

type Dkim = GatewayConfig['dkim'];

/** The domain of the From: header's (first) address, lower case; undefined without one. */
export function fromDomain(head: Buffer): string | undefined {
  const from = headerFields(head).get('from')?.[0];
  const m = from ? /@([^\s<>@",;]+)>?\s*(?:[,;]|$)/.exec(from) ?? /@([^\s<>@",;]+)/.exec(from) : null;
  return m ? m[1]!.toLowerCase().replace(/\.$/, '') : undefined;
}

/** The keys that sign mail from this domain: its own, and those of its parent domains. */
export function keysFor(dkim: Dkim, domain: string | undefined): Dkim['keys'] {
  if (!domain) return [];
  return dkim.keys.filter((k) => domain === k.domain || domain.endsWith(`.${k.domain}`));
}

export class DkimKeyError extends Error {}

/** The Secret's selector when it has one (a rotation that changes key and selector at once), else the configured one. */
async function selectorOf(key: Dkim['keys'][number]): Promise<string> {
  try {
    const s = (await readSecret(key.selectorFile)).toString('utf8').trim();
    return s || key.selector;
  } catch {
    return key.selector;
  }
}

async function signatureData(key: Dkim['keys'][number]): Promise<SignatureData> {
  const pem = await readSecret(key.keyFile);
  const selector = await selectorOf(key);
  const k = createPrivateKey(pem);
  const type = k.asymmetricKeyType;
  if (type === 'rsa' && (k.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new DkimKeyError(`the DKIM key ${key.selector}._domainkey.${key.domain} is RSA of ${k.asymmetricKeyDetails?.modulusLength} bits; 2048 or more are needed`);
  if (type !== 'rsa' && type !== 'ed25519') throw new DkimKeyError(`the DKIM key ${key.selector}._domainkey.${key.domain} is ${type}; RSA or Ed25519 are supported`);
  return { signingDomain: key.domain, selector, privateKey: pem, algorithm: type === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256', canonicalization: 'relaxed/relaxed' };
}

/**
 * The DKIM-Signature header lines (CRLF-terminated) to put in front of the
 * message, or an empty buffer when no key applies. `open` gives the message
 * from the start (read once here, once more when sent).
 */
export async function dkimSignatures(dkim: Dkim, head: Buffer, open: () => Readable): Promise<Buffer> {
  const keys = keysFor(dkim, fromDomain(head));
  if (keys.length === 0) return Buffer.alloc(0);
  const data = await Promise.all(keys.map(signatureData));
  const r = await dkimSign(open(), { signatureData: data, headerList: dkim.headers });
  if (!r.signatures && r.errors.length > 0) throw new DkimKeyError(`DKIM signing failed: ${JSON.stringify(r.errors[0])}`);
  return Buffer.from(r.signatures, 'latin1');
}
