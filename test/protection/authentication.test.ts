/**
 * Sender authentication with mailauth against a real DNS server on loopback
 * (dnsmasq) serving SPF, DKIM (a key generated here, the message signed
 * here) and DMARC records: SPF fail, DKIM fail and DMARC p=reject each get
 * the configured action; with the seed scheme's preset (SPF and DMARC off)
 * the SPF and DMARC cases pass; a forged Authentication-Results claiming the
 * gateway's name is removed.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { buildConfig, startGateway, type Running } from '../helpers/config.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { startDns, type DnsServer } from '../helpers/dns-server.ts';
import { missing } from '../helpers/requirements.ts';

const require = createRequire(import.meta.url);
const { dkimSign } = require('mailauth/lib/dkim/sign') as { dkimSign: (m: Buffer, o: unknown) => Promise<{ signatures: string }> };

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pub = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

function message(from: string, subject: string, body: string, extra = ''): Buffer {
  return Buffer.from(`${extra}From: <${from}>\r\nTo: <alice@corp.test>\r\nSubject: ${subject}\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@test>\r\n\r\n${body}\r\n`);
}

async function signed(from: string, subject: string, body: string): Promise<Buffer> {
  const m = message(from, subject, body);
  const { signatures } = await dkimSign(m, { signatureData: [{ signingDomain: 'dkim.test', selector: 's1', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) }] });
  assert.ok(signatures.startsWith('DKIM-Signature:'));
  return Buffer.concat([Buffer.from(signatures.replace(/\r?\n/g, '\r\n')), m]);
}

describe('sender authentication (mailauth + DNS on loopback)', () => {
  let dns: DnsServer | undefined;
  let internal: Sink;
  before(async () => {
    dns = await startDns({
      txt: [
        ['spf-fail.test', 'v=spf1 ip4:192.0.2.1 -all'],
        ['dmarc.test', 'v=spf1 -all'],
        ['_dmarc.dmarc.test', 'v=DMARC1; p=reject'],
        ['s1._domainkey.dkim.test', `v=DKIM1; k=rsa; p=${pub}`],
        ['dkim.test', 'v=spf1 ip4:127.0.0.2 -all'],
        ['corp.test', 'v=spf1 ip4:192.0.2.25 -all'],
        ['_dmarc.corp.test', 'v=DMARC1; p=reject'],
      ],
    });
    internal = await startSink();
  });
  after(async () => {
    await dns?.stop();
    await internal.close();
  });

  const gateway = (spec: Record<string, unknown>): Promise<Running> => startGateway(buildConfig({
    spec: {
      relayHost: { host: '127.0.0.1', port: internal.port }, tls: { outbound: { mode: 'None' } },
      resolver: { servers: [dns!.server], timeout: '2s' }, ...spec,
    },
    domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: internal.port } }],
  }), undefined, '127.0.0.1', { deliver: true });

  async function deliver(port: number, from: string, raw: Buffer): Promise<{ code: number; text: string }> {
    const c = await SmtpDialog.open(port, '127.0.0.2');
    try {
      await c.begin(from, 'client.dkim.test');
      assert.equal((await c.cmd('RCPT TO:<alice@corp.test>')).code, 250);
      assert.equal((await c.cmd('DATA')).code, 354);
      const r = await c.cmd(`${raw.toString('latin1').replace(/\r\n$/, '')}\r\n.`);
      return { code: r.code, text: r.text };
    } finally {
      c.close();
    }
  }

  const skip = (t: TestContext) => {
    if (!dns) missing(t, 'dnsmasq (Debian package dnsmasq-base)');
    return !dns;
  };

  it('SPF fail, DKIM fail and DMARC p=reject each get the configured action (Reject)', async (t) => {
    if (skip(t)) return;
    const gw = await gateway({ integration: 'Direct', recipientVerification: { mode: 'DoNotReject' }, authentication: { spf: true, dkim: true, dmarc: true, action: 'Reject', applyDmarcPolicy: true } });
    try {
      const spf = await deliver(gw.port, 'a@spf-fail.test', message('a@spf-fail.test', 'spf', 'hello'));
      assert.equal(spf.code, 554);
      assert.match(spf.text, /authentication: spf=fail/);
      const tampered = Buffer.from((await signed('b@dkim.test', 'dkim', 'original body')).toString().replace('original body', 'altered body'));
      const dkim = await deliver(gw.port, 'b@dkim.test', tampered);
      assert.equal(dkim.code, 554);
      assert.match(dkim.text, /dkim=(fail|neutral)/);
      const dmarc = await deliver(gw.port, 'c@dmarc.test', message('c@dmarc.test', 'dmarc', 'hello'));
      assert.equal(dmarc.code, 554);
      assert.match(dmarc.text, /dmarc=fail/);
      const good = await deliver(gw.port, 'b@dkim.test', await signed('b@dkim.test', 'good', 'a signed and intact body'));
      assert.equal(good.code, 250);
      const [msg] = await internal.waitFor(1);
      const raw = msg!.raw.toString();
      assert.match(raw, /^Authentication-Results: mx\.gateway\.test;/m);
      assert.match(raw, /dkim=pass header\.i=@dkim\.test/);
      assert.match(raw, /spf=pass/);
      assert.equal(gw.gateway.runtime.spool.size <= 1, true);
    } finally {
      await gw.close();
    }
  });

  it('with the seed preset (SPF and DMARC off) the SPF-fail and DMARC-reject messages pass', async (t) => {
    if (skip(t)) return;
    const gw = await gateway({ integration: 'BehindEdgeGatewayNoRecipientVerification', authentication: { dkim: true, applyDmarcPolicy: true } });
    const before = internal.messages.length;
    try {
      assert.equal((await deliver(gw.port, 'a@spf-fail.test', message('a@spf-fail.test', 'spf seed', 'hello'))).code, 250);
      assert.equal((await deliver(gw.port, 'c@dmarc.test', message('c@dmarc.test', 'dmarc seed', 'hello'))).code, 250);
      const got = (await internal.waitFor(before + 2)).slice(before).map((m) => m.raw.toString());
      assert.ok(got.every((m) => !/spf=fail|dmarc=fail/.test(m)), 'SPF and DMARC were not judged');
    } finally {
      await gw.close();
    }
  });

  it('removes a forged Authentication-Results that claims the gateway\'s name, keeps others', async (t) => {
    if (skip(t)) return;
    const gw = await gateway({ integration: 'Direct', recipientVerification: { mode: 'DoNotReject' }, authentication: { spf: true, dkim: false, dmarc: false, action: 'Skip' } });
    const before = internal.messages.length;
    try {
      const forged = 'Authentication-Results: mx.gateway.test; spf=pass smtp.mailfrom=ceo@corp.test\r\nAuthentication-Results: other.example; spf=none\r\n';
      assert.equal((await deliver(gw.port, 'a@spf-fail.test', message('a@spf-fail.test', 'forged', 'hello', forged))).code, 250);
      const [msg] = (await internal.waitFor(before + 1)).slice(before);
      const raw = msg!.raw.toString();
      assert.doesNotMatch(raw, /smtp\.mailfrom=ceo@corp\.test/);
      assert.match(raw, /^Authentication-Results: other\.example; spf=none/m);
      assert.match(raw, /^Authentication-Results: mx\.gateway\.test;[\s\S]*spf=fail/m);
    } finally {
      await gw.close();
    }
  });

  it('mail from a trusted network skips sender authentication (its own users sending out); outside senders are still checked', async (t) => {
    if (skip(t)) return;
    const gw = await startGateway(buildConfig({
      spec: {
        integration: 'Direct', recipientVerification: { mode: 'DoNotReject' }, tls: { outbound: { mode: 'None' } },
        authentication: { spf: true, dkim: true, dmarc: true, action: 'Reject', applyDmarcPolicy: true },
        resolver: { servers: [dns!.server], timeout: '2s' },
      },
      domains: ['corp.test'],
      networks: ['127.0.0.3/32'],
    }));
    try {
      // corp.test's SPF lists only its public egress address; the internal server sending out is 127.0.0.3.
      const c = await SmtpDialog.open(gw.port, '127.0.0.3');
      await c.begin('alice@corp.test', 'internal.corp.test');
      assert.equal((await c.cmd('RCPT TO:<partner@outside.test>')).code, 250);
      assert.equal((await c.cmd('DATA')).code, 354);
      const r = await c.cmd(`${message('alice@corp.test', 'outbound', 'hello partner').toString('latin1').replace(/\r\n$/, '')}\r\n.`);
      c.close();
      assert.equal(r.code, 250, r.text);
      assert.ok(!gw.log.find((l) => l.event === 'verdict' && JSON.stringify(l).includes('spf=fail')), 'not judged by SPF');
      // The same sender from outside the trusted networks is a forgery of corp.test.
      const forged = await deliver(gw.port, 'alice@corp.test', message('alice@corp.test', 'forged', 'hello'));
      assert.equal(forged.code, 554);
      assert.match(forged.text, /spf=fail/);
    } finally {
      await gw.close();
    }
  });
});
