/**
 * Hostile content to the content filter, through the real gateway process:
 * zip bombs (one huge entry, nesting deeper than archiveDepth, tens of
 * thousands of entries, many large entries that each pass alone), deeply
 * nested and very wide MIME, unterminated multiparts and broken encodings.
 * Each gets a verdict (250 or a 5xx reject) in bounded time, the process
 * stays up with bounded memory, and a normal message is accepted after.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildConfig, tempDir } from '../helpers/config.ts';
import { closedPort } from '../helpers/ports.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { startMailgw, type MailgwProcess } from '../helpers/mailgw-process.ts';
import { makeZip } from '../helpers/zip.ts';
import { pick, record } from './mode.ts';

const VERDICT_MS = 20_000;
const RSS_LIMIT_MIB = 1024;
const EXE = Buffer.concat([Buffer.from('MZ\x90\x00\x03\x00\x00\x00', 'latin1'), Buffer.alloc(200, 0x41)]);

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

function withAttachment(name: string, data: Buffer): string {
  const b64 = data.toString('base64').replace(/(.{76})/g, '$1\r\n');
  return `Subject: attachment ${name}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream; name="${name}"\r\nContent-Disposition: attachment; filename="${name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n--b--\r\n`;
}

function nestedMime(depth: number): string {
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    open += `Content-Type: multipart/mixed; boundary="n${i}"\r\n\r\n--n${i}\r\n`;
    close = `\r\n--n${i}--\r\n${close}`;
  }
  return `Subject: nested ${depth}\r\nMIME-Version: 1.0\r\n${open}Content-Type: text/plain\r\n\r\ndeep${close}`;
}

function wideMime(parts: number): string {
  const body = Array.from({ length: parts }, (_, i) => `--w\r\nContent-Type: application/octet-stream; name="p${i}.bin"\r\n\r\nx\r\n`).join('');
  return `Subject: wide ${parts}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="w"\r\n\r\n${body}--w--\r\n`;
}

/** A zip nested `levels` deep around an executable. */
function nestedZip(levels: number): Buffer {
  let z = makeZip([['payload.exe', EXE, true]]);
  for (let i = 0; i < levels; i++) z = makeZip([[`level${i}.zip`, z, true]]);
  return z;
}

describe('hostile content', () => {
  let gw: MailgwProcess;
  let peak = 0;
  let sampler: NodeJS.Timeout;
  const outcomes: Record<string, string | number>[] = [];

  before(async () => {
    const dir = tempDir('mailgw-hostile-');
    const config = buildConfig({
      spec: {
        integration: 'BehindEdgeGateway',
        protection: { contentFilter: { enabled: true, action: 'Reject', fileNames: ['*.exe'], fileTypes: ['executable'], archiveDepth: 3, archiveMaxBytes: '50Mi' } },
      },
      domains: [{ domain: 'example.com', routing: { host: '127.0.0.1', port: await closedPort() } }],
    });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    gw = await startMailgw(['gateway', '--config', join(dir, 'config.json'), '--listen', '127.0.0.1:0', '--state-dir', join(dir, 'state')]);
    sampler = setInterval(() => {
      try {
        peak = Math.max(peak, rssMiB(gw.proc.pid!));
      } catch {
        // exited
      }
    }, 50);
  });
  after(async () => {
    clearInterval(sampler);
    record('hostile-content', { cases: outcomes.length, peakRssMiB: Math.round(peak), crashes: gw.proc.exitCode === null ? 0 : 1, ...Object.fromEntries(outcomes.map((o) => [String(o.name), `${o.code} in ${o.ms} ms`])) });
    gw.proc.kill('SIGTERM');
    await gw.exited;
  });

  async function verdict(name: string, message: string): Promise<number> {
    const c = await SmtpDialog.open(gw.port, '127.0.0.2');
    try {
      await c.begin('partner@origin.test');
      assert.equal((await c.cmd('RCPT TO:<user@example.com>')).code, 250);
      assert.equal((await c.cmd('DATA')).code, 354);
      const t0 = performance.now();
      c.write(`${message}.\r\n`);
      const r = await c.read(VERDICT_MS);
      const ms = Math.round(performance.now() - t0);
      outcomes.push({ name, code: r?.code ?? 0, ms });
      assert.ok(r, `${name}: a verdict within ${VERDICT_MS} ms`);
      assert.ok(r.code === 250 || r.code >= 500, `${name}: a verdict, not ${r.code} ${r.text}`);
      assert.equal(gw.proc.exitCode, null, 'the gateway is still running');
      assert.ok(peak < RSS_LIMIT_MIB, `memory bounded (${peak.toFixed(0)} MiB)`);
      return r.code;
    } finally {
      c.close();
    }
  }

  it('zip bomb: one entry larger than archiveMaxBytes is rejected', async () => {
    assert.equal(await verdict('one huge entry', withAttachment('bomb.zip', makeZip([['zeros.bin', Buffer.alloc(pick(64, 256) * 1024 * 1024), true]]))), 554);
  });

  it('zip bomb: many entries that each pass but together exceed the budget', async () => {
    const entries: [string, Buffer, boolean][] = Array.from({ length: 16 }, (_, i) => [`part${i}.bin`, Buffer.alloc(8 * 1024 * 1024), true]);
    assert.equal(await verdict('16 x 8 MiB entries', withAttachment('wide.zip', makeZip(entries))), 554);
  });

  it('zip bomb: tens of thousands of entries', async () => {
    const entries: [string, Buffer, boolean][] = Array.from({ length: 12_000 }, (_, i) => [`f${i}.txt`, Buffer.from('x'), false]);
    assert.equal(await verdict('12,000 entries', withAttachment('many.zip', makeZip(entries))), 554);
  });

  it('nested zips: an executable within archiveDepth is found, nesting deeper than archiveDepth is refused', async () => {
    assert.equal(await verdict('exe 2 zips deep', withAttachment('shallow.zip', nestedZip(2))), 554);
    // Deeper than archiveDepth (3): not opened, so not let through unseen either.
    assert.equal(await verdict('exe 12 zips deep', withAttachment('deep.zip', nestedZip(12))), 554);
  });

  it('deeply nested and very wide MIME get a verdict', async () => {
    await verdict('MIME nested 5,000 deep', nestedMime(5000));
    await verdict('MIME with 20,000 parts', wideMime(20_000));
  });

  it('broken structure and encodings get a verdict', async () => {
    await verdict('unterminated multipart', 'Subject: x\r\nContent-Type: multipart/mixed; boundary="u"\r\n\r\n--u\r\nContent-Type: application/zip; name="a.zip"\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBAo=\r\n');
    await verdict('base64 garbage zip', withAttachment('garbage.zip', Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(100_000, 0xff)])));
    await verdict('boundary never used', 'Subject: x\r\nContent-Type: multipart/mixed; boundary="never"\r\n\r\nno parts here\r\n');
    await verdict('quoted-printable 4 MiB line', `Subject: qp\r\nContent-Type: application/octet-stream; name="a.bin"\r\nContent-Disposition: attachment; filename="a.bin"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${'=41'.repeat(1_400_000)}\r\n`);
  });

  it('still accepts a normal message afterwards', async () => {
    assert.equal(await verdict('normal', 'Subject: normal\r\n\r\nhello\r\n'), 250);
  });
});
