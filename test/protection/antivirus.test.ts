/**
 * Anti-virus with a real clamd (Debian's clamav-daemon, a signature
 * database written by the test): Reject, Delete and DeleteAttachment on
 * EICAR, EICAR inside a zip, a custom signature, and clamd down → 451 with
 * nothing lost, then mail flowing again once it is back.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { simpleParser } from 'mailparser';
import { buildConfig, startGateway, type Running } from '../helpers/config.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { startClamd, EICAR, CUSTOM_SIGNATURE_TEXT, type Daemon } from '../helpers/scanners.ts';
import { missing } from '../helpers/requirements.ts';
import { makeZip } from '../helpers/zip.ts';

type Att = { filename: string; content: Buffer | string; contentType?: string };

describe('anti-virus (clamd)', () => {
  let clamd: Daemon | undefined;
  let internal: Sink;
  let edge: Sink;
  before(async () => {
    clamd = await startClamd();
    internal = await startSink();
    edge = await startSink();
  });
  after(async () => {
    await clamd?.stop();
    await internal.close();
    await edge.close();
  });

  async function gateway(infected: string): Promise<Running> {
    return startGateway(buildConfig({
      spec: {
        integration: 'BehindEdgeGateway', relayHost: { host: '127.0.0.1', port: edge.port }, tls: { outbound: { mode: 'None' } },
        protection: { antivirus: { enabled: true, clamd: clamd!.address, actions: { infected } } },
      },
      domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: internal.port } }],
    }), undefined, '127.0.0.1', { deliver: true });
  }

  const send = (port: number, subject: string, attachments: Att[]) => nodemailer.createTransport({ host: '127.0.0.1', port, ignoreTLS: true, localAddress: '127.0.0.2' })
    .sendMail({ from: 'sender@external.test', to: 'alice@corp.test', subject, text: `body of ${subject}`, attachments });

  const skipWithoutClamd = (t: TestContext) => {
    if (!clamd) missing(t, 'clamd (Debian package clamav-daemon)');
    return !clamd;
  };

  it('Reject: EICAR is refused with 5xx at end of data and nothing is queued', async (t) => {
    if (skipWithoutClamd(t)) return;
    const gw = await gateway('Reject');
    try {
      await assert.rejects(send(gw.port, 'eicar reject', [{ filename: 'eicar.com', content: EICAR }]), (err: Error & { responseCode?: number; response?: string }) => {
        assert.equal(err.responseCode, 554);
        assert.match(err.response!, /^554 5\.7\.1 Message refused by policy: antivirus: infected Mailgw-Test-Eicar/);
        return true;
      });
      assert.equal(gw.gateway.runtime.spool.size, 0);
      assert.ok(gw.log.find((l) => l.event === 'verdict' && l.action === 'Reject'));
    } finally {
      await gw.close();
    }
  });

  it('Reject: EICAR inside a zip (and inside a zip inside a zip), and a custom signature, are found', async (t) => {
    if (skipWithoutClamd(t)) return;
    const gw = await gateway('Reject');
    try {
      const inner = makeZip([['eicar.com', EICAR]]);
      for (const [subject, att] of [
        ['zipped', { filename: 'invoice.zip', content: inner }],
        ['double zipped', { filename: 'archive.zip', content: makeZip([['inner.zip', inner], ['readme.txt', 'hello']]) }],
        ['custom', { filename: 'notes.txt', content: `some text ${CUSTOM_SIGNATURE_TEXT} more text` }],
      ] as [string, Att][]) {
        await assert.rejects(send(gw.port, subject, [att]), (err: Error & { responseCode?: number }) => err.responseCode === 554, subject);
      }
      assert.equal(gw.gateway.runtime.spool.size, 0);
    } finally {
      await gw.close();
    }
  });

  it('Delete: EICAR is answered 250 and then neither delivered nor bounced', async (t) => {
    if (skipWithoutClamd(t)) return;
    const gw = await gateway('Delete');
    const internalBefore = internal.messages.length;
    const edgeBefore = edge.messages.length;
    try {
      const info = await send(gw.port, 'eicar delete', [{ filename: 'eicar.com', content: EICAR }]);
      assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
      await new Promise((r) => setTimeout(r, 800));
      assert.equal(gw.gateway.runtime.spool.size, 0);
      assert.equal(internal.messages.length, internalBefore, 'not delivered');
      assert.equal(edge.messages.length, edgeBefore, 'no NDR');
    } finally {
      await gw.close();
    }
  });

  it('DeleteAttachment: delivered without the infected attachment, with a notice part; clean parts intact', async (t) => {
    if (skipWithoutClamd(t)) return;
    const gw = await gateway('DeleteAttachment');
    const before = internal.messages.length;
    try {
      await send(gw.port, 'eicar strip', [{ filename: 'eicar.com', content: EICAR }, { filename: 'report.csv', content: 'a,b\n1,2\n' }]);
      const [msg] = (await internal.waitFor(before + 1)).slice(before);
      const parsed = await simpleParser(msg!.raw);
      assert.equal(parsed.subject, 'eicar strip');
      assert.deepEqual(parsed.attachments.map((a) => a.filename), ['report.csv']);
      assert.match(parsed.text ?? '', /body of eicar strip/);
      assert.match(msg!.raw.toString(), /An attachment was removed by the mail gateway because it violated the mail policy\. \(eicar\.com\)/);
      assert.doesNotMatch(msg!.raw.toString(), /EICAR-STANDARD/);
      assert.match(msg!.raw.toString(), /^X-Mailgw-AntiVirus: infected Mailgw-Test-Eicar/m);
      assert.match(msg!.raw.toString(), /^X-Mailgw-Action: DeleteAttachment/m);
    } finally {
      await gw.close();
    }
  });

  it('clamd down: 451 4.7.1 and nothing accepted; back up: the same message flows', async (t) => {
    if (skipWithoutClamd(t)) return;
    const gw = await gateway('Reject');
    const before = internal.messages.length;
    try {
      await clamd!.stop();
      await assert.rejects(send(gw.port, 'while clamd is down', []), (err: Error & { responseCode?: number; response?: string }) => {
        assert.equal(err.responseCode, 451);
        assert.match(err.response!, /^451 4\.7\.1 /);
        return true;
      });
      assert.equal(gw.gateway.runtime.spool.size, 0, 'not accepted, so the sender keeps it');
      await clamd!.restart();
      await send(gw.port, 'while clamd is down', []);
      const [msg] = (await internal.waitFor(before + 1)).slice(before);
      assert.match(msg!.raw.toString(), /X-Mailgw-AntiVirus: clean/);
    } finally {
      await gw.close();
    }
  });
});
