/**
 * Relay control over real sockets: local domains from anyone, foreign
 * domains only from trusted networks (clients bound to different 127.0.0.x
 * source addresses), and the address-trick table.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { buildConfig, startGateway, type Running } from './helpers/config.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';

const TRUSTED = '127.0.0.1';
const UNTRUSTED = '127.0.0.2';

describe('relay control', () => {
  let gw: Running;
  before(async () => {
    gw = await startGateway(buildConfig({
      spec: { integration: 'BehindEdgeGatewayNoRecipientVerification', limits: { maxErrors: 0 } }, // the battery refuses many RCPTs in one session
      domains: ['example.com', { domain: 'corp.test', includeSubdomains: true }, 'bücher.test'],
      networks: [`${TRUSTED}/32`, '2001:db8::/32'],
    }));
  });
  after(() => gw.close());

  const send = (localAddress: string, to: string) => nodemailer.createTransport({
    host: '127.0.0.1', port: gw.port, secure: false, ignoreTLS: true, localAddress, tls: { rejectUnauthorized: false },
  }).sendMail({ from: 'someone@sender.test', to, subject: 'relay test', text: 'hello' });

  it('accepts mail for a local domain from an untrusted source', async () => {
    const info = await send(UNTRUSTED, 'user@example.com');
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as [0-9A-Z]{16}$/);
    const qid = info.response.split(' ').pop()!;
    const msg = gw.gateway.runtime.spool.get(qid);
    assert.ok(msg, 'message is in the spool');
    assert.deepEqual(msg.envelope.rcptTo.map((r) => [r.address, r.route, r.domain]), [['user@example.com', 'local', 'example.com']]);
    assert.equal(msg.envelope.client.address, UNTRUSTED);
  });

  it('relays a foreign domain for a trusted source', async () => {
    const info = await send(TRUSTED, 'friend@elsewhere.test');
    assert.match(info.response, /^250 /);
    const msg = gw.gateway.runtime.spool.get(info.response.split(' ').pop()!);
    assert.equal(msg?.envelope.rcptTo[0]?.route, 'relay');
  });

  it('refuses a foreign domain from an untrusted source with 554 5.7.1', async () => {
    await assert.rejects(send(UNTRUSTED, 'friend@elsewhere.test'), (err: Error & { responseCode?: number; response?: string }) => {
      assert.equal(err.responseCode, 554);
      assert.match(err.response ?? '', /^554 5\.7\.1 <friend@elsewhere\.test>: Relay access denied/);
      return true;
    });
  });

  // [RCPT argument, reply code, enhanced code, domain routed as (accepted only)]
  const TABLE: [string, number, string | null, string | null][] = [
    ['<user@example.com>', 250, '2.1.5', 'example.com'],
    ['<User@EXAMPLE.COM>', 250, '2.1.5', 'example.com'],
    ['<user@Example.Com>', 250, '2.1.5', 'example.com'],
    ['<"user"@example.com>', 250, '2.1.5', 'example.com'],
    ['<user@a.corp.test>', 250, '2.1.5', 'a.corp.test'],
    ['<user@corp.test>', 250, '2.1.5', 'corp.test'],
    ['<user@xn--bcher-kva.test>', 250, '2.1.5', 'xn--bcher-kva.test'],
    ['<user@bücher.test>', 250, '2.1.5', 'xn--bcher-kva.test'],
    ['<user@BÜCHER.TEST>', 250, '2.1.5', 'xn--bcher-kva.test'],
    ['<user@example\u3002com>', 250, '2.1.5', 'example.com'],
    ['<@relay.test:user@example.com>', 250, '2.1.5', 'example.com'],
    ['<user@evil.test>', 554, '5.7.1', null],
    ['<user%evil.test@example.com>', 553, '5.1.3', null],
    ['<evil.test!user@example.com>', 553, '5.1.3', null],
    ['<"user%evil.test"@example.com>', 553, '5.1.3', null],
    ['<"evil.test!user"@example.com>', 553, '5.1.3', null],
    ['<"user@evil.test"@example.com>', 501, null, null],
    ['<@example.com:user@evil.test>', 554, '5.7.1', null],
    ['<@example.com,@corp.test:user@evil.test>', 554, '5.7.1', null],
    ['<user@example.com.>', 501, null, null],
    ['<user@EXAMPLE.COM.>', 501, null, null],
    ['<user@example.com..>', 501, null, null],
    ['<user@.example.com>', 501, null, null],
    ['<user@example.com.evil.test>', 554, '5.7.1', null],
    ['<user@evilexample.com>', 554, '5.7.1', null],
    ['<user@sub.example.com>', 554, '5.7.1', null],
    ['<user@corp.test.evil.test>', 554, '5.7.1', null],
    ['<user@xcorp.test>', 554, '5.7.1', null],
    ['<user@[127.0.0.1]>', 554, '5.7.1', null],
    ['<user@[IPv6:::1]>', 554, '5.7.1', null],
    ['<postmaster@evil.test>', 554, '5.7.1', null],
    ['<postmaster>', 550, '5.1.1', null],
    ['<user@example.com@evil.test>', 501, null, null],
    ['<user@evil.test@example.com>', 501, null, null],
    ['<user@example.com%evil.test>', 501, null, null],
    ['user@example.com', 501, null, null],
    ['<üser@example.com>', 553, '5.6.7', null],
    ['<user@xn--evil.test>', 554, '5.7.1', null],
  ];

  it(`answers each of ${TABLE.length} address forms from an untrusted source without opening a relay`, async () => {
    assert.ok(TABLE.length >= 30);
    const c = await SmtpDialog.open(gw.port, UNTRUSTED);
    after(() => c.close());
    const mail = await c.begin();
    assert.equal(mail.code, 250);
    const before = gw.log.lines.length;
    const got: [string, number, string | null, string | null][] = [];
    for (const [arg] of TABLE) {
      const r = await c.cmd(`RCPT TO:${arg}`);
      const enhanced = /^(\d\.\d{1,3}\.\d{1,3}) /.exec(r.text)?.[1] ?? null;
      let domain: string | null = null;
      if (r.code === 250) {
        const line = gw.log.lines.slice(before).filter((l) => l.event === 'rcpt' && l.code === 250).at(-1);
        domain = (line?.domain as string) ?? 'missing log line';
        assert.equal(line?.route, 'local', `${arg} must be routed as local`);
      }
      got.push([arg, r.code, r.code === 501 ? null : enhanced, domain]);
    }
    assert.deepEqual(got, TABLE.map(([a, code, enh, dom]) => [a, code, code === 501 ? null : enh, dom]));
    // Nothing accepted for a foreign domain: every accepted recipient is local.
    const rcptLines = gw.log.lines.slice(before).filter((l) => l.event === 'rcpt');
    assert.ok(rcptLines.every((l) => l.code !== 250 || l.route === 'local'));
    assert.ok(rcptLines.every((l) => typeof l.qid === 'string' && l.client === UNTRUSTED));
    c.close();
  });

  it('keeps refusing after RSET and in pipelined batches', async () => {
    const c = await SmtpDialog.open(gw.port, UNTRUSTED);
    await c.begin();
    assert.equal((await c.cmd('RSET')).code, 250);
    c.write('MAIL FROM:<a@b.test>\r\nRCPT TO:<x@example.com>\r\nRCPT TO:<y@evil.test>\r\nRCPT TO:<z@corp.test>\r\n');
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await c.read())!.code);
    assert.deepEqual(codes, [250, 250, 554, 250]);
    c.close();
  });
});

describe('relay control without local domains or trusted networks', () => {
  it('accepts nothing from untrusted sources when there are no local domains', async () => {
    const gw = await startGateway(buildConfig({ spec: { integration: 'BehindEdgeGateway' }, networks: ['127.0.0.1/32'] }));
    try {
      const c = await SmtpDialog.open(gw.port, UNTRUSTED);
      await c.begin();
      assert.equal((await c.cmd('RCPT TO:<user@example.com>')).code, 554);
      c.close();
    } finally {
      await gw.close();
    }
  });

  it('relays nothing outward when there are no trusted networks', async () => {
    const gw = await startGateway(buildConfig({ spec: { integration: 'BehindEdgeGateway' }, domains: ['example.com'] }));
    try {
      const c = await SmtpDialog.open(gw.port, '127.0.0.1');
      await c.begin();
      assert.equal((await c.cmd('RCPT TO:<user@elsewhere.test>')).code, 554);
      assert.equal((await c.cmd('RCPT TO:<user@example.com>')).code, 250);
      c.close();
    } finally {
      await gw.close();
    }
  });
});
