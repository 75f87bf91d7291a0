import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool } from '../spool/spool.ts';
import type { StoredMessage } from '../spool/spool-types.ts';
import { Injector } from './injector.ts';

const envelope = (id: string) => ({
  id, receivedAt: new Date(0).toISOString(), sessionId: 's', client: { address: '127.0.0.1', port: 0, helo: 'h', tls: false },
  mailFrom: 'a@example.com', mailParams: {}, rcptTo: [{ address: 'b@example.com', domain: 'example.com', route: 'relay' as const }],
});

async function setup() {
  const spool = await Spool.open(join(mkdtempSync(join(tmpdir(), 'mailgw-injector-')), 'spool'));
  const queued: StoredMessage[] = [];
  return { spool, queued, injector: new Injector(spool, (m) => queued.push(m)) };
}

describe('injector', () => {
  it('writes, commits durably, then queues', async () => {
    const { spool, queued, injector } = await setup();
    const m = await injector.inject('q1', async (write) => {
      await write(Buffer.from('Subject: x\r\n\r\nbody\r\n'));
    }, envelope('q1'));
    assert.deepEqual(queued.map((q) => q.id), ['q1']);
    assert.equal(m.envelope.size, 20);
    assert.equal((await spool.read('q1')).toString(), 'Subject: x\r\n\r\nbody\r\n');
    await spool.close();
  });

  it('a failing producer leaves nothing in the spool and nothing queued', async () => {
    const { spool, queued, injector } = await setup();
    await assert.rejects(injector.inject('q2', async (write) => {
      await write(Buffer.alloc(200_000, 65));
      throw new Error('scanner went away');
    }, envelope('q2')), /scanner went away/);
    assert.deepEqual(queued, []);
    assert.equal(spool.get('q2'), undefined);
    await spool.close();
  });

  it('a handed-over entry keeps its delivery state; an aborted one is gone', async () => {
    const { spool, queued, injector } = await setup();
    const entry = injector.open('q3');
    await entry.write(Buffer.from('x\r\n'));
    const state = { attempts: 3, held: true, nextAttemptAt: 0, rcpts: [{ status: 'pending' as const }] };
    await entry.commit(envelope('q3'), state as never);
    assert.equal(queued.length, 1);
    assert.equal(injector.has('q3'), true);
    assert.equal((spool.get('q3')!.state as { attempts: number }).attempts, 3);
    const gone = injector.open('q4');
    await gone.write(Buffer.from('y\r\n'));
    gone.abort();
    assert.equal(injector.has('q4'), false);
    assert.equal(queued.length, 1);
    await spool.close();
  });
});
