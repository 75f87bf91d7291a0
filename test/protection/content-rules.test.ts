/**
 * Content filtering, rules and the backup store end to end (no external
 * scanner needed): an executable renamed .pdf is caught by its true type; a
 * blocked name inside a zip is stripped with DeleteAttachment; a zip bomb
 * gets a verdict in bounded time; recipients under different rules get
 * different outcomes (split message, NDR for the rejected part); a deleted
 * message kept by a backup rule is listed and released with `mailgw backup`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { simpleParser } from 'mailparser';
import { buildConfig, startGateway, type Running } from '../helpers/config.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { makeZip } from '../helpers/zip.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const EXE = Buffer.concat([Buffer.from('MZ\x90\x00\x03\x00\x00\x00', 'latin1'), Buffer.alloc(200, 0x41)]);
const PDF = Buffer.from('%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n');

const cli = (stateDir: string, ...args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
  execFile(process.execPath, [join(ROOT, 'bin/mailgw.js'), ...args, '--state-dir', stateDir], { encoding: 'utf8' }, (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }));
});

describe('content filter, rules and backup', () => {
  let internal: Sink;
  let edge: Sink;
  let gw: Running;
  before(async () => {
    internal = await startSink();
    edge = await startSink();
    gw = await startGateway(buildConfig({
      spec: {
        integration: 'BehindEdgeGateway', relayHost: { host: '127.0.0.1', port: edge.port }, tls: { outbound: { mode: 'None' } },
        protection: { contentFilter: { enabled: true, action: 'Reject', fileNames: ['*.exe', '*.scr'], fileTypes: ['executable'], archiveMaxBytes: '10Mi' } },
        rules: [
          { name: 'vip-unfiltered', recipients: ['vip@corp.test'], mode: 'Skip' },
          { name: 'strip-for-alice', recipients: ['alice@corp.test'], mode: 'Scan' },
          { name: 'keep-and-drop-noreply', senders: ['noreply@*'], mode: 'Delete', backup: true },
        ],
      },
      domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: internal.port } }],
    }), undefined, '127.0.0.1', { deliver: true });
  });
  after(async () => {
    await gw.close();
    await internal.close();
    await edge.close();
  });

  const send = (o: { from?: string; to: string | string[]; subject: string; attachments?: { filename: string; content: Buffer }[] }) => nodemailer.createTransport({ host: '127.0.0.1', port: gw.port, ignoreTLS: true, localAddress: '127.0.0.2' })
    .sendMail({ from: o.from ?? 'sender@external.test', to: o.to, subject: o.subject, text: `body of ${o.subject}`, attachments: o.attachments ?? [] });

  it('catches an executable renamed .pdf by its true type; a real PDF passes', async () => {
    await assert.rejects(send({ to: 'bob@corp.test', subject: 'invoice', attachments: [{ filename: 'invoice.pdf', content: EXE }] }), (err: Error & { responseCode?: number; response?: string }) => {
      assert.equal(err.responseCode, 554);
      assert.match(err.response!, /invoice\.pdf: true type executable \(named "invoice\.pdf"\)/);
      return true;
    });
    const before = internal.messages.length;
    await send({ to: 'bob@corp.test', subject: 'real invoice', attachments: [{ filename: 'invoice.pdf', content: PDF }] });
    await internal.waitFor(before + 1);
  });

  it('finds a blocked name inside a zip, and a zip bomb gets a verdict in bounded time', async () => {
    await assert.rejects(send({ to: 'bob@corp.test', subject: 'zipped', attachments: [{ filename: 'docs.zip', content: makeZip([['readme.txt', Buffer.from('hi')], ['setup.exe', Buffer.from('not even an exe')]]) }] }),
      (err: Error & { response?: string }) => /setup\.exe: file name "setup\.exe" matches a blocked mask/.test(err.response ?? ''));
    const bomb = makeZip([['zeros.bin', Buffer.alloc(64 * 1024 * 1024), true]]);
    assert.ok(bomb.length < 200 * 1024, 'a small zip of 64 MiB of zeros');
    const started = Date.now();
    await assert.rejects(send({ to: 'bob@corp.test', subject: 'bomb', attachments: [{ filename: 'bomb.zip', content: bomb }] }),
      (err: Error & { response?: string }) => /exceeds the inspection limits/.test(err.response ?? ''));
    assert.ok(Date.now() - started < 10_000, 'bounded time');
  });

  it('splits recipients by rule: Skip delivers, Scan rejects after the session with an NDR', async () => {
    const internalBefore = internal.messages.length;
    const edgeBefore = edge.messages.length;
    const info = await send({ to: ['vip@corp.test', 'alice@corp.test'], subject: 'mixed', attachments: [{ filename: 'tool.exe', content: EXE }] });
    assert.match(info.response, /^250 /, 'one 250 for the message');
    const [delivered] = (await internal.waitFor(internalBefore + 1)).slice(internalBefore);
    assert.deepEqual(delivered!.to, ['vip@corp.test']);
    assert.match(delivered!.raw.toString(), /^X-Mailgw-Rule: vip-unfiltered$/m);
    const ndr = await (async () => {
      for (let i = 0; i < 200; i++) {
        const m = edge.messages.slice(edgeBefore).find((x) => x.from === '');
        if (m) return m;
        await new Promise((r) => setTimeout(r, 25));
      }
      return undefined;
    })();
    assert.ok(ndr, 'an NDR for alice went to the sender');
    assert.deepEqual(ndr.to, ['sender@external.test']);
    const parsed = await simpleParser(ndr.raw, { keepDeliveryStatus: true });
    const report = parsed.attachments.find((a) => a.contentType === 'message/delivery-status')!.content.toString();
    assert.match(report, /^Final-Recipient: rfc822; alice@corp\.test$/m);
    assert.match(report, /^Status: 5\.7\.1$/m);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(internal.messages.slice(internalBefore).length, 1, 'alice got nothing');
  });

  it('backup: a deleted message is listed, shown and released with mailgw backup, and arrives', async () => {
    const before = internal.messages.length;
    const info = await send({ from: 'noreply@alerts.example', to: 'bob@corp.test', subject: 'kept in backup' });
    assert.match(info.response, /^250 /);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(internal.messages.length, before, 'deleted: not delivered');
    const list = await cli(gw.stateDir, 'backup', 'list', '--output', 'json');
    assert.equal(list.code, 0, list.stderr);
    const entries = JSON.parse(list.stdout) as { id: string; rule: string; action: string; to: string[] }[];
    const entry = entries.find((e) => e.rule === 'keep-and-drop-noreply')!;
    assert.ok(entry);
    assert.equal(entry.action, 'Delete');
    assert.deepEqual(entry.to, ['bob@corp.test']);
    const show = await cli(gw.stateDir, 'backup', 'show', entry.id);
    assert.match(show.stdout, /Subject: kept in backup/);
    const release = await cli(gw.stateDir, 'backup', 'release', entry.id);
    assert.equal(release.code, 0, release.stderr);
    assert.match(release.stdout, /released as [0-9A-Z]{16}/);
    const [msg] = (await internal.waitFor(before + 1)).slice(before);
    assert.deepEqual(msg!.to, ['bob@corp.test']);
    assert.match(msg!.raw.toString(), /Subject: kept in backup/);
    assert.equal((await cli(gw.stateDir, 'backup', 'delete', entry.id)).code, 0);
    assert.ok(!JSON.parse((await cli(gw.stateDir, 'backup', 'list', '--output', 'json')).stdout).some((e: { id: string }) => e.id === entry.id));
  });
});
