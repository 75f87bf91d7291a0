/**
 * Protocol abuse against the real gateway process (`mailgw gateway`): a
 * seeded grammar-based fuzzer of the SMTP dialogue (fuzz-smtp.ts), bounded
 * in sessions, then named hostile cases: over-long lines and headers, NUL and
 * bare CR/LF, bad UTF-8 with and without SMTPUTF8, BDAT (not offered),
 * 1,000 recipients and one more, a command flood written without waiting.
 * Throughout: the process never exits (an unhandled rejection or uncaught
 * exception would end it), every case gets an answer or a clean close, a
 * normal message is still accepted afterwards, and memory stays flat.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { buildConfig, tempDir } from '../helpers/config.ts';
import { closedPort } from '../helpers/ports.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { startMailgw, type MailgwProcess } from '../helpers/mailgw-process.ts';
import { Grammar } from './fuzz-smtp.ts';
import { pick, record } from './mode.ts';

const SESSIONS = pick(300, 5000);
const PARALLEL = 8;
const SEED = Number(process.env.MAILGW_FUZZ_SEED ?? Date.now() % 1_000_000);

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

/** Plays one dialogue; resolves when the server closed, or after a bounded time. */
function play(port: number, g: Grammar, source: string): Promise<{ replies: number }> {
  const d = g.dialogue();
  return new Promise((resolve) => {
    let replies = 0;
    const socket = connect({ port, host: '127.0.0.1', localAddress: source });
    const done = () => {
      clearTimeout(limit);
      socket.destroy();
      resolve({ replies });
    };
    const limit = setTimeout(done, 4000);
    socket.on('error', () => undefined);
    socket.on('close', done);
    let waiting: (() => void) | undefined;
    socket.on('data', (b: Buffer) => {
      replies += b.toString('latin1').split('\r\n').filter((l) => /^\d{3} /.test(l)).length;
      waiting?.();
    });
    socket.once('connect', async () => {
      // Most dialogues wait for the greeting; the others talk early (untrusted clients are then refused, as they should be).
      if (d.patient) {
        await new Promise<void>((r) => {
          waiting = r;
          setTimeout(r, 1500);
        });
      }
      if (socket.destroyed) return;
      if (d.pipelined) socket.write(Buffer.concat(d.chunks));
      else {
        for (const chunk of d.chunks) {
          if (socket.destroyed) return;
          socket.write(chunk);
          await new Promise<void>((r) => {
            waiting = r;
            setTimeout(r, 150);
          });
        }
      }
      if (d.drop) socket.destroy();
      else setTimeout(() => socket.end(), 300);
    });
  });
}

describe('protocol abuse', () => {
  let gw: MailgwProcess;
  let exitCode: number | null | undefined;

  before(async () => {
    const dir = tempDir('mailgw-abuse-');
    // The internal server is down: accepted messages stay queued (nothing leaves loopback).
    const config = buildConfig({ spec: { integration: 'BehindEdgeGateway', limits: { idleTimeout: '5s', connectionsPerClient: 0 } }, domains: [{ domain: 'example.com', routing: { host: '127.0.0.1', port: await closedPort() } }], networks: ['127.0.0.1/32'] });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    gw = await startMailgw(['gateway', '--config', join(dir, 'config.json'), '--listen', '127.0.0.1:0', '--state-dir', join(dir, 'state')]);
    void gw.exited.then((code) => (exitCode = code));
  });
  after(async () => {
    gw.proc.kill('SIGTERM');
    await gw.exited;
  });

  const alive = () => assert.equal(exitCode, undefined, 'the gateway process is still running');

  async function normalMessage(source = '127.0.0.2'): Promise<void> {
    const c = await SmtpDialog.open(gw.port, source);
    try {
      assert.equal((await c.begin()).code, 250);
      assert.equal((await c.cmd('RCPT TO:<user@example.com>')).code, 250);
      assert.equal((await c.cmd('DATA')).code, 354);
      const r = await c.cmd('Subject: normal\r\n\r\nstill works\r\n.');
      assert.equal(r.code, 250, r.text);
    } finally {
      c.close();
    }
  }

  it(`survives ${SESSIONS} fuzzed dialogues (seed ${SEED}) with flat memory`, { timeout: 600_000 }, async () => {
    let next = 0;
    let replies = 0;
    let warm = 0;
    const warmAt = Math.floor(SESSIONS / 4);
    await Promise.all(Array.from({ length: PARALLEL }, async (_, w) => {
      while (next < SESSIONS) {
        const n = next++;
        if (n === warmAt) warm = rssMiB(gw.proc.pid!);
        // Dialogue n comes from its own seed, so it can be replayed whatever the interleaving.
        const got = (await play(gw.port, new Grammar(SEED * 100_003 + n), w % 2 ? '127.0.0.1' : '127.0.0.2')).replies;
        replies += got; // not `replies += await …`: that reads replies before the await and loses updates
        alive();
      }
    }));
    await normalMessage();
    const end = rssMiB(gw.proc.pid!);
    record('protocol-abuse-fuzz', { sessions: SESSIONS, seed: SEED, replies, rssAfterWarmupMiB: Math.round(warm), rssEndMiB: Math.round(end), crashes: exitCode === undefined ? 0 : 1 });
    alive();
    assert.ok(replies > SESSIONS, `the server answered (${replies} replies to ${SESSIONS} dialogues)`);
    assert.ok(end - warm < 96, `memory flat: ${warm.toFixed(0)} MiB after warm-up, ${end.toFixed(0)} MiB at the end`);
  });

  it('refuses an over-long command line and keeps serving', async () => {
    const c = await SmtpDialog.open(gw.port, '127.0.0.2');
    await c.read();
    c.write(`EHLO ${'a'.repeat(100_000)}\r\n`);
    const r = await c.read(5000);
    assert.ok(!r || r.code === 421 || r.code >= 500, `over-long line refused: ${r?.code} ${r?.text}`);
    c.close();
    alive();
    await normalMessage();
  });

  it('handles a 1 MiB header line, NUL and bare CR/LF in DATA with a definite reply', async () => {
    for (const body of [
      `X-Long: ${'h'.repeat(1024 * 1024)}\r\n\r\nbody\r\n`,
      'Subject: nul\r\n\r\nbefore\x00after\r\n',
      'Subject: bare\r\n\r\nline with bare LF\nand bare CR\rend\r\n',
      'Subject: dots\r\n\r\n..\r\n.x\r\n',
    ]) {
      const c = await SmtpDialog.open(gw.port, '127.0.0.2');
      await c.begin();
      assert.equal((await c.cmd('RCPT TO:<user@example.com>')).code, 250);
      assert.equal((await c.cmd('DATA')).code, 354);
      c.write(`${body}.\r\n`);
      const r = await c.read(10_000);
      assert.ok(r && (r.code === 250 || r.code >= 500), `a definite reply, got ${r?.code} ${r?.text}`);
      c.close();
    }
    alive();
  });

  it('refuses bad UTF-8 in addresses with and without SMTPUTF8', async () => {
    for (const params of ['', ' SMTPUTF8']) {
      const c = await SmtpDialog.open(gw.port, '127.0.0.2');
      await c.read();
      await c.cmd('EHLO client.test');
      c.write(Buffer.concat([Buffer.from('MAIL FROM:<a'), Buffer.from([0xc3, 0x28]), Buffer.from(`@sender.test>${params}\r\n`)]));
      const r = await c.read();
      assert.ok(r && r.code >= 500, `MAIL with bad UTF-8${params}: ${r?.code} ${r?.text}`);
      c.write(Buffer.concat([Buffer.from(`MAIL FROM:<a@sender.test>${params}\r\n`)]));
      assert.equal((await c.read())?.code, 250);
      c.write(Buffer.concat([Buffer.from('RCPT TO:<'), Buffer.from([0xff, 0xfe]), Buffer.from('@example.com>\r\n')]));
      const rr = await c.read();
      assert.ok(rr && rr.code >= 500, `RCPT with bad UTF-8${params}: ${rr?.code} ${rr?.text}`);
      c.close();
    }
    alive();
  });

  it('does not offer BDAT and refuses it', async () => {
    const c = await SmtpDialog.open(gw.port, '127.0.0.2');
    await c.read();
    const ehlo = await c.cmd('EHLO client.test');
    assert.ok(!ehlo.lines.some((l) => /CHUNKING/.test(l)), 'CHUNKING not offered');
    await c.cmd('MAIL FROM:<a@sender.test>');
    await c.cmd('RCPT TO:<user@example.com>');
    const r = await c.cmd('BDAT 5 LAST');
    assert.ok(r.code >= 500, `BDAT refused (${r.code})`);
    c.close();
    alive();
  });

  it('takes 1,000 recipients and refuses the 1,001st, pipelined', async () => {
    const c = await SmtpDialog.open(gw.port, '127.0.0.2');
    await c.begin();
    c.write(Array.from({ length: 1001 }, (_, i) => `RCPT TO:<u${i}@example.com>\r\n`).join(''));
    const codes: number[] = [];
    for (let i = 0; i < 1001; i++) codes.push((await c.read(10_000))!.code);
    assert.equal(codes.slice(0, 1000).filter((x) => x === 250).length, 1000);
    assert.equal(codes[1000], 452);
    assert.equal((await c.cmd('DATA')).code, 354);
    assert.equal((await c.cmd('Subject: many\r\n\r\nthousand\r\n.')).code, 250);
    c.close();
    alive();
  });

  it('survives a command flood written without waiting, and others are still served', async () => {
    const c = await SmtpDialog.open(gw.port, '127.0.0.2');
    await c.read();
    const FLOOD = 20_000;
    c.write(`${'NOOP\r\n'.repeat(FLOOD)}`);
    await normalMessage('127.0.0.3');
    let answered = 0;
    while (answered < FLOOD) {
      const r = await c.read(5000);
      if (!r) break;
      answered++;
    }
    c.close();
    record('protocol-abuse-flood', { commands: FLOOD, answered, closedEarly: answered < FLOOD });
    alive();
    await normalMessage();
  });
});
