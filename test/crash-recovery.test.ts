/**
 * Crash test: many concurrent sessions send messages to a gateway process
 * (the real CLI, `mailgw gateway --config`), which is SIGKILLed mid-stream
 * and restarted, several rounds. Every message that got a 250 must be
 * recovered from the spool byte-identical (behind the gateway's Received
 * header); nothing half-written may be recovered as a message.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { buildConfig, tempDir } from './helpers/config.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';
import { Spool } from '../gateway/spool/spool.ts';
import { closedPort } from './helpers/ports.ts';
import { startMailgw } from './helpers/mailgw-process.ts';

const ROUNDS = Number(process.env.MAILGW_CRASH_ROUNDS ?? 3);
const SESSIONS = 20;

const startChild = (configFile: string, stateDir: string) => startMailgw(['gateway', '--config', configFile, '--listen', '127.0.0.1:0', '--state-dir', stateDir]);

function message(n: number): Buffer {
  const lines = 1 + (n * 7919) % 1500; // up to ~120 KiB: some messages span several chunks
  const body = Array.from({ length: lines }, () => randomBytes(30).toString('base64url')).join('\r\n');
  return Buffer.from(`Subject: crash test ${n}\r\nMessage-ID: <${n}.${Date.now()}@crash.test>\r\n\r\n${body}\r\n`);
}

function withoutReceived(stored: Buffer): Buffer {
  const text = stored.toString('latin1');
  assert.ok(text.startsWith('Received: '), 'stored message starts with our Received header');
  const m = /\r\n(?![ \t])/.exec(text);
  return stored.subarray(m!.index + 2);
}

async function sender(port: number, acked: Map<string, Buffer>, counter: { n: number }, stop: { now: boolean }): Promise<void> {
  let c: SmtpDialog;
  try {
    c = await SmtpDialog.open(port, '127.0.0.1');
    await c.begin('load@crash.test');
  } catch {
    return;
  }
  try {
    for (let i = 0; i < 500 && !stop.now; i++) {
      if (i > 0 && (await c.cmd('MAIL FROM:<load@crash.test>')).code !== 250) return;
      if ((await c.cmd('RCPT TO:<user@example.com>')).code !== 250) return;
      if ((await c.cmd('DATA')).code !== 354) return;
      const msg = message(counter.n++);
      c.write(Buffer.concat([msg, Buffer.from('.\r\n')]));
      const r = await c.read(10_000);
      if (!r) return;
      if (r.code === 250) acked.set(/queued as (\S+)/.exec(r.text)![1]!, msg);
    }
  } catch {
    // the gateway was killed under us
  } finally {
    c.close();
  }
}

it(`recovers every acknowledged message after SIGKILL mid-stream (${ROUNDS} rounds, ${SESSIONS} sessions)`, { timeout: 300_000 }, async () => {
  const stateDir = tempDir('mailgw-crash-');
  const configFile = join(stateDir, 'config.json');
  // The internal server is down for the whole test (a closed loopback port): every message stays queued.
  const config = buildConfig({ spec: { integration: 'BehindEdgeGateway' }, domains: [{ domain: 'example.com', routing: { host: '127.0.0.1', port: await closedPort() } }], networks: ['127.0.0.1/32'] });
  writeFileSync(configFile, JSON.stringify(config));
  const acked = new Map<string, Buffer>();
  const counter = { n: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    const child = await startChild(configFile, stateDir);
    const recovered = child.lines.find((l) => l.event === 'spool-recovered')!;
    // A message fsynced just before the kill may have missed its 250: at least the acknowledged ones.
    assert.ok((recovered.messages as number) >= acked.size, `round ${round}: recovered ${String(recovered.messages)} >= acknowledged ${acked.size}`);
    const stop = { now: false };
    const load = Array.from({ length: SESSIONS }, () => sender(child.port, acked, counter, stop));
    await new Promise((r) => setTimeout(r, 400 + Math.random() * 600));
    child.proc.kill('SIGKILL');
    await child.exited;
    stop.now = true;
    await Promise.all(load);
  }
  assert.ok(acked.size > SESSIONS, `enough messages were acknowledged (${acked.size})`);
  // Restart once more, let recovery run in the real process, then stop it cleanly.
  const last = await startChild(configFile, stateDir);
  assert.ok((last.lines.find((l) => l.event === 'spool-recovered')!.messages as number) >= acked.size);
  last.proc.kill('SIGTERM');
  await last.exited;
  const spool = await Spool.open(join(stateDir, 'spool'));
  try {
    assert.ok(spool.size >= acked.size, 'every acknowledged message is in the spool');
    assert.ok(spool.size <= acked.size + SESSIONS * ROUNDS, 'extras are at most the messages in flight at each kill');
    for (const [qid, sent] of acked) {
      const stored = await spool.read(qid);
      assert.ok(withoutReceived(stored).equals(sent), `message ${qid} is byte-identical`);
      assert.equal(spool.get(qid)!.envelope.rcptTo[0]!.address, 'user@example.com');
    }
  } finally {
    await spool.close();
  }
});
