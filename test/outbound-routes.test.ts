/**
 * Routes and the relay host (issue 16, acceptance 4 and 5), rendered the way
 * `mailgw up` does it — Secrets from the manifests written where the kubelet
 * would mount them:
 * - SMTP AUTH to a relay host that requires it: delivered; wrong
 *   credentials → deferred with the server's reply; no credentials ever sent
 *   in clear.
 * - A partner domain routed to its own hosts with Verify: the first host
 *   down, the fallback delivers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startGateway, type Running } from './helpers/config.ts';
import { renderManifests, secretDoc } from './helpers/manifests.ts';
import { makePeerCerts, type PeerCerts } from './helpers/certs.ts';
import { closedPort } from './helpers/ports.ts';
import { startSink, type Sink } from './helpers/sink.ts';
import { submit } from './helpers/submit.ts';
import { eventually } from './helpers/wait.ts';

let certs: PeerCerts;

async function gatewayFrom(spec: Record<string, unknown>, secrets: Record<string, Record<string, string | Buffer>>): Promise<Running> {
  const docs = [
    { apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw', namespace: 'mail' }, spec: { hostname: 'mx.gateway.test', integration: 'Direct', authentication: { spf: false, dkim: false, dmarc: false }, queue: { minBackoff: '1h', maxBackoff: '2h' }, ...spec } },
    { apiVersion: 'mailgw.io/v1alpha1', kind: 'TrustedNetwork', metadata: { name: 'apps', namespace: 'mail' }, spec: { gatewayRef: { name: 'gw' }, cidrs: ['127.0.0.1/32'] } },
    ...Object.entries(secrets).map(([name, data]) => secretDoc(name, data)),
  ];
  const { config, dir } = await renderManifests(docs);
  return startGateway({ ...config, resolver: { servers: ['127.0.0.1:9'], timeoutMs: 1000 } }, join(dir, 'spool'), '127.0.0.1', { deliver: true });
}

const stateOf = (gw: Running, qid: string) => gw.gateway.runtime.spool.get(qid)?.state?.rcpts[0];

describe('relay host AUTH and routes', () => {
  let relay: Sink;
  let plainRelay: Sink;
  let partner: Sink;
  before(async () => {
    certs = makePeerCerts(['127.0.0.1']);
    relay = await startSink({ tls: certs.kinds.valid, auth: { user: 'gateway', pass: 's3cret pass' } });
    plainRelay = await startSink({ auth: { user: 'gateway', pass: 's3cret pass', insecure: true } });
    partner = await startSink({ tls: certs.kinds.valid });
  });
  after(async () => {
    await relay.close();
    await plainRelay.close();
    await partner.close();
  });

  const relaySpec = (port: number, mode: string) => ({ relayHost: { host: '127.0.0.1', port, tls: { mode, ca: { secretName: 'relay-ca' } }, auth: { secretName: 'relay-login' } } });

  it('logs in to a relay host that requires AUTH, over verified TLS, and delivers', async () => {
    const gw = await gatewayFrom(relaySpec(relay.port, 'Verify'), { 'relay-ca': { 'ca.crt': certs.ca }, 'relay-login': { username: 'gateway\n', password: 's3cret pass' } });
    try {
      await submit(gw.port, { from: 'app@corp.test', to: 'someone@elsewhere.test', subject: 'via smarthost' });
      const m = (await relay.waitFor(1))[0]!;
      assert.deepEqual(m.to, ['someone@elsewhere.test']);
      assert.equal(m.secure, true);
      assert.deepEqual(relay.auths.at(-1), ['gateway', true, true]);
    } finally {
      await gw.close();
    }
  });

  it('wrong credentials: deferred with the server\'s reply', async () => {
    const gw = await gatewayFrom(relaySpec(relay.port, 'Verify'), { 'relay-ca': { 'ca.crt': certs.ca }, 'relay-login': { username: 'gateway', password: 'wrong' } });
    try {
      const qid = await submit(gw.port, { from: 'app@corp.test', to: 'someone@elsewhere.test' });
      const r = await eventually('deferred', () => (stateOf(gw, qid)?.status === 'deferred' ? stateOf(gw, qid) : undefined), 15_000, 50);
      assert.equal(r.statusCode, '4.7.0');
      assert.match(r.diagnostic!, /authentication to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+ failed: 535 5\.7\.8 Authentication credentials invalid/);
    } finally {
      await gw.close();
    }
  });

  it('never sends credentials in clear: a relay without STARTTLS gets no AUTH, the mail waits', async () => {
    const before = plainRelay.auths.length;
    const gw = await gatewayFrom(relaySpec(plainRelay.port, 'Attempt'), { 'relay-ca': { 'ca.crt': certs.ca }, 'relay-login': { username: 'gateway', password: 's3cret pass' } });
    try {
      const qid = await submit(gw.port, { from: 'app@corp.test', to: 'someone@elsewhere.test' });
      const r = await eventually('deferred', () => (stateOf(gw, qid)?.status === 'deferred' ? stateOf(gw, qid) : undefined), 15_000, 50);
      assert.match(r.diagnostic!, /credentials are only sent over TLS/);
      assert.equal(plainRelay.auths.length, before, 'no AUTH command reached the server');
      assert.equal(plainRelay.messages.length, 0);
    } finally {
      await gw.close();
    }
  });

  it('a partner domain goes to its own hosts with Verify; the first host down, the fallback delivers', async () => {
    const down = await closedPort();
    const gw = await gatewayFrom({
      relayHost: { host: '127.0.0.1', port: relay.port },
      transports: [{ name: 'partner', domains: ['partner.test'], includeSubdomains: true, nextHops: [{ host: '127.0.0.1', port: down }, { host: '127.0.0.1', port: partner.port }], tls: { mode: 'Verify', ca: { secretName: 'partner-ca' } } }],
    }, { 'partner-ca': { 'ca.crt': certs.ca } });
    try {
      const relayed = relay.messages.length;
      await submit(gw.port, { from: 'app@corp.test', to: 'orders@eu.partner.test', subject: 'order' });
      const m = (await partner.waitFor(1))[0]!;
      assert.deepEqual([m.to, m.secure], [['orders@eu.partner.test'], true]);
      assert.equal(relay.messages.length, relayed, 'not through the relay host');
      assert.ok(gw.log.lines.some((l) => l.event === 'connect-failed' && String(l.to).endsWith(`:${down}`)), 'the first host was tried first');
    } finally {
      await gw.close();
    }
  });
});
