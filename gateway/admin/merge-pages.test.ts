import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mergeNewestFirst } from './merge-pages.ts';

it('mergeNewestFirst: one order over all pods (time, then queue id), a cursor when more may follow', () => {
  const a = [{ received: 50, qid: 'B' }, { received: 30, qid: 'A' }];
  const b = [{ received: 50, qid: 'C' }, { received: 40, qid: 'D' }];
  assert.deepEqual(mergeNewestFirst([a, b], 3), { items: [{ received: 50, qid: 'C' }, { received: 50, qid: 'B' }, { received: 40, qid: 'D' }], next: '40:D' });
  assert.deepEqual(mergeNewestFirst([a, b], 10), { items: [b[0], a[0], b[1], a[1]] });
  assert.deepEqual(mergeNewestFirst([a.slice(0, 1), []], 1), { items: [a[0]], next: '50:B' }, 'a full page from one pod: there may be more');
  assert.deepEqual(mergeNewestFirst([[], []], 5), { items: [] });
});
