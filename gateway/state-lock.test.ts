import { it } from 'node:test';
import assert from 'node:assert/strict';
import { exitedState, parseLock } from './state-lock.ts';

it('parseLock: pid and start time; empty or garbled text is no lock', () => {
  assert.deepEqual(parseLock('1234 98765\n'), { pid: 1234, start: '98765' });
  assert.deepEqual(parseLock('1234 \n'), { pid: 1234, start: '' });
  assert.equal(parseLock(''), undefined);
  assert.equal(parseLock('12x4 1\n'), undefined);
});

it('exitedState: a zombie or dead process holds no lock, whatever its command name', () => {
  assert.equal(exitedState('4242 (node) Z 1 4242 4242 0 -1'), true);
  assert.equal(exitedState('4242 (my (odd) name) X 1 4242'), true);
  assert.equal(exitedState('4242 (node) S 1 4242 4242 0 -1'), false);
  assert.equal(exitedState('4242 (Z ) R 1'), false);
});
