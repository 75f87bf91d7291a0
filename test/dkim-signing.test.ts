/**
 * DKIM signing (issue 16, acceptance 3): outbound mail is signed with the
 * keys from Secrets — RSA 2048 and Ed25519 side by side, as during a key
 * rotation — and the signatures verify with mailauth's verifier against the
 * public keys served by the suite's DNS server (dnsmasq); rspamd, a second
 * implementation, finds them valid too. When the Secret changes (a new key
 * and selector), the next message is signed with the new one, without a
 * restart. Mail to local domains is not signed.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { join } from 'node:path';
import { authenticate } from 'mailauth';
import { startGateway, type Running } from './helpers/config.ts';
import { renderManifests, replaceFiles, secretDoc } from './helpers/manifests.ts';
import { startDns, type DnsServer } from './helpers/dns-server.ts';
import { missing } from './helpers/requirements.ts';
import { startRspamd, type Daemon } from './helpers/scanners.ts';
import { startSink, type Sink } from './helpers/sink.ts';
import { submit } from './helpers/submit.ts';

const pem = (k: KeyObject) => k.export({ type: 'pkcs8', format: 'pem' }).toString();
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed = generateKeyPairSync('ed25519');
const next = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaRecord = (k: KeyObject) => `v=DKIM1; k=rsa; p=${k.export({ type: 'spki', format: 'der' }).toString('base64')}`;
// An Ed25519 record carries the raw 32-byte key (RFC 8463): the last 32 bytes of its SPKI form.
const edRecord = (k: KeyObject) => `v=DKIM1; k=ed25519; p=${k.export({ type: 'spki', format: 'der' }).subarray(-32).toString('base64')}`;

describe('DKIM signing', () => {
  let dns: DnsServer | undefined;
  /** rspamd gets a DNS server of its own: its resolver keeps TCP connections to dnsmasq open, which would stall the verifier's queries. */
  let rspamdDns: DnsServer | undefined;
  let rspamd: Daemon | undefined;
  let edge: Sink;
  let internal: Sink;
  let gw: Running | undefined;
  let secretsDir: string;
  before(async () => {
    const records = { txt: [['jan._domainkey.corp.test', rsaRecord(rsa.publicKey)], ['ed1._domainkey.corp.test', edRecord(ed.publicKey)], ['mar._domainkey.corp.test', rsaRecord(next.publicKey)]] as [string, string][] };
    dns = await startDns(records);
    rspamdDns = await startDns(records);
    rspamd = rspamdDns ? await startRspamd(rspamdDns.server) : undefined;
    edge = await startSink();
    internal = await startSink();
    if (!dns) return;
    const docs = [
      { apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw', namespace: 'mail' }, spec: {
        hostname: 'mx.corp.test', integration: 'BehindEdgeGateway', relayHost: { host: '127.0.0.1', port: edge.port }, tls: { outbound: { mode: 'None' } },
        dkim: { keys: [{ domain: 'corp.test', selector: 'jan', secretName: 'dkim-rsa' }, { domain: 'corp.test', selector: 'ed1', secretName: 'dkim-ed' }] },
      } },
      { apiVersion: 'mailgw.io/v1alpha1', kind: 'LocalDomain', metadata: { name: 'd', namespace: 'mail' }, spec: { gatewayRef: { name: 'gw' }, domain: 'corp.test', routing: { host: '127.0.0.1', port: internal.port } } },
      { apiVersion: 'mailgw.io/v1alpha1', kind: 'TrustedNetwork', metadata: { name: 'n', namespace: 'mail' }, spec: { gatewayRef: { name: 'gw' }, cidrs: ['127.0.0.1/32'] } },
      secretDoc('dkim-rsa', { 'private.key': pem(rsa.privateKey) }), secretDoc('dkim-ed', { 'private.key': pem(ed.privateKey) }),
    ];
    const { config, dir, state } = await renderManifests(docs);
    secretsDir = join(state, 'secrets');
    gw = await startGateway(config, join(dir, 'spool'), '127.0.0.1', { deliver: true });
  });
  after(async () => {
    await gw?.close();
    await Promise.all([edge.close(), internal.close(), rspamd?.stop(), dns?.stop(), rspamdDns?.stop()]);
  });
  const skip = (t: TestContext) => {
    if (!dns) missing(t, 'dnsmasq (Debian package dnsmasq-base)');
    return !gw;
  };
  const resolver = () => {
    const r = new Resolver();
    r.setServers([dns!.server]);
    return (name: string, rr: string) => r.resolve(name, rr as 'TXT');
  };
  const verify = async (raw: Buffer) => {
    const { dkim } = await authenticate(raw, { ip: '192.0.2.1', helo: 'mx.corp.test', sender: 'app@corp.test', mta: 'verifier.test', resolver: resolver() as never });
    return dkim.results.map((x) => `${x.signingDomain} ${x.selector} ${x.algo} ${x.status.result}`).sort();
  };
  const sendOut = async (subject: string) => {
    const before = edge.messages.length;
    await submit(gw!.port, { from: 'app@corp.test', to: 'partner@elsewhere.test', subject, text: 'Signed on the way out.\nLine two.' });
    return (await edge.waitFor(before + 1))[before]!.raw;
  };

  it('signs outbound mail with an RSA and an Ed25519 key; mailauth verifies both against DNS', async (t) => {
    if (skip(t)) return;
    const raw = await sendOut('two signatures');
    assert.deepEqual(await verify(raw), ['corp.test ed1 ed25519-sha256 pass', 'corp.test jan rsa-sha256 pass']);
  });

  it('rspamd, a second implementation, finds the signatures valid', async (t) => {
    if (skip(t)) return;
    if (!rspamd) return missing(t, 'rspamd (Debian package rspamd)');
    const raw = await sendOut('checked by rspamd');
    const check = async () => {
      const res = await fetch(`${rspamd!.address}/checkv2`, { method: 'POST', body: raw, headers: { IP: '192.0.2.1', From: 'app@corp.test', Helo: 'mx.corp.test', Rcpt: 'partner@elsewhere.test' } });
      return Object.keys(((await res.json()) as { symbols: Record<string, unknown> }).symbols);
    };
    // A freshly started rspamd's resolver may still be busy with its own start-up queries (R_DKIM_TEMPFAIL): ask again, a bounded number of times.
    let symbols = await check();
    for (let i = 0; i < 10 && symbols.includes('R_DKIM_TEMPFAIL'); i++) {
      await new Promise((r) => setTimeout(r, 1000));
      symbols = await check();
    }
    assert.ok(symbols.includes('R_DKIM_ALLOW'), `rspamd symbols: ${symbols.join(' ')}`);
    assert.ok(!symbols.includes('R_DKIM_REJECT'), symbols.join(' '));
  });

  it('a changed Secret (new key and selector) signs the next message, without a restart', async (t) => {
    if (skip(t)) return;
    replaceFiles(join(secretsDir, 'dkim-rsa'), [['selector', 'mar\n'], ['private.key', pem(next.privateKey)]]);
    const raw = await sendOut('after the rotation');
    assert.deepEqual(await verify(raw), ['corp.test ed1 ed25519-sha256 pass', 'corp.test mar rsa-sha256 pass']);
  });

  it('mail to a local domain is not signed', async (t) => {
    if (skip(t)) return;
    const before = internal.messages.length;
    await submit(gw!.port, { from: 'app@corp.test', to: 'colleague@corp.test', subject: 'internal' });
    const raw = (await internal.waitFor(before + 1))[before]!.raw.toString('latin1');
    assert.doesNotMatch(raw, /^DKIM-Signature:/m);
  });
});
