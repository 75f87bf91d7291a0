/**
 * Test PKI made with openssl at test time: a CA, a server certificate for
 * mx.gateway.test and a client certificate, all in a temp directory.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './config.ts';

export interface TestPki {
  caCert: Buffer;
  serverCert: Buffer;
  serverKey: Buffer;
  clientCert: Buffer;
  clientKey: Buffer;
}

export function makePki(): TestPki {
  const dir = tempDir('mailgw-pki-');
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=mailgw test CA');
  for (const name of ['server', 'client']) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name === 'server' ? 'mx.gateway.test' : 'client.test'}`);
    writeFileSync(join(dir, `${name}.ext`), name === 'server' ? 'subjectAltName=DNS:mx.gateway.test\nextendedKeyUsage=serverAuth\n' : 'extendedKeyUsage=clientAuth\n');
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  }
  const read = (f: string) => readFileSync(join(dir, f));
  return { caCert: read('ca.crt'), serverCert: read('server.crt'), serverKey: read('server.key'), clientCert: read('client.crt'), clientKey: read('client.key') };
}

export interface PeerCerts {
  /** The CA the gateway is told to trust (Verify). */
  ca: Buffer;
  /** Each kind: key and certificate for a next hop. */
  kinds: Record<'valid' | 'wrongName' | 'expired' | 'selfSigned' | 'unknownCa', { key: Buffer; cert: Buffer }>;
}

/**
 * Next-hop certificates for the outbound TLS matrix, made with openssl:
 * valid (for `names`, from the trusted CA), for another name, expired
 * (2020, through `openssl ca` since `x509` cannot back-date), self-signed,
 * and from a CA nobody trusts.
 */
export function makePeerCerts(names: string[]): PeerCerts {
  const dir = tempDir('mailgw-peer-pki-');
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const san = (ns: string[]) => ns.map((n) => (/^[\d.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  for (const ca of ['ca', 'other-ca']) ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-days', '2', '-subj', `/CN=${ca}`);
  const csr = (name: string, ns: string[]) => {
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san(ns)}\nextendedKeyUsage=serverAuth\n`);
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${ns[0]}`);
  };
  const sign = (name: string, ca: string) => ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  csr('valid', names);
  sign('valid', 'ca');
  csr('wrongName', ['other.example']);
  sign('wrongName', 'ca');
  csr('unknownCa', names);
  sign('unknownCa', 'other-ca');
  csr('expired', names);
  writeFileSync(join(dir, 'ca.cnf'), '[ca]\ndefault_ca=c\n[c]\ndatabase=index.txt\nserial=serial\nnew_certs_dir=.\ndefault_md=sha256\npolicy=p\ncopy_extensions=copy\n[p]\ncommonName=supplied\n');
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '01\n');
  ssl('ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', 'expired.csr', '-out', 'expired.crt', '-extfile', 'expired.ext', '-startdate', '20200101000000Z', '-enddate', '20200201000000Z');
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'selfSigned.key', '-out', 'selfSigned.crt', '-days', '2', '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${san(names)}`);
  const read = (f: string) => readFileSync(join(dir, f));
  const kind = (n: string) => ({ key: read(`${n}.key`), cert: read(`${n}.crt`) });
  return { ca: read('ca.crt'), kinds: { valid: kind('valid'), wrongName: kind('wrongName'), expired: kind('expired'), selfSigned: kind('selfSigned'), unknownCa: kind('unknownCa') } };
}
