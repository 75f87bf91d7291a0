/**
 * Disk full: the spool lives on a small real filesystem (a 4 MiB tmpfs,
 * needs root) that concurrent senders fill. Replies turn to 452 4.3.1, never
 * a false 250: every message that got 250 is in the spool intact, survives a
 * restart on the full disk, and is delivered once the internal server is
 * back. When space returns (a filler file removed) new mail is accepted
 * again without a restart.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildConfig, startGateway, tempDir } from '../helpers/config.ts';
import { closedPort } from '../helpers/ports.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { startSink } from '../helpers/sink.ts';
import { missing } from '../helpers/requirements.ts';
import { pick, record } from './mode.ts';

const SENDERS = 8;
const MAX_PER_SENDER = pick(60, 400);

function mountTmpfs(dir: string, size: string): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function sendOne(port: number, marker: string, kib: number): Promise<{ code: number; qid?: string | undefined }> {
  const c = await SmtpDialog.open(port, '127.0.0.2');
  try {
    await c.begin('partner@origin.test');
    if ((await c.cmd('RCPT TO:<user@example.com>')).code !== 250) return { code: 0 };
    const r354 = await c.cmd('DATA');
    if (r354.code !== 354) return { code: r354.code };
    c.write(`Subject: ${marker}\r\nX-Marker: ${marker}\r\n\r\n${`${marker} ${'z'.repeat(60)}\r\n`.repeat(Math.ceil((kib * 1024) / 80))}.\r\n`);
    const r = await c.read(15_000);
    return { code: r?.code ?? 0, qid: r ? /queued as (\S+)/.exec(r.text)?.[1] : undefined };
  } finally {
    c.close();
  }
}

it('fills the spool filesystem: 452 and never a false 250, recovery once space returns', { timeout: 300_000 }, async (t) => {
  const dir = tempDir('mailgw-diskfull-');
  if (!mountTmpfs(dir, '4m')) return missing(t, 'root and a tmpfs mount for a small filesystem');
  t.after(() => execFileSync('umount', ['-l', dir]));
  const internalPort = await closedPort();
  const config = buildConfig({ spec: { integration: 'BehindEdgeGateway', queue: { minBackoff: '1s', maxBackoff: '2s' } }, domains: [{ domain: 'example.com', routing: { host: '127.0.0.1', port: internalPort } }] });
  const stateDir = join(dir, 'state');
  let gw = await startGateway(config, stateDir, '127.0.0.1', { deliver: true });
  writeFileSync(join(dir, 'filler'), Buffer.alloc(1536 * 1024));

  const acked = new Map<string, string>();
  let refused452 = 0;
  let other = 0;
  let n = 0;
  await Promise.all(Array.from({ length: SENDERS }, async () => {
    let streak = 0;
    for (let i = 0; i < MAX_PER_SENDER && streak < 5; i++) {
      const marker = `m${n++}x`;
      const r = await sendOne(gw.port, marker, 48);
      if (r.code === 250) {
        acked.set(r.qid!, marker);
        streak = 0;
      } else if (r.code === 452) {
        refused452++;
        streak++;
      } else other++;
    }
  }));
  assert.ok(acked.size > 0, 'some mail fitted');
  assert.ok(refused452 > 0, 'the filesystem filled up and senders got 452');
  assert.equal(other, 0, 'no reply other than 250 or 452');
  // No false 250: every acknowledged message is in the spool, intact.
  for (const [qid, marker] of acked) {
    const bytes = (await gw.gateway.runtime.spool.read(qid)).toString('latin1');
    assert.ok(bytes.includes(`X-Marker: ${marker}\r\n`) && bytes.endsWith(`${marker} ${'z'.repeat(60)}\r\n`), `${qid} is intact`);
  }
  // A restart on the full disk recovers all of them.
  await gw.close();
  gw = await startGateway(config, stateDir, '127.0.0.1', { deliver: true });
  for (const qid of acked.keys()) assert.ok(gw.gateway.runtime.spool.get(qid), `${qid} recovered after a restart on the full disk`);

  // Space returns: new mail is accepted again.
  rmSync(join(dir, 'filler'));
  const after = await sendOne(gw.port, 'after-space-returns', 8);
  assert.equal(after.code, 250, 'accepted once space returned');
  acked.set(after.qid!, 'after-space-returns');

  const internal = await startSink({ port: internalPort });
  try {
    await internal.waitFor(acked.size, 60_000);
    const markers = new Set(internal.messages.map((m) => /X-Marker: (\S+)/.exec(m.raw.toString('latin1'))?.[1]));
    const lost = [...acked.values()].filter((m) => !markers.has(m)).length;
    record('disk-full', { acknowledged: acked.size, refused452, otherReplies: other, lost, acceptedAfterSpaceReturned: after.code === 250 });
    assert.equal(lost, 0, 'every acknowledged message delivered');
  } finally {
    await gw.close();
    await internal.close();
  }
});
