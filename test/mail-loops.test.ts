/**
 * Mail loops and hostile bytes (issue 13, items 1, 5, 6, 7, 9), end to end
 * over real sockets: the hop limit at the end of DATA, a next hop that is
 * the gateway itself (by address or by the name it greets with), two
 * gateways routing a domain to each other, a queued message over the hop
 * limit, bare CR/LF and overlong lines, forged verdict headers, and a UTF-8
 * envelope for a next hop without SMTPUTF8.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { buildConfig, startGateway, type Running } from './helpers/config.ts';
import { startSink, type Sink } from './helpers/sink.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';
import { submit } from './helpers/submit.ts';
import { eventually } from './helpers/wait.ts';

const fastQueue = { minBackoff: '200ms', maxBackoff: '400ms', lifetime: '1h' };

function received(n: number): string {
  return Array.from({ length: n }, (_, i) => `Received: from hop${i}.test by hop${i + 1}.test; Tue, 1 Dec 2026 10:00:00 +0000\r\n`).join('');
}

async function sendRaw(port: number, from: string, to: string, data: string | Buffer): Promise<{ code: number; text: string }> {
  const d = await SmtpDialog.open(port);
  try {
    assert.equal((await d.begin(from)).code, 250);
    const r = await d.cmd(`RCPT TO:<${to}>`);
    assert.equal(r.code, 250, r.text);
    assert.equal((await d.cmd('DATA')).code, 354);
    d.write(data);
    d.write(typeof data === 'string' && data.endsWith('\r\n') ? '.\r\n' : '\r\n.\r\n');
    const end = await d.read();
    return { code: end!.code, text: end!.text };
  } finally {
    d.close();
  }
}

async function dsnStatus(raw: Buffer): Promise<string> {
  const parsed = await simpleParser(raw, { keepDeliveryStatus: true });
  const report = parsed.attachments.find((a) => a.contentType === 'message/delivery-status');
  assert.ok(report, 'a DSN');
  return report.content.toString('utf8');
}

function accepted(gw: Running): number {
  return gw.log.lines.filter((l) => l.event === 'message' && l.code === 250).length;
}

describe('mail loops', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('refuses a message with maxHops Received/Delivered-To headers or more with 554 5.4.6, accepts one below', async () => {
    const gw = await startGateway(buildConfig({ spec: { limits: { maxHops: 50 }, recipientVerification: { mode: 'DoNotReject' } }, domains: ['corp.test'] }));
    cleanup.push(() => gw.close());
    const over = await sendRaw(gw.port, 's@x.test', 'a@corp.test', `${received(45)}${'Delivered-To: a@corp.test\r\n'.repeat(5)}Subject: loop\r\n\r\nbody\r\n`);
    assert.equal(over.code, 554);
    assert.match(over.text, /^5\.4\.6 Too many hops/);
    const under = await sendRaw(gw.port, 's@x.test', 'a@corp.test', `${received(49)}Subject: ok\r\n\r\nbody\r\n`);
    assert.equal(under.code, 250, under.text);
    assert.equal(gw.gateway.runtime.spool.size, 1);
    assert.ok(gw.log.find((l) => l.event === 'message' && l.code === 554 && l.hops === 50), 'the refusal is logged with the hop count');
  });

  it('a LocalDomain routed to the gateway itself: one copy accepted, one 5.4.6 bounce, the spool back to empty', async () => {
    const senders = await startSink();
    cleanup.push(() => senders.close());
    const spec = { queue: fastQueue, tls: { outbound: { mode: 'None' } }, recipientVerification: { mode: 'DoNotReject' } };
    const domains = (selfPort: number) => [{ domain: 'loop.test', routing: { host: '127.0.0.1', port: selfPort } }, { domain: 'corp.test', routing: { host: '127.0.0.1', port: senders.port } }];
    const gw = await startGateway(buildConfig({ spec, domains: domains(1) }), undefined, '127.0.0.1', { deliver: true });
    cleanup.push(() => gw.close());
    gw.gateway.reload(buildConfig({ spec, domains: domains(gw.port) }));
    await submit(gw.port, { from: 'alice@corp.test', to: 'bob@loop.test' });
    const [dsn] = await senders.waitFor(1);
    assert.equal(dsn!.to[0], 'alice@corp.test');
    assert.match(await dsnStatus(dsn!.raw), /Status: 5\.4\.6/);
    assert.match(dsn!.raw.toString(), /mail for loop\.test loops back to myself/);
    await eventually('an empty spool', () => gw.gateway.runtime.spool.size === 0);
    assert.equal(accepted(gw), 1);
  });

  it('a next hop that greets with our own hostname is a loop, bounced at once and not retried', async () => {
    const senders = await startSink();
    const twin = await startSink({ name: 'mx.gateway.test' });
    cleanup.push(() => senders.close(), () => twin.close());
    const gw = await startGateway(buildConfig({
      spec: { queue: fastQueue, tls: { outbound: { mode: 'None' } } },
      domains: [{ domain: 'loop.test', routing: { host: '127.0.0.1', port: twin.port } }, { domain: 'corp.test', routing: { host: '127.0.0.1', port: senders.port } }],
    }), undefined, '127.0.0.1', { deliver: true });
    cleanup.push(() => gw.close());
    await submit(gw.port, { from: 'alice@corp.test', to: 'bob@loop.test' });
    const [dsn] = await senders.waitFor(1);
    assert.match(dsn!.raw.toString(), /mail for loop\.test loops back to myself/);
    await eventually('an empty spool', () => gw.gateway.runtime.spool.size === 0);
    assert.equal(twin.messages.length, 0);
  });

  it('two gateways routing a domain to each other: at most maxHops copies, one 5.4.6 outcome, both spools empty', async () => {
    const senders = await startSink();
    cleanup.push(() => senders.close());
    const maxHops = 20;
    const cfg = (hostname: string, peer: number) => buildConfig({
      spec: { hostname, queue: fastQueue, tls: { outbound: { mode: 'None' } }, limits: { maxHops }, recipientVerification: { mode: 'DoNotReject' } },
      domains: [{ domain: 'loop.test', routing: { host: '127.0.0.1', port: peer } }, { domain: 'corp.test', routing: { host: '127.0.0.1', port: senders.port } }],
    });
    const a = await startGateway(cfg('a.gateway.test', 1), undefined, '127.0.0.1', { deliver: true });
    const b = await startGateway(cfg('b.gateway.test', a.port), undefined, '127.0.0.1', { deliver: true });
    cleanup.push(() => a.close(), () => b.close());
    a.gateway.reload(cfg('a.gateway.test', b.port));
    await submit(a.port, { from: 'alice@corp.test', to: 'bob@loop.test' });
    const [dsn] = await senders.waitFor(1, 60_000);
    assert.match(await dsnStatus(dsn!.raw), /Status: 5\.4\.6/);
    await eventually('both spools empty', () => a.gateway.runtime.spool.size === 0 && b.gateway.runtime.spool.size === 0, 30_000);
    const copies = accepted(a) + accepted(b);
    assert.ok(copies <= maxHops, `${copies} copies accepted`);
    assert.ok(copies >= maxHops - 2, `the loop went round (${copies} copies)`);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(senders.messages.length, 1, 'exactly one bounce');
  });

  it('a queued message over the hop limit is bounced, never sent', async () => {
    const senders = await startSink();
    const internal = await startSink();
    cleanup.push(() => senders.close(), () => internal.close());
    const spec = (maxHops: number) => ({ queue: fastQueue, tls: { outbound: { mode: 'None' } }, limits: { maxHops } });
    const domains = [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: senders.port } }, { domain: 'dest.test', routing: { host: '127.0.0.1', port: internal.port } }];
    const gw = await startGateway(buildConfig({ spec: spec(10), domains }));
    cleanup.push(() => gw.close());
    assert.equal((await sendRaw(gw.port, 'alice@corp.test', 'bob@dest.test', `${received(5)}Subject: x\r\n\r\nbody\r\n`)).code, 250);
    // The limit drops below what the queued message has (5 + ours): it must not leave.
    gw.gateway.reload(buildConfig({ spec: spec(4), domains }));
    gw.gateway.runtime.queue.start();
    const [dsn] = await senders.waitFor(1);
    assert.match(dsn!.raw.toString(), /Too many hops/);
    assert.equal(internal.messages.length, 0);
  });
});

describe('hostile bytes reach no next hop', () => {
  let internal: Sink;
  let gw: Running;
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('bare CR and LF (all eight fake terminators), overlong lines and forged verdict headers are cleaned on the streaming path', async () => {
    internal = await startSink();
    gw = await startGateway(buildConfig({
      spec: { queue: fastQueue, tls: { outbound: { mode: 'None' } } },
      domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: internal.port } }],
    }), undefined, '127.0.0.1', { deliver: true });
    cleanup.push(() => gw.close(), () => internal.close());
    const fakes = ['\n.\n', '\n.\r\n', '\r.\r\n', '\r\n.\r', '\r.\n', '\r\n.\n', '\n.\r', '\r.\r'];
    const data = [
      'Authentication-Results: mx.gateway.test; dmarc=pass header.from=bank.test\r\n',
      'X-Mailgw-AntiVirus: clean\r\n',
      `X-Long: ${'h'.repeat(20_000)}\r\n`,
      'Subject: hostile\r\n\r\n',
      ...fakes.map((f, i) => `part${i}${f}MAIL FROM:<smuggled${i}@evil.test>\r\n`),
      `${'b'.repeat(5000)}\r\n`,
    ].join('');
    const r = await sendRaw(gw.port, 'mallory@evil.test', 'ceo@corp.test', data);
    assert.equal(r.code, 250, r.text);
    const [msg] = await internal.waitFor(1);
    const raw = msg!.raw;
    for (let i = 0; i < raw.length; i++) {
      if (raw[i] === 0x0d) assert.equal(raw[i + 1], 0x0a, `bare CR at ${i}`);
      if (raw[i] === 0x0a) assert.equal(raw[i - 1], 0x0d, `bare LF at ${i}`);
    }
    const text = raw.toString('latin1');
    assert.ok(text.split('\r\n').every((l) => l.length <= 998), 'no line over 998 bytes');
    const head = text.slice(0, text.indexOf('\r\n\r\n'));
    assert.doesNotMatch(head, /dmarc=pass|X-Mailgw-AntiVirus/i);
    for (let i = 0; i < fakes.length; i++) assert.ok(text.includes(`smuggled${i}@evil.test`), `part ${i} stayed inside the message`);
    assert.equal(internal.messages.length, 1);
  });

  it('a UTF-8 envelope for a next hop without SMTPUTF8 is bounced with 5.6.7, not sent', async () => {
    const senders = await startSink();
    const plain = await startSink({ smtputf8: false });
    const g = await startGateway(buildConfig({
      spec: { queue: fastQueue, tls: { outbound: { mode: 'None' } } },
      domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: senders.port } }, { domain: 'old.test', routing: { host: '127.0.0.1', port: plain.port } }],
    }), undefined, '127.0.0.1', { deliver: true });
    cleanup.push(() => g.close(), () => senders.close(), () => plain.close());
    const dd = await SmtpDialog.open(g.port);
    await dd.read();
    await dd.cmd('EHLO client.test');
    assert.equal((await dd.cmd('MAIL FROM:<alice@corp.test> SMTPUTF8')).code, 250);
    assert.equal((await dd.cmd('RCPT TO:<jürgen@old.test>')).code, 250);
    assert.equal((await dd.cmd('DATA')).code, 354);
    dd.write('Subject: utf8\r\n\r\nhallo\r\n.\r\n');
    assert.equal((await dd.read())!.code, 250);
    dd.close();
    const [dsn] = await senders.waitFor(1);
    assert.match(await dsnStatus(dsn!.raw), /Status: 5\.6\.7/);
    assert.equal(plain.messages.length, 0);
  });
});
