/**
 * Honest DSNs (issue 16, acceptance 6), with real next hops and the suite's
 * DNS server on loopback:
 * - no DSN to a sender whose message failed SPF or was scored as spam by
 *   the suite's rspamd (GTUBE, delivered tagged), nor to one whose domain
 *   has a null MX or no address: logged (dsn-suppressed) and counted
 *   (mailgw_gateway_dsn_suppressed_total);
 * - a delay notice (Action: delayed, Will-Retry-Until) after
 *   queue.delayWarning, once; none for NOTIFY=NEVER or NOTIFY without DELAY;
 * - NOTIFY=SUCCESS passed to a next hop without DSN: a "relayed" notice.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { buildConfig, startGateway, type Running } from './helpers/config.ts';
import { startDns, type DnsServer } from './helpers/dns-server.ts';
import { GTUBE, startRspamd, type Daemon } from './helpers/scanners.ts';
import { missing } from './helpers/requirements.ts';
import { refuse, startSink, type Sink } from './helpers/sink.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';
import { eventually } from './helpers/wait.ts';

async function reportOf(raw: Buffer): Promise<{ subject: string; report: string }> {
  const p = await simpleParser(raw, { keepDeliveryStatus: true });
  return { subject: p.subject ?? '', report: p.attachments.find((a) => a.contentType === 'message/delivery-status')?.content.toString() ?? '' };
}

describe('honest DSNs', () => {
  let dns: DnsServer | undefined;
  let internal: Sink;
  let noDsnHop: Sink;
  let edge: Sink;
  let gw: Running | undefined;
  let rspamd: Daemon | undefined;
  before(async () => {
    dns = await startDns({
      txt: [['ok.test', 'v=spf1 ip4:127.0.0.2 -all'], ['fail.test', 'v=spf1 ip4:192.0.2.1 -all'], ['nomail.test', 'v=spf1 ip4:127.0.0.2 -all'], ['noaddr.test', 'v=spf1 ip4:127.0.0.2 -all']],
      a: [['ok.test', '127.0.0.1'], ['fail.test', '127.0.0.1']],
      nullMx: ['nomail.test'],
    });
    internal = await startSink({ rcpt: (a) => (a.startsWith('unknown') ? refuse(550, '5.1.1 User unknown') : a.startsWith('busy') ? refuse(451, '4.2.1 Mailbox busy') : null) });
    noDsnHop = await startSink({ dsn: false });
    edge = await startSink();
    rspamd = await startRspamd();
    if (!dns || !rspamd) return;
    gw = await startGateway(buildConfig({
      spec: {
        integration: 'Direct', recipientVerification: { mode: 'DoNotReject' },
        relayHost: { host: '127.0.0.1', port: edge.port }, tls: { outbound: { mode: 'None' } },
        resolver: { servers: [dns.server], timeout: '2s' },
        authentication: { spf: true, dkim: false, dmarc: false, action: 'Skip' },
        // Judging every message (a module on) is what records a suspect sender with it; spam is delivered tagged.
        protection: { antispam: { enabled: true, rspamd: rspamd.address, actions: { spam: 'Skip', probableSpam: 'Skip' } } },
        queue: { minBackoff: '300ms', maxBackoff: '300ms', lifetime: '1h', delayWarning: '1s' },
      },
      domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: internal.port } }, { domain: 'plain.test', routing: { host: '127.0.0.1', port: noDsnHop.port } }],
    }), undefined, '127.0.0.1', { deliver: true });
  });
  after(async () => {
    await gw?.close();
    await Promise.all([internal.close(), noDsnHop.close(), edge.close(), dns?.stop(), rspamd?.stop()]);
  });
  const skip = (t: TestContext) => {
    if (!dns) missing(t, 'dnsmasq (Debian package dnsmasq-base)');
    if (!rspamd) missing(t, 'rspamd (Debian package rspamd)');
    return !gw;
  };
  const send = async (from: string, to: string, notify?: string, body = 'body') => {
    const c = await SmtpDialog.open(gw!.port, '127.0.0.2');
    try {
      await c.begin(from);
      assert.equal((await c.cmd(`RCPT TO:<${to}>${notify ? ` NOTIFY=${notify}` : ''}`)).code, 250);
      assert.equal((await c.cmd('DATA')).code, 354);
      const r = await c.cmd(`Subject: to ${to}\r\nFrom: ${from}\r\n\r\n${body}\r\n.`);
      assert.equal(r.code, 250, r.text);
      return /queued as (\S+)/.exec(r.text)![1]!;
    } finally {
      c.close();
    }
  };
  const dsnsTo = (sender: string) => edge.messages.filter((m) => m.from === '' && m.to.includes(sender));

  it('a failure DSN goes to an authenticated sender, not to one that failed SPF or sent spam, nor to a domain with a null MX or no address', async (t) => {
    if (skip(t)) return;
    const ok = await send('a@ok.test', 'unknown1@corp.test');
    const forged = await send('x@fail.test', 'unknown2@corp.test');
    const nullMx = await send('b@nomail.test', 'unknown3@corp.test');
    const noAddr = await send('c@noaddr.test', 'unknown4@corp.test');
    const spam = await send('s@ok.test', 'unknown5@corp.test', undefined, GTUBE);
    const dsn = await eventually('the DSN to a@ok.test', () => dsnsTo('a@ok.test')[0], 15_000, 50);
    assert.match((await reportOf(dsn.raw)).report, /Action: failed/);
    const suppressed = await eventually('four suppressions', () => {
      const l = gw!.log.lines.filter((x) => x.event === 'dsn-suppressed' && [forged, nullMx, noAddr, spam].includes(String(x.qid)));
      return l.length === 4 ? l : undefined;
    }, 15_000, 50);
    assert.deepEqual(suppressed.map((l) => `${l.to} ${l.reason}: ${String(l.detail).replace(/\([\d.]+\)$/, '(score)')}`).sort(), [
      'b@nomail.test unreachable: nomail.test has a null MX', 'c@noaddr.test unreachable: noaddr.test has no address', 's@ok.test suspect: scored as spam (score)', 'x@fail.test suspect: SPF fail',
    ]);
    assert.equal(gw!.gateway.runtime.spool.get(ok), undefined);
    const metrics = await gw!.gateway.runtime.metrics.registry.getSingleMetricAsString('mailgw_gateway_dsn_suppressed_total');
    assert.match(metrics, /reason="suspect"\} 2/);
    assert.match(metrics, /reason="unreachable"\} 2/);
    assert.deepEqual([...dsnsTo('x@fail.test'), ...dsnsTo('s@ok.test'), ...dsnsTo('b@nomail.test'), ...dsnsTo('c@noaddr.test')], []);
  });

  it('one delay notice after delayWarning; none for NOTIFY=NEVER or NOTIFY=FAILURE', async (t) => {
    if (skip(t)) return;
    const q1 = await send('d@ok.test', 'busy1@corp.test');
    const q2 = await send('e@ok.test', 'busy2@corp.test', 'NEVER');
    const q3 = await send('f@ok.test', 'busy3@corp.test', 'FAILURE');
    const notice = await eventually('a delay notice', () => dsnsTo('d@ok.test')[0], 15_000, 50);
    const { subject, report } = await reportOf(notice.raw);
    assert.equal(subject, 'Delayed Mail (still being retried)');
    assert.match(report, /Final-Recipient: rfc822; busy1@corp\.test\r?\nAction: delayed\r?\nStatus: 4\.2\.1/);
    assert.match(report, /Will-Retry-Until: /);
    // More attempts pass; still one notice, and none for the others.
    await eventually('more attempts', () => (gw!.gateway.runtime.spool.get(q1)?.state?.attempts ?? 0) >= 5, 15_000, 50);
    assert.equal(dsnsTo('d@ok.test').length, 1, 'one delay notice per message');
    assert.deepEqual([...dsnsTo('e@ok.test'), ...dsnsTo('f@ok.test')], []);
    for (const q of [q1, q2, q3]) await gw!.gateway.runtime.queueAdmin.delete(q);
  });

  it('NOTIFY=SUCCESS passed to a next hop without DSN gets a relayed notice', async (t) => {
    if (skip(t)) return;
    await send('g@ok.test', 'user@plain.test', 'SUCCESS,FAILURE');
    await noDsnHop.waitFor(1);
    const notice = await eventually('a relayed notice', () => dsnsTo('g@ok.test')[0], 15_000, 50);
    const { subject, report } = await reportOf(notice.raw);
    assert.equal(subject, 'Successful Mail Relay Report');
    assert.match(report, /Final-Recipient: rfc822; user@plain\.test\r?\nAction: relayed\r?\nStatus: 2\.0\.0/);
    // To a next hop that does DSN, NOTIFY travels on and we send nothing.
    await send('h@ok.test', 'user@corp.test', 'SUCCESS');
    await eventually('delivered', () => internal.messages.find((m) => m.to.includes('user@corp.test')), 15_000, 50);
    await eventually('the queue drained', () => gw!.gateway.runtime.spool.size === 0, 15_000, 50);
    assert.deepEqual(dsnsTo('h@ok.test'), []);
  });
});
