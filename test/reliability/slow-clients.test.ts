/**
 * Slow and many clients against the real gateway process: 1,000 slowloris
 * connections (from 100 addresses, 10 each — the per-client limit) that
 * dribble a command or a message body one byte at a time, while normal
 * senders keep sending. Normal mail is still accepted within its timeout,
 * the per-client limit holds for an 11th connection from a slow address,
 * and the slow connections are closed by the idle timeout when they stop.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { buildConfig, tempDir } from '../helpers/config.ts';
import { closedPort } from '../helpers/ports.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { startMailgw, type MailgwProcess } from '../helpers/mailgw-process.ts';
import { pick, record } from './mode.ts';

const SLOW = 1000;
const PER_CLIENT = 10;
const DURATION_MS = pick(8_000, 60_000);
const NORMAL_TIMEOUT_MS = 10_000;

describe('slow and many clients', () => {
  let gw: MailgwProcess;

  before(async () => {
    const dir = tempDir('mailgw-slow-');
    const config = buildConfig({
      spec: { integration: 'BehindEdgeGateway', limits: { connectionsPerClient: PER_CLIENT, connectionsTotal: 5000, idleTimeout: '3s' } },
      domains: [{ domain: 'example.com', routing: { host: '127.0.0.1', port: await closedPort() } }], networks: ['127.0.0.1/32'],
    });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    gw = await startMailgw(['gateway', '--config', join(dir, 'config.json'), '--listen', '127.0.0.1:0', '--state-dir', join(dir, 'state')]);
  });
  after(async () => {
    gw.proc.kill('SIGTERM');
    await gw.exited;
  });

  /** A slowloris client: greeting, then one byte of a never-ending command or body every second. */
  function slowloris(source: string, bodyMode: boolean, stop: { now: boolean }, stats: { open: number; refused: number; closedByServer: number }): Promise<void> {
    return new Promise((resolve) => {
      const socket: Socket = connect({ port: gw.port, host: '127.0.0.1', localAddress: source });
      let timer: NodeJS.Timeout | undefined;
      let greeted = false;
      let buf = '';
      socket.setEncoding('latin1');
      socket.on('error', () => undefined);
      socket.on('data', (d: string) => {
        buf += d;
        if (!greeted && /\r\n/.test(buf)) {
          greeted = true;
          if (!buf.startsWith('220')) {
            stats.refused++;
            return;
          }
          stats.open++;
          const script = bodyMode ? 'EHLO slow.test\r\nMAIL FROM:<s@slow.test>\r\nRCPT TO:<u@example.com>\r\nDATA\r\n' : '';
          if (script) socket.write(script);
          const drip = bodyMode ? 'x' : 'EHLO slow';
          let i = 0;
          timer = setInterval(() => {
            if (stop.now) return;
            socket.write(drip[i++ % drip.length]!);
          }, 1000);
        }
      });
      socket.on('close', () => {
        if (timer) clearInterval(timer);
        if (greeted && buf.startsWith('220')) stats.closedByServer++; // the clients never close: the server did
        resolve();
      });
    });
  }

  async function normalMessage(n: number): Promise<number> {
    const t0 = performance.now();
    const c = await SmtpDialog.open(gw.port, '127.0.0.1');
    try {
      assert.equal((await c.begin('load@sender.test')).code, 250);
      assert.equal((await c.cmd('RCPT TO:<user@example.com>')).code, 250);
      assert.equal((await c.cmd('DATA')).code, 354);
      const r = await c.cmd(`Subject: normal ${n}\r\n\r\namid slow clients\r\n.`);
      assert.equal(r.code, 250, r.text);
    } finally {
      c.close();
    }
    return performance.now() - t0;
  }

  it(`accepts normal mail amid ${SLOW} slowloris connections, and the per-client limit holds`, { timeout: 180_000 }, async () => {
    const stop = { now: false };
    const stats = { open: 0, refused: 0, closedByServer: 0 };
    const slow: Promise<void>[] = [];
    for (let i = 0; i < SLOW; i++) {
      slow.push(slowloris(`127.0.1.${1 + Math.floor(i / PER_CLIENT)}`, i % 2 === 1, stop, stats));
      if (i % 100 === 99) await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 1500));
    // An 11th connection from a slow client's address is refused.
    const extra = await SmtpDialog.open(gw.port, '127.0.1.1');
    const refusal = await extra.read(5000);
    extra.close();

    const times: number[] = [];
    const end = Date.now() + DURATION_MS;
    for (let n = 0; Date.now() < end && n < 10_000; n++) {
      const ms = await normalMessage(n);
      assert.ok(ms < NORMAL_TIMEOUT_MS, `normal message ${n} took ${ms.toFixed(0)} ms`);
      times.push(ms);
      await new Promise((r) => setTimeout(r, 100));
    }
    const openDuring = stats.open;
    const closedDuringLoad = stats.closedByServer;
    // The slow clients stop dribbling: the idle timeout (3 s) closes every one of them.
    stop.now = true;
    const t0 = performance.now();
    const allClosed = await Promise.race([Promise.all(slow).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20_000))]);
    const closeMs = performance.now() - t0;
    times.sort((a, b) => a - b);
    record('slow-clients', {
      slowConnections: SLOW, acceptedSlow: openDuring, refusedSlow: stats.refused, normalMessages: times.length,
      normalP50ms: Math.round(times[Math.floor(times.length / 2)]!), normalMaxMs: Math.round(times.at(-1)!), extraConnectionReply: refusal?.code ?? 0, closedByServerDuringLoad: closedDuringLoad,
      closedByIdleTimeout: stats.closedByServer - closedDuringLoad, allClosedAfterMs: Math.round(closeMs),
    });
    assert.ok(allClosed, `the idle timeout closed the silent slow connections (${stats.closedByServer - closedDuringLoad} of ${openDuring})`);
    assert.equal(closedDuringLoad, 0, 'no slow connection that kept talking was dropped while within the limits');
    assert.equal(openDuring, SLOW, 'all slow connections within the limits got a greeting');
    assert.equal(refusal?.code, 421, `an 11th connection from one address is refused: ${refusal?.code} ${refusal?.text}`);
    assert.ok(times.length >= 5, `normal messages sent (${times.length})`);
  });
});
