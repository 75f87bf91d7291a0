/**
 * Live Secrets (issue 16, acceptance 7): the inbound certificate's files are
 * replaced as the kubelet does when cert-manager renews the Secret; the next
 * session gets the new certificate while a session in flight (TLS already
 * up) completes its message; no restart. A replacement that does not load
 * (a key that does not fit) is refused and the current pair stays. The
 * days until the certificate expires are a metric.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { startGateway, type Running } from './helpers/config.ts';
import { renderManifests, replaceFiles, secretDoc } from './helpers/manifests.ts';
import { makePeerCerts, makePki, type TestPki } from './helpers/certs.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';
import { eventually } from './helpers/wait.ts';

describe('a renewed inbound certificate', () => {
  let pki: TestPki;
  let gw: Running;
  let tlsDir: string;
  before(async () => {
    pki = makePki();
    const docs = [
      { apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw', namespace: 'mail' }, spec: { hostname: 'mx.gateway.test', integration: 'BehindEdgeGatewayNoRecipientVerification', tls: { inbound: { mode: 'Attempt', certificate: { secretName: 'gw-tls' } } } } },
      { apiVersion: 'mailgw.io/v1alpha1', kind: 'LocalDomain', metadata: { name: 'd', namespace: 'mail' }, spec: { gatewayRef: { name: 'gw' }, domain: 'example.com' } },
      { ...secretDoc('gw-tls', { 'tls.crt': pki.serverCert, 'tls.key': pki.serverKey }), type: 'kubernetes.io/tls' },
    ];
    const { config, dir, state } = await renderManifests(docs);
    tlsDir = join(state, 'tls');
    gw = await startGateway(config, join(dir, 'spool'), '127.0.0.1', { certPollMs: 100 });
  });
  after(async () => {
    await gw.close();
  });

  async function tlsSession(): Promise<{ c: SmtpDialog; fingerprint: string }> {
    const c = await SmtpDialog.open(gw.port, '127.0.0.2');
    await c.read();
    await c.cmd('EHLO client.test');
    await c.startTls({ rejectUnauthorized: false, servername: 'mx.gateway.test' });
    assert.equal((await c.cmd('EHLO client.test')).code, 250);
    return { c, fingerprint: (c.socket as TLSSocket).getPeerCertificate().fingerprint256 };
  }
  const replace = (pair: { cert: Buffer; key: Buffer }) => replaceFiles(tlsDir, [['tls.key', pair.key], ['tls.crt', pair.cert]]);

  it('the next session gets the new certificate while the session in flight completes', async () => {
    const first = await tlsSession();
    assert.equal(first.fingerprint, new X509Certificate(pki.serverCert).fingerprint256);
    assert.equal((await first.c.cmd('MAIL FROM:<a@sender.test>')).code, 250);
    assert.equal((await first.c.cmd('RCPT TO:<u@example.com>')).code, 250);

    const renewed = makePeerCerts(['mx.gateway.test']).kinds.valid;
    const reloads = gw.log.lines.filter((l) => l.event === 'certificate-reloaded').length;
    replace(renewed);
    await eventually('the reload', () => gw.log.lines.filter((l) => l.event === 'certificate-reloaded').length > reloads, 10_000, 50);

    const second = await tlsSession();
    assert.equal(second.fingerprint, new X509Certificate(renewed.cert).fingerprint256, 'a new session gets the renewed certificate');
    second.c.close();
    // The first session, TLS set up with the old certificate, goes on undisturbed.
    assert.equal((await first.c.cmd('DATA')).code, 354);
    assert.equal((await first.c.cmd('Subject: in flight\r\n\r\nbody\r\n.')).code, 250);
    first.c.close();

    const metric = await gw.gateway.runtime.metrics.registry.getSingleMetricAsString('mailgw_gateway_certificate_expiry_days');
    const days = Number(/certificate="inbound"\} ([\d.]+)/.exec(metric)?.[1]);
    assert.ok(days > 1 && days <= 2, `days left: ${days}`);
  });

  it('a key that does not fit is refused; the current certificate stays', async () => {
    const current = (await tlsSession());
    current.c.close();
    const other = makePeerCerts(['mx.gateway.test']).kinds;
    const failures = gw.log.lines.filter((l) => l.event === 'certificate-reload-failed').length;
    replace({ cert: other.valid.cert, key: other.unknownCa.key });
    await eventually('the refusal', () => gw.log.lines.filter((l) => l.event === 'certificate-reload-failed').length > failures, 10_000, 50);
    const after = await tlsSession();
    assert.equal(after.fingerprint, current.fingerprint);
    after.c.close();
  });
});
