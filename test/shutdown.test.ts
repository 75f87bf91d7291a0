/**
 * SIGTERM: the gateway stops accepting connections, lets the session in
 * flight finish its message (250), stops delivery and exits 0; the queue is
 * there for the next start.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildConfig, tempDir } from './helpers/config.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';
import { closedPort } from './helpers/ports.ts';
import { Spool } from '../gateway/spool/spool.ts';
import { startMailgw } from './helpers/mailgw-process.ts';


it('finishes the session in flight on SIGTERM, refuses new ones, keeps the queue and exits 0', { timeout: 60_000 }, async () => {
  const stateDir = tempDir('mailgw-term-');
  const configFile = join(stateDir, 'config.json');
  writeFileSync(configFile, JSON.stringify(buildConfig({
    spec: { integration: 'BehindEdgeGateway' },
    domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: await closedPort() } }],
    networks: ['127.0.0.1/32'],
  })));
  const gw = await startMailgw(['gateway', '--config', configFile, '--listen', '127.0.0.1:0', '--state-dir', stateDir]);
  const { proc, port, exited } = gw;
  const c = await SmtpDialog.open(port);
  await c.begin();
  assert.equal((await c.cmd('RCPT TO:<alice@corp.test>')).code, 250);
  assert.equal((await c.cmd('DATA')).code, 354);
  c.write('Subject: in flight at SIGTERM\r\n\r\nfirst half\r\n');
  proc.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  const refused = await new Promise<boolean>((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
  assert.ok(refused, 'no new connections after SIGTERM');
  const done = await c.cmd('second half\r\n.');
  assert.equal(done.code, 250, 'the message in flight was accepted');
  const qid = /queued as (\S+)/.exec(done.text)![1]!;
  c.write('QUIT\r\n');
  assert.equal(await exited, 0);
  assert.ok(gw.lines.some((l) => l.event === 'shutdown' && l.signal === 'SIGTERM'));
  const spool = await Spool.open(join(stateDir, 'spool'));
  try {
    assert.ok(spool.get(qid), 'the message is queued for the next start');
  } finally {
    await spool.close();
  }
});
