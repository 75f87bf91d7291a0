import { it } from 'node:test';
import assert from 'node:assert/strict';
import { oneLine, renderTemplate } from './template.ts';

it('fills variables, leaves unknown ones empty', () => {
  assert.equal(renderTemplate('[%{ rule }] %{virus} %{nope}! {{rule}}', { rule: 'finance', virus: 'Eicar' }), '[finance] Eicar ! {{rule}}');
  assert.equal(renderTemplate('no variables', {}), 'no variables');
});

it('one line for a header: a forged line break cannot add a field', () => {
  assert.equal(oneLine('Hi\r\nBcc: victim@example.org'), 'Hi Bcc: victim@example.org');
  assert.equal(oneLine('a\u0000b\tc'), 'ab\tc');
  assert.equal(oneLine('x'.repeat(2000)).length, 900);
});
