/**
 * Bounded memory whatever the traffic (issue 20): a gateway process (the
 * real CLI, `mailgw gateway`) with anti-virus (real clamd), anti-spam (real
 * rspamd) and the content filter on receives many large messages at once
 * from one client. Every message is answered 250 or 4xx, every 250 is in
 * the spool, and the process's peak RSS (VmHWM, read by the test from
 * /proc) stays under the bound. A 20 MiB message whose attachment is
 * removed is rewritten through the spool as a stream under a small budget.
 *
 * Short form: 10 × 14.7 MiB; long form (MAILGW_RELIABILITY=long): 40 × 14.7 MiB
 * and 100 × 20 MiB from several clients.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildConfig, tempDir } from '../helpers/config.ts';
import { queueCli, startMailgw, type MailgwProcess } from '../helpers/mailgw-process.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { startClamd, startRspamd, type Daemon } from '../helpers/scanners.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { closedPort } from '../helpers/ports.ts';
import { missing } from '../helpers/requirements.ts';
import { pick, record, LONG } from './mode.ts';

const MiB = 1024 * 1024;

/** A message of about `bytes` with a base64 attachment (random-looking data: nothing compresses or matches). */
function bigMessage(bytes: number, name: string): Buffer {
  const raw = Buffer.alloc(Math.floor(bytes * 0.74));
  for (let i = 0; i + 4 <= raw.length; i += 4) raw.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
  const b64 = raw.toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from([
    'From: <sender@external.test>', 'To: <alice@corp.test>', 'Subject: big one', 'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b0"', '', '--b0', 'Content-Type: text/plain', '', 'see attachment', '--b0',
    `Content-Type: application/octet-stream; name="${name}"`, 'Content-Transfer-Encoding: base64', `Content-Disposition: attachment; filename="${name}"`, '',
    b64, '--b0--', '.', '',
  ].join('\r\n'));
}

function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function send(port: number, source: string, data: Buffer): Promise<number> {
  const d = await SmtpDialog.open(port, source);
  try {
    const mail = await d.begin('sender@external.test');
    if (mail.code !== 250) return mail.code;
    const rcpt = await d.cmd('RCPT TO:<alice@corp.test>');
    if (rcpt.code !== 250) return rcpt.code;
    const data354 = await d.cmd('DATA');
    if (data354.code !== 354) return data354.code;
    d.write(data);
    const end = await d.read(600_000);
    return end?.code ?? 0;
  } finally {
    d.close();
  }
}

describe('memory bounds', () => {
  let clamd: Daemon | undefined;
  let rspamd: Daemon | undefined;
  const procs: MailgwProcess[] = [];
  before(async () => {
    [clamd, rspamd] = await Promise.all([startClamd(), startRspamd()]);
  });
  after(async () => {
    for (const p of procs) p.proc.kill('SIGKILL');
    await clamd?.stop();
    await rspamd?.stop();
  });
  const skip = (t: TestContext) => {
    if (!clamd) missing(t, 'clamd (Debian package clamav-daemon)');
    if (!rspamd) missing(t, 'rspamd (Debian package rspamd)');
    return !clamd || !rspamd;
  };

  async function gateway(spec: Record<string, unknown>, routingPort: number): Promise<{ gw: MailgwProcess; stateDir: string }> {
    const dir = tempDir();
    const file = join(dir, 'gateway.json');
    writeFileSync(file, JSON.stringify(buildConfig({
      spec: {
        integration: 'BehindEdgeGatewayNoRecipientVerification', relayHost: { host: '127.0.0.1', port: routingPort }, tls: { outbound: { mode: 'None' } },
        queue: { minBackoff: '1h', maxBackoff: '2h' },
        protection: {
          antivirus: { enabled: true, clamd: clamd!.address, timeout: '120s' },
          antispam: { enabled: true, rspamd: rspamd!.address, timeout: '120s' },
          contentFilter: { enabled: true, fileNames: ['*.exe'], fileTypes: ['executable'], action: 'DeleteAttachment' },
        },
        ...spec,
      },
      domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: routingPort } }],
    })));
    const stateDir = join(dir, 'state');
    const gw = await startMailgw(['gateway', '--config', file, '--listen', '127.0.0.1:0', '--state-dir', stateDir]);
    procs.push(gw);
    return { gw, stateDir };
  }

  it(`${pick(10, 40)} concurrent 14.7 MiB messages from one client, all scanners on: each 250 or 4xx, none lost, peak RSS under 512 MiB`, { timeout: 900_000 }, async (t) => {
    if (skip(t)) return;
    const { gw, stateDir } = await gateway({ limits: { messageSize: '20Mi' } }, await closedPort());
    const n = pick(10, 40);
    const message = bigMessage(14.7 * MiB, 'data.bin');
    const codes = await Promise.all(Array.from({ length: n }, () => send(gw.port, '127.0.0.2', message)));
    const accepted = codes.filter((c) => c === 250).length;
    assert.ok(codes.every((c) => c === 250 || (c >= 400 && c < 500)), `replies: ${codes.join(' ')}`);
    const list = await queueCli(stateDir, 'list', '--output', 'json');
    assert.equal((JSON.parse(list.stdout) as unknown[]).length, accepted, 'every 250 is in the spool');
    const peak = peakRssMiB(gw.proc.pid!);
    record('memory-bounds', { sessions: n, messageMiB: 14.7, accepted, tempfailed: n - accepted, peakRssMiB: Math.round(peak) });
    assert.ok(accepted > 0, 'some mail got through');
    assert.ok(peak < 512, `peak RSS ${peak.toFixed(0)} MiB`);
  });

  it('a 20 MiB message whose attachment is removed is rewritten through the spool as a stream under a small budget', { timeout: 300_000 }, async (t) => {
    if (skip(t)) return;
    const internal: Sink = await startSink();
    try {
      const { gw } = await gateway({ limits: { messageSize: '25Mi', memoryBudget: '8Mi' } }, internal.port);
      // Warm first (scanner connections, the traffic log's worker thread and its database): the growth measured is the big message's.
      assert.equal(await send(gw.port, '127.0.0.2', bigMessage(64 * 1024, 'small.exe')), 250);
      await internal.waitFor(1, 60_000);
      const before = peakRssMiB(gw.proc.pid!);
      const code = await send(gw.port, '127.0.0.2', bigMessage(20 * MiB, 'setup.exe'));
      assert.equal(code, 250);
      const msg = (await internal.waitFor(2, 120_000))[1];
      const raw = msg!.raw.toString('latin1');
      assert.ok(msg!.raw.length < 100_000, `delivered ${msg!.raw.length} bytes: the attachment is gone`);
      assert.match(raw, /An attachment was removed by the mail gateway[^\r\n]*setup\.exe/);
      assert.match(raw, /see attachment/);
      const peak = peakRssMiB(gw.proc.pid!);
      record('memory-bounds-edit', { messageMiB: 20, budgetMiB: 8, rssBeforeMiB: Math.round(before), peakRssMiB: Math.round(peak) });
      assert.ok(peak - before < 96, `peak RSS grew by ${(peak - before).toFixed(0)} MiB for a 20 MiB message`);
    } finally {
      await internal.close();
    }
  });

  it('100 concurrent 20 MiB messages from several clients stay under the pod limit (long form only)', { timeout: 1_800_000, skip: !LONG && 'long form only (MAILGW_RELIABILITY=long)' }, async (t) => {
    if (skip(t)) return;
    const { gw, stateDir } = await gateway({ limits: { messageSize: '25Mi' } }, await closedPort());
    const message = bigMessage(20 * MiB, 'data.bin');
    const codes = await Promise.all(Array.from({ length: 100 }, (_, i) => send(gw.port, `127.0.0.${10 + (i % 10)}`, message)));
    const accepted = codes.filter((c) => c === 250).length;
    assert.ok(codes.every((c) => c === 250 || (c >= 400 && c < 500)), `replies: ${codes.join(' ')}`);
    const list = await queueCli(stateDir, 'list', '--output', 'json');
    assert.equal((JSON.parse(list.stdout) as unknown[]).length, accepted);
    const peak = peakRssMiB(gw.proc.pid!);
    record('memory-bounds-100', { sessions: 100, messageMiB: 20, accepted, peakRssMiB: Math.round(peak) });
    assert.ok(peak < 1024, `peak RSS ${peak.toFixed(0)} MiB (the pod's limit is 1 GiB)`);
  });
});
