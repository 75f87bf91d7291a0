/**
 * The README's quick start, as a new user follows it: `mailgw up -f
 * examples/quickstart --capture` (what `npm start` runs), send a message with
 * the documented nodemailer call, see it arrive at the capture sink.
 * Uses the quickstart's fixed capture ports 127.0.0.1:2526 and :2527.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { tempDir } from './helpers/config.ts';
import { startMailgw } from './helpers/mailgw-process.ts';

const ROOT = new URL('..', import.meta.url).pathname;

it('quick start: a sent message arrives', { timeout: 60_000 }, async () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  assert.match(readme, /npm ci && npm start/);
  assert.match(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.start, /up -f examples\/quickstart --capture/);
  const stateDir = tempDir('mailgw-qs-');
  const { proc, lines, port } = await startMailgw(['up', '-f', join(ROOT, 'examples/quickstart'), '--capture', '--listen', '127.0.0.1:0', '--state-dir', stateDir]);
  try {
    assert.equal(lines.filter((l) => l.event === 'capture-listening').length, 2, 'capture sinks for the internal server and the edge gateway');
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port, ignoreTLS: true });
    const inbound = await transport.sendMail({ from: 'me@sender.test', to: 'alice@example.test', subject: 'hello', text: 'first message' });
    assert.match(inbound.response, /^250 2\.0\.0 Ok: queued as /);
    const outbound = await transport.sendMail({ from: 'alice@example.test', to: 'friend@elsewhere.test', subject: 'reply', text: 'second message' });
    assert.match(outbound.response, /^250 /);
    // From another loopback address (outside the trusted networks) the same relay is refused.
    const outsider = nodemailer.createTransport({ host: '127.0.0.1', port, ignoreTLS: true, localAddress: '127.0.0.2' });
    await assert.rejects(outsider.sendMail({ from: 'spammer@elsewhere.test', to: 'victim@elsewhere.test', subject: 'relay?', text: 'x' }), (err: Error & { response?: string }) => {
      assert.match(err.response ?? '', /^554 5\.7\.1 <victim@elsewhere\.test>: Relay access denied/);
      return true;
    });
    const deadline = Date.now() + 20_000;
    while (lines.filter((l) => l.event === 'captured').length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const captured = lines.filter((l) => l.event === 'captured');
    const atInternal = captured.find((l) => (l.to as string[]).includes('alice@example.test'));
    const atEdge = captured.find((l) => (l.to as string[]).includes('friend@elsewhere.test'));
    assert.equal(atInternal?.sink, '127.0.0.1:2527');
    assert.equal(atEdge?.sink, '127.0.0.1:2526');
    assert.match(readFileSync(atInternal.file as string, 'utf8'), /Subject: hello[\s\S]*first message/);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
});
