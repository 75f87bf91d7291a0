/**
 * Live config reload of a gateway process (`mailgw gateway --config FILE`):
 * the file changes while a slow SMTP session is open; that session completes
 * under the config it began with, the next session follows the new policy,
 * and an invalid file never replaces the working config.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { buildConfig, tempDir } from './helpers/config.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';
import { startMailgw } from './helpers/mailgw-process.ts';


for (const workers of [1, 2]) it(`applies a changed config live without dropping the session in flight; refuses an invalid one (${workers} worker${workers > 1 ? 's' : ''})`, { timeout: 60_000 }, async () => {
  const dir = tempDir('mailgw-reload-');
  const file = join(dir, 'gateway.json');
  // Written like the kubelet does: a new file renamed into place.
  const write = (text: string) => {
    writeFileSync(`${file}.new`, text);
    renameSync(`${file}.new`, file);
  };
  const v1 = buildConfig({ spec: { integration: 'BehindEdgeGateway', limits: { pregreetDelay: '0' } }, domains: ['old.test'] });
  const v2 = buildConfig({ spec: { integration: 'BehindEdgeGateway', limits: { pregreetDelay: '0' } }, domains: ['new.test'] });
  write(JSON.stringify(v1));
  const gw = await startMailgw(['gateway', '--config', file, '--listen', '127.0.0.1:0', '--state-dir', join(dir, 'state'), '--config-poll', '100ms', '--workers', String(workers)]);
  const { port, lines, proc } = gw;
  const waitFor = (event: string, n: number) => gw.waitFor(event, n);
  try {
    const slow = await SmtpDialog.open(port, '127.0.0.2');
    await slow.begin();
    assert.equal((await slow.cmd('RCPT TO:<user@old.test>')).code, 250);
    assert.equal((await slow.cmd('DATA')).code, 354);
    slow.write('Subject: slow\r\n\r\nfirst half\r\n');

    write(JSON.stringify(v2));
    await waitFor('config-reloaded', 1);

    const done = await slow.cmd('second half\r\n.');
    assert.equal(done.code, 250, 'the session in flight completes');
    slow.close();

    const next = await SmtpDialog.open(port, '127.0.0.2');
    await next.begin();
    assert.equal((await next.cmd('RCPT TO:<user@new.test>')).code, 250, 'the next session follows the new policy');
    assert.equal((await next.cmd('RCPT TO:<user@old.test>')).code, 554);
    next.close();

    write('{"version": 1, "hostname": ""}');
    await waitFor('config-rejected', 1);
    write('{ not json');
    await waitFor('config-rejected', 2);
    const after = await SmtpDialog.open(port, '127.0.0.2');
    await after.begin();
    assert.equal((await after.cmd('RCPT TO:<user@new.test>')).code, 250, 'the working config stays');
    after.close();
    const rejected = lines.find((l) => l.event === 'config-rejected')!;
    assert.ok((rejected.errors as string[]).some((e) => /^hostname: /.test(e)));
    // Every worker applied the good version once; the bad ones were refused once, for the pod, before any worker saw them.
    assert.deepEqual(lines.filter((l) => l.event === 'config-reloaded').map((l) => l.worker ?? 0).sort(), Array.from({ length: workers }, (_, i) => i));
    assert.equal(lines.filter((l) => l.event === 'config-rejected').length, 2);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
});
