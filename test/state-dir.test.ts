/**
 * One gateway per state directory (issue 13, item 2), with the real CLI:
 * a second gateway on a state directory in use, or on a busy port, exits 1
 * at once with one clear line and touches nothing; the first one's queue,
 * spool and admin socket keep working. A stale lock and admin socket of a
 * killed gateway are taken over. Spool and backup are private (item 3).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { queueCli, startMailgw, type MailgwProcess } from './helpers/mailgw-process.ts';
import { tempDir } from './helpers/config.ts';
import { submit } from './helpers/submit.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const MANIFESTS = join(ROOT, 'examples/quickstart');

function runUp(stateDir: string, listen: string, ...more: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/mailgw.js'), 'up', '-f', MANIFESTS, '--listen', listen, '--state-dir', stateDir, ...more], { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).map((e) => {
    const p = join(e.parentPath, e.name);
    const st = statSync(p);
    return `${p.slice(dir.length)} ${st.size} ${st.mtimeMs} ${st.ino}`;
  }).sort();
}

describe('state directory', () => {
  const procs: MailgwProcess[] = [];
  after(() => {
    for (const p of procs) p.proc.kill('SIGKILL');
  });

  it('a second gateway on a state directory in use exits 1 within 2 s with one line and changes nothing', async () => {
    const dir = tempDir();
    const first = await startMailgw(['up', '-f', MANIFESTS, '--listen', '127.0.0.1:0', '--state-dir', dir]);
    procs.push(first);
    // A message waits in the queue (nothing listens at its next hop).
    const qid = await submit(first.port, { from: 'me@sender.test', to: ['alice@example.test'] });
    assert.ok(qid);
    await first.waitFor('delivery'); // its first attempt is recorded (deferred): the spool is quiet until the next one
    await new Promise((r) => setTimeout(r, 200));
    const before = tree(dir);
    const second = await runUp(dir, '127.0.0.1:0');
    assert.equal(second.code, 1, second.stderr);
    assert.equal(second.stdout, '', 'the second gateway logged nothing: it opened nothing');
    const lines = second.stderr.trim().split('\n');
    assert.equal(lines.length, 1, second.stderr);
    assert.match(lines[0]!, /state directory .* is in use by process \d+/);
    assert.ok(second.ms < 2000 + 1500, `exited after ${second.ms} ms`); // 2 s, plus Node's own start on a loaded machine
    assert.deepEqual(tree(dir), before, 'spool, lock and admin socket untouched');
    const list = await queueCli(dir, 'list');
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /alice@example\.test/);
  });

  // A busy port, SMTP's or the console's: exit 1 with one line, and nothing left in the state directory.
  for (const [what, args, message] of [
    ['SMTP', (port: number) => [`127.0.0.1:${port}`], 'SMTP'],
    ['console', (port: number) => ['127.0.0.1:0', '--console', `127.0.0.1:${port}`], 'the console'],
  ] as const) {
    it(`a busy ${what} port: exit 1 with one line, and the state directory gets no spool or socket`, async () => {
      const busy = createServer();
      await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
      const port = (busy.address() as AddressInfo).port;
      try {
        const dir = tempDir();
        const [listen, ...more] = args(port);
        const r = await runUp(dir, listen!, ...more);
        assert.equal(r.code, 1, r.stderr);
        // The manifests' own lint warnings (the quick start's MGW108) come first; the failure is one line.
        const failure = r.stderr.trim().split('\n').filter((l) => !l.startsWith('warning: '));
        assert.deepEqual(failure.length, 1, r.stderr);
        assert.match(failure[0]!, new RegExp(`^mailgw up: cannot listen for ${message} on 127\\.0\\.0\\.1:\\d+: the address is already in use$`));
        assert.deepEqual(readdirSync(dir), [], 'no spool, no admin socket, no lock left');
      } finally {
        busy.close();
      }
    });
  }

  it('takes over the lock and admin socket of a killed gateway; spool and backup are private', async () => {
    const dir = tempDir();
    const first = await startMailgw(['up', '-f', MANIFESTS, '--listen', '127.0.0.1:0', '--state-dir', dir]);
    await submit(first.port, { from: 'me@sender.test', to: ['bob@example.test'] });
    first.proc.kill('SIGKILL');
    await first.exited;
    const again = await startMailgw(['up', '-f', MANIFESTS, '--listen', '127.0.0.1:0', '--state-dir', dir]);
    procs.push(again);
    const list = await queueCli(dir, 'list');
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /bob@example\.test/);
    for (const p of [dir, join(dir, 'spool'), join(dir, 'spool', 'segments'), join(dir, 'spool', 'corrupt')]) {
      assert.equal(statSync(p).mode & 0o777, 0o700, `${p} is 0700`);
    }
    for (const f of readdirSync(join(dir, 'spool', 'segments'))) assert.equal(statSync(join(dir, 'spool', 'segments', f)).mode & 0o777, 0o600, `${f} is 0600`);
    assert.equal(statSync(join(dir, 'admin.sock')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'lock')).mode & 0o777, 0o600);
  });

  it('a lock left by a dead process (or garbled) is stale', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'lock'), '999999999 1\n');
    const p = await startMailgw(['up', '-f', MANIFESTS, '--listen', '127.0.0.1:0', '--state-dir', dir]);
    procs.push(p);
    assert.ok(p.port > 0);
  });
});
