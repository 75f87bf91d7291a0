import { it } from 'node:test';
import assert from 'node:assert/strict';
import { headerFields } from './header-fields.ts';

it('unfolds, decodes encoded-words, keeps every value of a repeated field, stops at the body', () => {
  const f = headerFields(Buffer.from('Subject: =?UTF-8?Q?Rechnung_f=C3=BCr?=\r\n November\r\nX-A: 1\r\nx-a: 2\r\n\r\nSubject: body\r\n'));
  assert.deepEqual(f.get('subject'), ['Rechnung für November']);
  assert.deepEqual(f.get('x-a'), ['1', '2']);
});
