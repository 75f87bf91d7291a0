/**
 * A golden SMTP transcript (issue 15): one whole dialogue with the gateway —
 * greeting, EHLO capabilities, a size declaration, an accepted, a relayed-
 * for-nobody and a malformed recipient, DATA, a second transaction after
 * RSET, QUIT — compared line by line with test/golden/smtp-transcript.txt.
 * Queue ids are replaced by QUEUEID; nothing else varies. A change in what
 * the gateway says shows up here first (UPDATE_GOLDEN=1 after a deliberate
 * change).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { buildConfig, startGateway } from './helpers/config.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';

const GOLDEN = new URL('./golden/smtp-transcript.txt', import.meta.url).pathname;

it('an SMTP dialogue matches the golden transcript', async () => {
  const gw = await startGateway(buildConfig({
    spec: { integration: 'BehindEdgeGatewayNoRecipientVerification', limits: { pregreetDelay: '0', messageSize: '10Mi' } },
    domains: ['corp.test'],
  }));
  const lines: string[] = [];
  try {
    const c = await SmtpDialog.open(gw.port, '127.0.0.2');
    const show = (r: { lines: string[] } | undefined) => lines.push(...(r?.lines ?? ['(closed)']).map((l) => `S: ${l}`));
    show(await c.read());
    for (const cmd of [
      'EHLO client.example', 'MAIL FROM:<sender@example.org> SIZE=20000000', 'MAIL FROM:<sender@example.org> SIZE=120',
      'RCPT TO:<alice@corp.test>', 'RCPT TO:<bob@elsewhere.example>', 'RCPT TO:<not an address>', 'DATA',
      'Subject: transcript\r\nFrom: sender@example.org\r\n\r\nHello.\r\n.',
      'RSET', 'MAIL FROM:<>', 'RCPT TO:<postmaster@corp.test>', 'DATA', 'Subject: second\r\n\r\n..a dot-stuffed line\r\n.', 'NOOP', 'QUIT',
    ]) {
      lines.push(...cmd.split('\r\n').map((l) => `C: ${l}`));
      show(await c.cmd(cmd).catch(() => undefined));
    }
  } finally {
    await gw.close();
  }
  const text = `${lines.join('\n').replace(/queued as [0-9A-Za-z]+/g, 'queued as QUEUEID')}\n`;
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(GOLDEN, text);
  assert.equal(text, readFileSync(GOLDEN, 'utf8'), 'the SMTP dialogue changed (UPDATE_GOLDEN=1 after a deliberate change)');
});
