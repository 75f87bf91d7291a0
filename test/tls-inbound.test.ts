/**
 * Inbound TLS: STARTTLS offered only with a certificate, mode Require
 * refuses MAIL before STARTTLS, client certificates Request/Require.
 * The certificate comes from a Secret manifest through `mailgw up`'s
 * rendering path (renderLocal), as in a cluster.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { renderLocal } from '../cli/cmd-up.ts';
import { buildConfig, startGateway, tempDir } from './helpers/config.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';
import { makePki, type TestPki } from './helpers/certs.ts';

let pki: TestPki;

async function configWithTls(tls: Record<string, unknown>) {
  const dir = tempDir('mailgw-tls-');
  const docs = [
    { apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw', namespace: 'mail' }, spec: { hostname: 'mx.gateway.test', integration: 'BehindEdgeGateway', tls: { inbound: { certificate: { secretName: 'gw-tls' }, ...tls } } } },
    { apiVersion: 'mailgw.io/v1alpha1', kind: 'LocalDomain', metadata: { name: 'd', namespace: 'mail' }, spec: { gatewayRef: { name: 'gw' }, domain: 'example.com' } },
    { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'gw-tls', namespace: 'mail' }, data: { 'tls.crt': pki.serverCert.toString('base64'), 'tls.key': pki.serverKey.toString('base64'), 'ca.crt': pki.caCert.toString('base64') } },
  ];
  writeFileSync(join(dir, 'gw.yaml'), docs.map((d) => stringify(d)).join('---\n'));
  const r = await renderLocal([join(dir, 'gw.yaml')], undefined, join(dir, 'state'));
  assert.ok('config' in r, JSON.stringify(r));
  return r.config;
}

describe('inbound TLS', () => {
  before(() => {
    pki = makePki();
  });

  it('does not offer STARTTLS without a certificate', async () => {
    const gw = await startGateway(buildConfig({ spec: { integration: 'BehindEdgeGateway' }, domains: ['example.com'] }));
    try {
      const c = await SmtpDialog.open(gw.port, '127.0.0.2');
      await c.read();
      const ehlo = await c.cmd('EHLO client.test');
      assert.ok(!ehlo.lines.some((l) => l.includes('STARTTLS')));
      c.close();
    } finally {
      await gw.close();
    }
  });

  it('Attempt: offers STARTTLS and accepts mail with or without it', async () => {
    const gw = await startGateway(await configWithTls({ mode: 'Attempt' }));
    try {
      const plain = await SmtpDialog.open(gw.port, '127.0.0.2');
      await plain.read();
      assert.ok((await plain.cmd('EHLO client.test')).lines.some((l) => l.endsWith('STARTTLS')));
      assert.equal((await plain.cmd('MAIL FROM:<a@sender.test>')).code, 250);
      plain.close();
      const secure = await SmtpDialog.open(gw.port, '127.0.0.2');
      await secure.read();
      await secure.cmd('EHLO client.test');
      await secure.startTls({ ca: pki.caCert, servername: 'mx.gateway.test', rejectUnauthorized: true });
      assert.equal((await secure.cmd('EHLO client.test')).code, 250);
      assert.equal((await secure.cmd('MAIL FROM:<a@sender.test>')).code, 250);
      assert.equal((await secure.cmd('RCPT TO:<u@example.com>')).code, 250);
      assert.equal((await secure.cmd('DATA')).code, 354);
      const r = await secure.cmd('Subject: tls\r\n\r\nover TLS\r\n.');
      assert.equal(r.code, 250);
      const qid = /queued as (\S+)/.exec(r.text)![1]!;
      assert.equal(gw.gateway.runtime.spool.get(qid)?.envelope.client.tls, true);
      assert.match((await gw.gateway.runtime.spool.read(qid)).toString(), /with ESMTPS id /);
      secure.close();
    } finally {
      await gw.close();
    }
  });

  it('Require: refuses MAIL before STARTTLS with 530 5.7.0', async () => {
    const gw = await startGateway(await configWithTls({ mode: 'Require' }));
    try {
      const c = await SmtpDialog.open(gw.port, '127.0.0.2');
      await c.read();
      await c.cmd('EHLO client.test');
      const r = await c.cmd('MAIL FROM:<a@sender.test>');
      assert.equal(r.code, 530);
      assert.match(r.text, /^5\.7\.0 Must issue a STARTTLS command first/);
      await c.startTls();
      await c.cmd('EHLO client.test');
      assert.equal((await c.cmd('MAIL FROM:<a@sender.test>')).code, 250);
      c.close();
    } finally {
      await gw.close();
    }
  });

  it('client certificate Require: a handshake without a valid client certificate fails; with one it succeeds', async () => {
    const gw = await startGateway(await configWithTls({ mode: 'Require', clientCertificate: 'Require' }));
    try {
      const anonymous = await SmtpDialog.open(gw.port, '127.0.0.2');
      await anonymous.read();
      await anonymous.cmd('EHLO client.test');
      const failed = await anonymous.startTls().then(async () => {
        // TLS 1.3: the server's refusal arrives after the client's handshake completes.
        const r = await anonymous.cmd('EHLO client.test').catch(() => undefined);
        return r === undefined;
      }, () => true);
      assert.ok(failed, 'no session without a client certificate');
      anonymous.close();
      const withCert = await SmtpDialog.open(gw.port, '127.0.0.2');
      await withCert.read();
      await withCert.cmd('EHLO client.test');
      await withCert.startTls({ cert: pki.clientCert, key: pki.clientKey });
      assert.equal((await withCert.cmd('EHLO client.test')).code, 250);
      assert.equal((await withCert.cmd('MAIL FROM:<a@sender.test>')).code, 250);
      withCert.close();
    } finally {
      await gw.close();
    }
  });

  it('client certificate Request: a client without a certificate still gets a session', async () => {
    const gw = await startGateway(await configWithTls({ mode: 'Attempt', clientCertificate: 'Request' }));
    try {
      const c = await SmtpDialog.open(gw.port, '127.0.0.2');
      await c.read();
      await c.cmd('EHLO client.test');
      await c.startTls();
      assert.equal((await c.cmd('EHLO client.test')).code, 250);
      assert.equal((await c.cmd('MAIL FROM:<a@sender.test>')).code, 250);
      c.close();
    } finally {
      await gw.close();
    }
  });

  it('refuses contradictory TLS settings in the manifest', () => {
    assert.throws(() => buildConfig({ spec: { tls: { inbound: { mode: 'Attempt', clientCertificate: 'Require', certificate: { secretName: 'x' } } } } }), /clientCertificate Require needs inbound mode Require/);
    assert.throws(() => buildConfig({ spec: { tls: { inbound: { mode: 'Require' } } } }), /inbound mode Require needs a certificate/);
  });
});
