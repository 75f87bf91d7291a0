import { it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffMs, isFinal, lifetimeMs, wantsDelayDsn, wantsFailureDsn, wantsSuccessDsn } from './queue-state.ts';
import type { StoredMessage } from '../spool/spool-types.ts';

const queue = { lifetimeMs: 72 * 3600e3, bounceLifetimeMs: 24 * 3600e3, minBackoffMs: 300e3, maxBackoffMs: 3600e3, delayWarningMs: 4 * 3600e3 };

it('backs off exponentially between minBackoff and maxBackoff', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 10].map((n) => backoffMs(n, queue) / 1000), [300, 600, 1200, 2400, 3600, 3600]);
  assert.equal(backoffMs(0, queue), 300e3);
});

it('gives bounces (null sender) the bounce lifetime', () => {
  const msg = (mailFrom: string) => ({ envelope: { mailFrom } }) as StoredMessage;
  assert.equal(lifetimeMs(msg('a@b.test'), queue), queue.lifetimeMs);
  assert.equal(lifetimeMs(msg(''), queue), queue.bounceLifetimeMs);
});

it('sends failure DSNs per RFC 3461 NOTIFY, never to the null sender', () => {
  const r = (notify?: string[]) => ({ address: 'x@y.test', domain: 'y.test', route: 'local' as const, ...(notify ? { dsn: { notify } } : {}) });
  assert.equal(wantsFailureDsn('s@x.test', r()), true);
  assert.equal(wantsFailureDsn('s@x.test', r(['FAILURE', 'DELAY'])), true);
  assert.equal(wantsFailureDsn('s@x.test', r(['SUCCESS'])), false);
  assert.equal(wantsFailureDsn('s@x.test', r(['NEVER'])), false);
  assert.equal(wantsFailureDsn('', r()), false);
});

it('a message is final when every recipient is delivered or failed', () => {
  const s = (...st: ('pending' | 'deferred' | 'delivered' | 'failed')[]) => ({ attempts: 1, nextAttemptAt: 0, held: false, rcpts: st.map((status) => ({ status })) });
  assert.equal(isFinal(s('delivered', 'failed')), true);
  assert.equal(isFinal(s('delivered', 'deferred')), false);
  assert.equal(isFinal(s('pending')), false);
});

it('delay and success notices follow NOTIFY (RFC 3461): delay unless NOTIFY leaves it out, success only when asked; never to <>', () => {
  const r = (notify?: string[]) => ({ address: 'a@b.test', domain: 'b.test', route: 'relay' as const, ...(notify ? { dsn: { notify } } : {}) });
  assert.deepEqual([undefined, ['DELAY'], ['FAILURE', 'DELAY'], ['FAILURE'], ['NEVER']].map((n) => wantsDelayDsn('s@x.test', r(n))), [true, true, true, false, false]);
  assert.equal(wantsDelayDsn('', r()), false);
  assert.deepEqual([undefined, ['SUCCESS'], ['FAILURE'], ['NEVER']].map((n) => wantsSuccessDsn('s@x.test', r(n))), [false, true, false, false]);
});
