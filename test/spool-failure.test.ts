/**
 * A spool that cannot be written answers 452 4.3.1, never 250: the spool
 * lives on a real, tiny tmpfs that fills up (needs root to mount it).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { buildConfig, startGateway, tempDir } from './helpers/config.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';
import { missing } from './helpers/requirements.ts';

function mountTmpfs(dir: string, size: string): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

it('answers 452 4.3.1 when the spool filesystem is full, and never 250', async (t) => {
  const dir = tempDir('mailgw-full-');
  if (!mountTmpfs(dir, '256k')) return missing(t, 'root and a tmpfs mount for a small filesystem');
  t.after(() => execFileSync('umount', ['-l', dir]));
  const gw = await startGateway(buildConfig({ spec: { integration: 'BehindEdgeGateway' }, domains: ['example.com'] }), dir);
  try {
    const c = await SmtpDialog.open(gw.port, '127.0.0.2');
    await c.begin();
    assert.equal((await c.cmd('RCPT TO:<u@example.com>')).code, 250);
    assert.equal((await c.cmd('DATA')).code, 354);
    const line = `${'y'.repeat(998)}\r\n`;
    c.write(`Subject: fills the disk\r\n\r\n${line.repeat(400)}.\r\n`);
    const r = await c.read(10_000);
    assert.equal(r?.code, 452);
    assert.match(r!.text, /^4\.3\.1 /);
    assert.equal(gw.gateway.runtime.spool.size, 0, 'nothing counted as queued');
    assert.ok(gw.log.find((l) => l.event === 'message' && l.code === 452 && typeof l.qid === 'string'));
    c.close();
  } finally {
    await gw.close();
  }
});
