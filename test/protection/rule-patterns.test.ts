/**
 * A catastrophic rule pattern on a real gateway (issue 15, acceptance 3):
 * /(a+)+$/ against a Subject of 64 folded lines of 990 "a"s (JavaScript's
 * backtracking engine would need 2^990 steps for each). On re2js the match
 * finishes; a clean session running at the same time completes normally.
 * Which engine runs is shown by gateway/protection/rules.test.ts (no user
 * pattern ever reaches RegExp).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig, startGateway, type Running } from '../helpers/config.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';

async function send(port: number, subject: string, to: string): Promise<number> {
  const c = await SmtpDialog.open(port, '127.0.0.2');
  try {
    await c.begin('sender@origin.test');
    assert.equal((await c.cmd(`RCPT TO:<${to}>`)).code, 250);
    assert.equal((await c.cmd('DATA')).code, 354);
    c.write(`Subject: ${subject}\r\nFrom: sender@origin.test\r\n\r\nbody\r\n.\r\n`);
    return (await c.read(60_000))!.code;
  } finally {
    c.close();
  }
}

describe('a catastrophic rule pattern', () => {
  let internal: Sink;
  let gw: Running;
  before(async () => {
    internal = await startSink();
    gw = await startGateway(buildConfig({
      spec: {
        integration: 'BehindEdgeGatewayNoRecipientVerification', tls: { outbound: { mode: 'None' } },
        rules: [{ name: 'evil', match: { headers: [{ name: 'Subject', pattern: '/(a+)+$/' }] }, mode: 'Delete' }],
      },
      domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: internal.port } }],
    }), undefined, '127.0.0.1', { deliver: true });
  });
  after(async () => {
    await gw.close();
    await internal.close();
  });

  it('matches a long header in linear time while a clean session completes', async () => {
    const long = Array.from({ length: 64 }, () => 'a'.repeat(990)).join('\r\n ');
    const [evil, clean] = await Promise.all([send(gw.port, `${long}!`, 'alice@corp.test'), send(gw.port, 'hello', 'bob@corp.test')]);
    assert.deepEqual([evil, clean], [250, 250]);
    // The evil subject ends in "!": no match, so it is delivered under the default rule; one ending in "a" matches and is deleted.
    assert.equal(await send(gw.port, long, 'carol@corp.test'), 250);
    const rules = gw.log.lines.filter((l) => l.event === 'verdict').flatMap((l) => (l.rules as { rule: string; to: string[] }[]).map((r) => `${r.to.join(',')}:${r.rule}`));
    assert.deepEqual(rules.sort(), ['alice@corp.test:default', 'bob@corp.test:default', 'carol@corp.test:evil']);
    const received = await internal.waitFor(2);
    assert.deepEqual(received.map((m) => m.to[0]).sort(), ['alice@corp.test', 'bob@corp.test']);
  });
});
