/**
 * Delivery end to end with real SMTP peers on loopback (smtp-server sinks
 * standing for the internal server and the edge gateway) and a real DNS
 * server on loopback (dnsmasq) serving MX and A records.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { buildConfig, startGateway, type Running } from './helpers/config.ts';
import { startSink, refuse, type Sink } from './helpers/sink.ts';
import { startDns, type DnsServer } from './helpers/dns-server.ts';
import { missing } from './helpers/requirements.ts';
import { submit } from './helpers/submit.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';
import { eventually } from './helpers/wait.ts';

const fastQueue = { minBackoff: '200ms', maxBackoff: '400ms', lifetime: '1h' };

const until = eventually;

async function dsnOf(raw: Buffer) {
  const parsed = await simpleParser(raw, { keepDeliveryStatus: true });
  const report = parsed.attachments.find((a) => a.contentType === 'message/delivery-status');
  assert.ok(report, 'has a message/delivery-status part');
  return { parsed, report: report.content.toString('utf8') };
}

describe('delivery', () => {
  let internal: Sink;
  let edge: Sink;
  let dns: DnsServer | undefined;
  let gw: Running;

  before(async () => {
    internal = await startSink({
      rcpt: (a) => {
        if (a.startsWith('nobody')) return refuse(550, `5.1.1 <${a}>: Recipient address rejected: User unknown`);
        if (a.startsWith('busy@')) return refuse(451, '4.2.1 Mailbox busy, try later');
        return null;
      },
    });
    edge = await startSink();
    dns = await startDns({ mx: [['edge.test', 'mx.edge.test', 10]], a: [['mx.edge.test', '127.0.0.1'], ['external.test', '127.0.0.1']] }); // the senders' domain exists: DSNs go to it (dsn.suppressForUnreachableSenders)
    gw = await startGateway(buildConfig({
      spec: {
        integration: 'BehindEdgeGatewayNoRecipientVerification',
        relayHost: { host: '127.0.0.1', port: edge.port },
        queue: fastQueue,
        tls: { outbound: { mode: 'None' } },
        ...(dns ? { resolver: { servers: [dns.server], timeout: '2s' } } : {}),
      },
      domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: internal.port } }],
      networks: ['127.0.0.1/32'],
    }), undefined, '127.0.0.1', { deliver: true });
  });
  after(async () => {
    await gw.close();
    await internal.close();
    await edge.close();
    await dns?.stop();
  });

  it('delivers inbound mail for a local domain to its routing host, bytes unchanged behind a Received header', async () => {
    const before = internal.messages.length;
    const qid = await submit(gw.port, { from: 'someone@external.test', to: 'alice@corp.test', subject: 'inbound', text: 'caf\u00e9 body', source: '127.0.0.2' });
    const [msg] = (await internal.waitFor(before + 1)).slice(before);
    assert.deepEqual([msg!.from, msg!.to], ['someone@external.test', ['alice@corp.test']]);
    assert.match(msg!.raw.toString(), new RegExp(`^Received: from .*\\r\\n\\tby mx\\.gateway\\.test \\(mailgw\\) with ESMTP id ${qid}`));
    assert.match(msg!.raw.toString(), /Subject: inbound/);
    await until('message removed', () => !gw.gateway.runtime.spool.get(qid));
    assert.ok(gw.log.find((l) => l.event === 'delivery' && l.qid === qid && l.status === 'delivered' && String(l.relay).includes(`:${internal.port}`)));
  });

  it('delivers outbound mail from a trusted network to the relay host, one transaction for recipients of one destination', async () => {
    const before = edge.messages.length;
    await submit(gw.port, { from: 'alice@corp.test', to: ['x@elsewhere.test', 'y@other.test'], subject: 'outbound' });
    const [msg] = (await edge.waitFor(before + 1)).slice(before);
    assert.deepEqual(msg!.to.sort(), ['x@elsewhere.test', 'y@other.test']);
  });

  it('reuses the connection to a next hop for consecutive messages', async () => {
    const before = internal.messages.length;
    const connections = internal.connections;
    for (let i = 0; i < 5; i++) await submit(gw.port, { from: 'a@external.test', to: `user${i}@corp.test`, source: '127.0.0.2' });
    await internal.waitFor(before + 5);
    assert.ok(internal.connections - connections <= 2, `used ${internal.connections - connections} connections for 5 messages`);
  });

  it('passes DSN parameters on per recipient when the next hop offers DSN', async () => {
    const before = internal.messages.length;
    await submit(gw.port, { from: 'a@external.test', to: 'bob@corp.test', source: '127.0.0.2', dsn: { ret: 'HDRS', envid: 'ENV42', notify: ['FAILURE', 'DELAY'], orcpt: 'rfc822;bob@corp.test' } });
    const [msg] = (await internal.waitFor(before + 1)).slice(before);
    assert.deepEqual(msg!.rcptDsn['bob@corp.test'], { notify: ['FAILURE', 'DELAY'], orcpt: 'rfc822;bob@corp.test' });
    assert.equal(msg!.mailArgs.RET, 'HDRS');
    assert.equal(msg!.mailArgs.ENVID, 'ENV42');
  });

  it('recipients with different NOTIFY/ORCPT each keep their own: one transaction per distinct set', async () => {
    const before = internal.messages.length;
    const c = await SmtpDialog.open(gw.port, '127.0.0.2');
    assert.equal((await c.read())?.code, 220);
    for (const [cmd, code] of [
      ['EHLO client.test', 250], ['MAIL FROM:<a@external.test> RET=HDRS ENVID=E7', 250],
      ['RCPT TO:<r1@corp.test> NOTIFY=SUCCESS ORCPT=rfc822;r1@corp.test', 250],
      ['RCPT TO:<r2@corp.test> NOTIFY=FAILURE ORCPT=rfc822;r2@corp.test', 250],
      ['RCPT TO:<r3@corp.test>', 250], ['RCPT TO:<r4@corp.test>', 250], ['DATA', 354],
      ['Subject: dsn sets\r\n\r\nbody\r\n.', 250], ['QUIT', 221],
    ] as const) assert.equal((await c.cmd(cmd)).code, code, cmd);
    const got = (await internal.waitFor(before + 3)).slice(before);
    const byRcpt = Object.fromEntries(got.flatMap((m) => m.to.map((t) => [t, { dsn: m.rcptDsn[t], ret: m.mailArgs.RET, envid: m.mailArgs.ENVID, with: m.to.length }])));
    assert.deepEqual(byRcpt['r1@corp.test'], { dsn: { notify: ['SUCCESS'], orcpt: 'rfc822;r1@corp.test' }, ret: 'HDRS', envid: 'E7', with: 1 });
    assert.deepEqual(byRcpt['r2@corp.test'], { dsn: { notify: ['FAILURE'], orcpt: 'rfc822;r2@corp.test' }, ret: 'HDRS', envid: 'E7', with: 1 });
    assert.equal(byRcpt['r3@corp.test']?.with, 2, 'recipients without DSN parameters share one transaction');
    assert.equal(byRcpt['r4@corp.test']?.with, 2);
    assert.equal(got.length, 3);
  });

  it('handles 250, 4xx and 5xx per recipient in one transaction; one DSN lists every failed recipient and reaches the sender via the relay host', async () => {
    const before = edge.messages.length;
    const internalBefore = internal.messages.length;
    const qid = await submit(gw.port, { from: 'sender@external.test', to: ['nobody@corp.test', 'alice@corp.test', 'busy@corp.test', 'nobody2@corp.test'], subject: 'to unknown users', source: '127.0.0.2' });
    const dsn = await until('DSN at the edge', () => edge.messages.slice(before).find((m) => m.from === ''));
    assert.deepEqual(dsn.to, ['sender@external.test']);
    const { parsed, report } = await dsnOf(dsn.raw);
    assert.match(String((parsed.headers.get('content-type') as { value: string }).value), /^multipart\/report$/);
    assert.equal((parsed.headers.get('content-type') as { params: Record<string, string> }).params['report-type'], 'delivery-status');
    assert.match(report, /^Reporting-MTA: dns; mx\.gateway\.test$/m);
    assert.match(report, new RegExp(`^X-Mailgw-Queue-ID: ${qid}$`, 'm'));
    assert.match(report, /^Arrival-Date: /m);
    for (const who of ['nobody', 'nobody2']) {
      assert.match(report, new RegExp(`^Final-Recipient: rfc822; ${who}@corp\\.test\r?\nAction: failed\r?\nStatus: 5\\.1\\.1\r?\nRemote-MTA: dns; 127\\.0\\.0\\.1\r?\nDiagnostic-Code: smtp; 550 5\\.1\\.1 <${who}@corp\\.test>: Recipient address rejected: User unknown`, 'm'));
    }
    assert.doesNotMatch(report, /alice@corp\.test|busy@corp\.test/, 'only the failed recipients are reported');
    assert.ok(parsed.attachments.some((a) => a.contentType === 'message/rfc822'), 'the original message is returned');
    // alice got it, busy is deferred, the message stays queued for busy only.
    await until('alice delivered', () => internal.messages.slice(internalBefore).find((m) => m.to.includes('alice@corp.test')));
    const state = await until('state written', () => gw.gateway.runtime.spool.get(qid)?.state);
    assert.deepEqual(state.rcpts.map((r) => r.status), ['failed', 'delivered', 'deferred', 'failed']);
    await new Promise((r) => setTimeout(r, 600)); // a retry of busy@ happens; no second DSN
    assert.equal(edge.messages.slice(before).filter((m) => m.from === '').length, 1, 'one DSN per event');
    assert.equal(internal.messages.filter((m) => m.to.includes('alice@corp.test') && m.raw.includes('to unknown users')).length, 1, 'alice is not delivered again on retry');
    await gw.gateway.runtime.queueAdmin.delete(qid);
  });

  it('sends no DSN for a bounce from the null sender, nor for NOTIFY=NEVER', async () => {
    const edgeBefore = edge.messages.length;
    const q1 = await submit(gw.port, { from: '', to: 'nobody@corp.test', source: '127.0.0.2' });
    const q2 = await submit(gw.port, { from: 'sender@external.test', to: 'nobody@corp.test', source: '127.0.0.2', dsn: { notify: ['NEVER'] } });
    await until('both removed', () => !gw.gateway.runtime.spool.get(q1) && !gw.gateway.runtime.spool.get(q2));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(edge.messages.slice(edgeBefore).filter((m) => m.from === '').length, 0);
    assert.ok(!gw.log.find((l) => l.event === 'bounce' && (l.qid === q1 || l.qid === q2)));
  });

  it('follows the MX of a relay host with mxLookup: true (real DNS on loopback)', async (t: TestContext) => {
    if (!dns) return missing(t, 'dnsmasq (Debian package dnsmasq-base) for a DNS server on loopback');
    const mxEdge = await startSink();
    const g = await startGateway(buildConfig({
      spec: { integration: 'BehindEdgeGateway', relayHost: { host: 'edge.test', port: mxEdge.port, mxLookup: true }, queue: fastQueue, resolver: { servers: [dns.server] } },
      networks: ['127.0.0.1/32'],
    }), undefined, '127.0.0.1', { deliver: true });
    try {
      await submit(g.port, { from: 'a@corp.test', to: 'b@far.test' });
      const [m] = await mxEdge.waitFor(1);
      assert.deepEqual(m!.to, ['b@far.test']);
      // The sink has the message before its 250 reaches the gateway, which logs the delivery after that.
      await eventually('the delivery through the MX', () => g.log.find((l) => l.event === 'delivery' && String(l.relay).startsWith('mx.edge.test[127.0.0.1]')));
    } finally {
      await g.close();
      await mxEdge.close();
    }
  });
});

describe('delivery to next hops given as IPv6 addresses', () => {
  it('routes to a bracketed IPv6 routing host', async () => {
    const v6 = await startSink({ host: '::1' });
    const g = await startGateway(buildConfig({
      spec: { integration: 'BehindEdgeGateway', queue: fastQueue, tls: { outbound: { mode: 'None' } } },
      domains: [{ domain: 'v6.test', routing: { host: '[::1]', port: v6.port } }],
    }), undefined, '127.0.0.1', { deliver: true });
    try {
      await submit(g.port, { from: 'a@external.test', to: 'b@v6.test', source: '127.0.0.2' });
      assert.deepEqual((await v6.waitFor(1))[0]!.to, ['b@v6.test']);
    } finally {
      await g.close();
      await v6.close();
    }
  });
});

describe('delivery by DNS MX (no relay host)', () => {
  it('uses MX preference, falls back to the next MX, and to A when there is no MX; null MX bounces at once', async (t) => {
    if (process.getuid?.() !== 0) return missing(t, 'root, to run sinks on port 25 of 127.0.0.x (MX delivery uses port 25)');
    const dns = await startDns({
      mx: [['corp.test', 'mx1.corp.test', 10], ['corp.test', 'mx2.corp.test', 20], ['corp.test', 'mx3.corp.test', 30]],
      a: [['mx1.corp.test', '127.0.0.31'], ['mx2.corp.test', '127.0.0.32'], ['mx3.corp.test', '127.0.0.33'], ['plain.test', '127.0.0.34']],
      nullMx: ['nomail.test'],
    });
    if (!dns) return missing(t, 'dnsmasq (Debian package dnsmasq-base) for a DNS server on loopback');
    // mx1 is down (nothing listens on 127.0.0.31:25); mx2 and mx3 are up.
    const mx2 = await startSink({ host: '127.0.0.32', port: 25 });
    const mx3 = await startSink({ host: '127.0.0.33', port: 25 });
    const plain = await startSink({ host: '127.0.0.34', port: 25 });
    const edge = await startSink();
    const g = await startGateway(buildConfig({
      spec: { integration: 'Direct', recipientVerification: { mode: 'DoNotReject' }, queue: fastQueue, resolver: { servers: [dns.server], timeout: '2s' } },
      domains: ['local.test'],
      networks: ['127.0.0.1/32'],
    }), undefined, '127.0.0.1', { deliver: true });
    try {
      await submit(g.port, { from: 'a@local.test', to: 'b@corp.test' });
      const [m] = await mx2.waitFor(1);
      assert.deepEqual(m!.to, ['b@corp.test']);
      assert.equal(mx3.messages.length, 0, 'the lower-preference MX was not needed');
      await submit(g.port, { from: 'a@local.test', to: 'c@plain.test' });
      assert.deepEqual((await plain.waitFor(1))[0]!.to, ['c@plain.test'], 'no MX: the domain\'s A record');
      const qid = await submit(g.port, { from: 'a@local.test', to: 'd@nomail.test' });
      const line = await until('null MX failure', () => g.log.find((l) => l.event === 'delivery' && l.qid === qid));
      assert.equal(line.status, 'failed');
      assert.equal(line.dsn, '5.1.10');
    } finally {
      await g.close();
      for (const s of [mx2, mx3, plain, edge]) await s.close();
      await dns.stop();
    }
  });
});
