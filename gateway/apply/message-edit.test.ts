import { it } from 'node:test';
import assert from 'node:assert/strict';
import { editHeader } from './message-edit.ts';

const head = Buffer.from('Received: from x (x [192.0.2.1])\r\n\tby gw;\r\n Wed, 2 Dec 2026 07:05:09 +0000\r\nFrom: a@origin.test\r\nSubject: hello\r\n there\r\n\r\n');

it('new headers go right after our Received, which stays first; folded fields stay whole; the empty line stays', () => {
  const out = editHeader(head, { prepend: 'X-Mailgw-Rule: default\r\nX-Mailgw-Action: Skip\r\n' }).toString('latin1');
  assert.equal(out, 'Received: from x (x [192.0.2.1])\r\n\tby gw;\r\n Wed, 2 Dec 2026 07:05:09 +0000\r\nX-Mailgw-Rule: default\r\nX-Mailgw-Action: Skip\r\nFrom: a@origin.test\r\nSubject: hello\r\n there\r\n\r\n');
});

it('the subject tag goes in front of the (folded) Subject, or makes one when there is none', () => {
  assert.match(editHeader(head, { prepend: '', subjectTag: '[Spam]' }).toString('latin1'), /\r\nSubject: \[Spam\] hello\r\n there\r\n\r\n$/);
  const none = editHeader(Buffer.from('From: a@origin.test\r\n\r\n'), { prepend: '', subjectTag: '[Spam]' }).toString('latin1');
  assert.equal(none, 'From: a@origin.test\r\nSubject: [Spam]\r\n\r\n');
});

it('a header section without its empty line (cut at the cap) gets none added', () => {
  assert.equal(editHeader(Buffer.from('From: a@origin.test\r\n'), { prepend: 'X-A: 1\r\n' }).toString('latin1'), 'X-A: 1\r\nFrom: a@origin.test\r\n');
});

it('removes header fields by name, never our own Received first', () => {
  const out = editHeader(head, { prepend: 'X-New: 1\r\n', removeHeaders: ['SUBJECT', 'received'] }).toString('latin1');
  assert.equal(out, 'Received: from x (x [192.0.2.1])\r\n\tby gw;\r\n Wed, 2 Dec 2026 07:05:09 +0000\r\nX-New: 1\r\nFrom: a@origin.test\r\n\r\n');
});
