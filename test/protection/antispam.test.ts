/**
 * Anti-spam with a real rspamd (Debian's package, private config): GTUBE is
 * spam; with action Skip it is delivered tagged [Spam] with the status
 * header; with Reject it is refused in the session; a clean message passes
 * untagged. rspamd down → 451.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { buildConfig, startGateway, type Running } from '../helpers/config.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { startRspamd, GTUBE, type Daemon } from '../helpers/scanners.ts';
import { missing } from '../helpers/requirements.ts';

describe('anti-spam (rspamd)', () => {
  let rspamd: Daemon | undefined;
  let internal: Sink;
  before(async () => {
    rspamd = await startRspamd();
    internal = await startSink();
  });
  after(async () => {
    await rspamd?.stop();
    await internal.close();
  });

  const gateway = (spam: string): Promise<Running> => startGateway(buildConfig({
    spec: { integration: 'BehindEdgeGateway', relayHost: { host: '127.0.0.1', port: internal.port }, tls: { outbound: { mode: 'None' } }, protection: { antispam: { enabled: true, rspamd: rspamd!.address, actions: { spam } } } },
    domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: internal.port } }],
  }), undefined, '127.0.0.1', { deliver: true });
  const send = (port: number, subject: string, text: string) => nodemailer.createTransport({ host: '127.0.0.1', port, ignoreTLS: true, localAddress: '127.0.0.2' })
    .sendMail({ from: 'sender@external.test', to: 'alice@corp.test', subject, text });
  const skip = (t: TestContext) => {
    if (!rspamd) missing(t, 'rspamd (Debian package rspamd)');
    return !rspamd;
  };

  it('GTUBE with Skip: delivered with [Spam] in the subject and the status header; clean mail untagged', async (t) => {
    if (skip(t)) return;
    const gw = await gateway('Skip');
    const before = internal.messages.length;
    try {
      await send(gw.port, 'cheap pills', `Buy now!\r\n${GTUBE}\r\n`);
      await send(gw.port, 'lunch on friday', 'Shall we meet at noon?');
      const got = (await internal.waitFor(before + 2)).slice(before).map((m) => m.raw.toString());
      const spam = got.find((m) => m.includes('cheap pills'))!;
      const ham = got.find((m) => m.includes('lunch on friday'))!;
      assert.match(spam, /^Subject: \[Spam\] cheap pills$/m);
      assert.match(spam, /^X-Mailgw-AntiSpam-Status: spam score=\d+/m);
      assert.match(spam, /^X-Mailgw-Action: Skip$/m);
      assert.match(ham, /^Subject: lunch on friday$/m);
      assert.match(ham, /^X-Mailgw-AntiSpam-Status: clean score=/m);
      const verdict = gw.log.find((l) => l.event === 'verdict' && ((l.reasons as string[] | undefined) ?? []).some((r) => r.startsWith('antispam: spam')));
      assert.ok(verdict, 'one verdict line with the spam reason');
      assert.ok((verdict.symbols as string[]).includes('GTUBE'), 'rspamd symbols kept for the log');
    } finally {
      await gw.close();
    }
  });

  it('GTUBE with Reject: refused in the session', async (t) => {
    if (skip(t)) return;
    const gw = await gateway('Reject');
    try {
      await assert.rejects(send(gw.port, 'spam', GTUBE), (err: Error & { responseCode?: number; response?: string }) => {
        assert.equal(err.responseCode, 554);
        assert.match(err.response!, /antispam: spam/);
        return true;
      });
      assert.equal(gw.gateway.runtime.spool.size, 0);
    } finally {
      await gw.close();
    }
  });

  it('rspamd down: 451 4.7.1', async (t) => {
    if (skip(t)) return;
    const gw = await gateway('Reject');
    try {
      await rspamd!.stop();
      await assert.rejects(send(gw.port, 'hello', 'hello'), (err: Error & { responseCode?: number }) => err.responseCode === 451);
      await rspamd!.restart();
      const info = await send(gw.port, 'hello again', 'hello');
      assert.match(info.response, /^250 /);
    } finally {
      await gw.close();
    }
  });
});
