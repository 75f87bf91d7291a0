/**
 * MTA-STS end to end (issue 16, acceptance 2): delivery by MX to domains
 * that publish `_mta-sts` TXT records on the suite's DNS server (dnsmasq)
 * and serve their policies from a local HTTPS server whose certificates come
 * from a test CA (trusted through tls.outbound.ca). The MX hosts are real
 * SMTP peers on port 25 of 127.0.0.4x, since delivery by MX uses port 25
 * (root only, as in the MX delivery test); only the policy hosts' HTTPS
 * port is moved, through the gateway's mtaStsPort option.
 *
 * - enforce: a listed MX is used, with a verified certificate, even when an
 *   unlisted MX has the better preference; no listed MX → deferred 4.7.5;
 *   a listed MX whose certificate does not verify → deferred 4.7.5 (the
 *   default policy, Attempt, would have delivered it);
 * - testing: delivered as usual, and logged;
 * - a policy host whose certificate does not verify is no policy at all;
 * - a policy is fetched once and cached while its TXT id is unchanged.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import { createSecureContext } from 'node:tls';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { buildConfig, startGateway, tempDir, type Running } from './helpers/config.ts';
import { makePeerCerts, type PeerCerts } from './helpers/certs.ts';
import { startDns, type DnsServer } from './helpers/dns-server.ts';
import { missing } from './helpers/requirements.ts';
import { startSink, type Sink } from './helpers/sink.ts';
import { submit } from './helpers/submit.ts';
import { eventually } from './helpers/wait.ts';

/** Each domain: its MX hosts (name, preference, address, certificate kind or none) and the policy it serves. */
const DOMAINS = {
  'enforce.test': { mx: [['rogue.enforce.test', 5, '127.0.0.41', 'none'], ['mx.enforce.test', 10, '127.0.0.42', 'valid']], policy: 'mode: enforce\nmx: mx.enforce.test' },
  'mismatch.test': { mx: [['mx.mismatch.test', 10, '127.0.0.43', 'valid']], policy: 'mode: enforce\nmx: backup.mismatch.test' },
  'badcert.test': { mx: [['mx.badcert.test', 10, '127.0.0.44', 'unknownCa']], policy: 'mode: enforce\nmx: *.badcert.test' },
  'testing.test': { mx: [['mx.testing.test', 10, '127.0.0.45', 'unknownCa']], policy: 'mode: testing\nmx: other.testing.test' },
  'untrusted.test': { mx: [['mx.untrusted.test', 10, '127.0.0.46', 'none']], policy: 'mode: enforce\nmx: nothing.untrusted.test' },
} as const;
type Domain = keyof typeof DOMAINS;
const NAMES = Object.entries(DOMAINS).flatMap(([d, v]) => [`mta-sts.${d}`, ...v.mx.map((m) => m[0])]);

describe('MTA-STS for delivery by MX', () => {
  let certs: PeerCerts;
  let dns: DnsServer | undefined;
  let https: Server | undefined;
  let g: Running | undefined;
  const sinks = new Map<string, Sink>();
  /** Policy requests per host name. */
  const fetched = new Map<string, number>();
  let skip: string | undefined;

  before(async () => {
    if (process.getuid?.() !== 0) {
      skip = 'root, to run MX hosts on port 25 of 127.0.0.x (MX delivery uses port 25)';
      return;
    }
    dns = await startDns({
      mx: Object.entries(DOMAINS).flatMap(([d, v]) => v.mx.map(([host, pref]) => [d, host, pref] as [string, string, number])),
      a: Object.entries(DOMAINS).flatMap(([d, v]) => [[`mta-sts.${d}`, '127.0.0.1'] as [string, string], ...v.mx.map(([host, , address]) => [host, address] as [string, string])]),
      txt: Object.keys(DOMAINS).map((d) => [`_mta-sts.${d}`, `v=STSv1; id=${d.split('.')[0]}2026`]),
    });
    if (!dns) {
      skip = 'dnsmasq (Debian package dnsmasq-base) for a DNS server on loopback';
      return;
    }
    certs = makePeerCerts(NAMES);
    // One HTTPS server for every policy host: the valid certificate, except for mta-sts.untrusted.test (a CA nobody trusts).
    const valid = createSecureContext(certs.kinds.valid);
    const untrusted = createSecureContext(certs.kinds.unknownCa);
    https = createServer({ ...certs.kinds.valid, SNICallback: (name, cb) => cb(null, name === 'mta-sts.untrusted.test' ? untrusted : valid) }, (req, res) => {
      const host = String(req.headers.host ?? '').replace(/:\d+$/, '');
      fetched.set(host, (fetched.get(host) ?? 0) + 1);
      const domain = host.replace(/^mta-sts\./, '') as Domain;
      if (req.url !== '/.well-known/mta-sts.txt' || !DOMAINS[domain]) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`version: STSv1\n${DOMAINS[domain].policy}\nmax_age: 86400\n`);
    });
    await new Promise<void>((r) => https!.listen(0, '127.0.0.1', r));
    for (const v of Object.values(DOMAINS)) {
      for (const [host, , address, kind] of v.mx) sinks.set(host, await startSink({ host: address, port: 25, ...(kind === 'none' ? {} : { tls: certs.kinds[kind] }) }));
    }
    const secrets = tempDir('mailgw-secrets-');
    mkdirSync(join(secrets, 'sts-ca'));
    writeFileSync(join(secrets, 'sts-ca', 'ca.crt'), certs.ca);
    g = await startGateway(buildConfig({
      spec: {
        integration: 'Direct', recipientVerification: { mode: 'DoNotReject' },
        queue: { minBackoff: '1h', maxBackoff: '2h', lifetime: '5h' },
        resolver: { servers: [dns.server], timeout: '2s' },
        tls: { outbound: { ca: { secretName: 'sts-ca' } } },
      },
      domains: ['local.test'],
      networks: ['127.0.0.1/32'],
    }, { secretsDir: secrets }), undefined, '127.0.0.1', { deliver: true, mtaStsPort: (https.address() as AddressInfo).port });
  });
  after(async () => {
    await g?.close();
    for (const s of sinks.values()) await s.close();
    await new Promise<void>((r) => (https ? https.close(() => r()) : r()));
    await dns?.stop();
  });

  const send = (domain: Domain) => submit(g!.port, { from: 'app@local.test', to: `u@${domain}`, subject: domain });
  /** The recipient's state once it was deferred (its reason asserted), failing if the mail reached any MX host instead. */
  const deferred = (qid: string, domain: Domain) => eventually(`${domain} deferred`, () => {
    for (const [host] of DOMAINS[domain].mx) assert.equal(sinks.get(host)!.messages.length, 0, `nothing reaches ${host}`);
    const r = g!.gateway.runtime.spool.get(qid)?.state?.rcpts[0];
    return r?.status === 'deferred' ? r : undefined;
  });
  const guard = (t: TestContext): boolean => {
    if (skip) missing(t, skip);
    return Boolean(skip);
  };

  it('enforce: only the listed MX, with a verified certificate, though an unlisted one is preferred', async (t) => {
    if (guard(t)) return;
    await send('enforce.test');
    const [m] = await sinks.get('mx.enforce.test')!.waitFor(1);
    assert.deepEqual(m!.to, ['u@enforce.test']);
    assert.equal(m!.secure, true, 'over TLS');
    assert.equal(sinks.get('rogue.enforce.test')!.messages.length, 0, 'the unlisted MX of better preference is not used');
  });

  it('enforce: no MX matches the policy → deferred 4.7.5, nothing sent, logged', async (t) => {
    if (guard(t)) return;
    const qid = await send('mismatch.test');
    const r = await deferred(qid, 'mismatch.test');
    assert.equal(r.statusCode, '4.7.5');
    assert.match(r.diagnostic ?? '', /MTA-STS policy of mismatch\.test \(enforce\): no MX host matches backup\.mismatch\.test/);
    assert.ok(g!.log.find((l) => l.event === 'mta-sts' && l.domain === 'mismatch.test' && l.mode === 'enforce'));
  });

  it('enforce: a listed MX whose certificate does not verify → deferred 4.7.5 (Attempt alone would have sent it)', async (t) => {
    if (guard(t)) return;
    const qid = await send('badcert.test');
    const r = await deferred(qid, 'badcert.test');
    assert.equal(r.statusCode, '4.7.5');
    assert.match(r.diagnostic ?? '', /unknown CA|untrusted|verify/i);
  });

  it('testing: delivered as usual (unverified, unlisted MX) and logged', async (t) => {
    if (guard(t)) return;
    const qid = await send('testing.test');
    const [m] = await sinks.get('mx.testing.test')!.waitFor(1);
    assert.deepEqual(m!.to, ['u@testing.test']);
    const line = await eventually('testing logged', () => g!.log.find((l) => l.event === 'mta-sts' && l.domain === 'testing.test'));
    assert.equal(line.mode, 'testing');
    assert.equal(line.qid, qid);
    assert.deepEqual(line.unlisted, ['mx.testing.test']);
  });

  it('a policy host whose certificate does not verify is no policy: delivered as without MTA-STS', async (t) => {
    if (guard(t)) return;
    await send('untrusted.test');
    const [m] = await sinks.get('mx.untrusted.test')!.waitFor(1);
    assert.deepEqual(m!.to, ['u@untrusted.test']);
    assert.equal(fetched.get('mta-sts.untrusted.test') ?? 0, 0, 'the TLS handshake failed before any request');
  });

  it('a policy is fetched once and cached while its id is unchanged', async (t) => {
    if (guard(t)) return;
    const before = fetched.get('mta-sts.enforce.test');
    assert.equal(before, 1);
    await send('enforce.test');
    await sinks.get('mx.enforce.test')!.waitFor(2);
    assert.equal(fetched.get('mta-sts.enforce.test'), 1);
    assert.equal(sinks.get('rogue.enforce.test')!.messages.length, 0);
  });
});
