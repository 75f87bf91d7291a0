import { it } from 'node:test';
import assert from 'node:assert/strict';
import { parseOpsTokens } from './cmd-gateway.ts';

it('parseOpsTokens: TOKEN USER PERMISSIONS per line, comments and blank lines skipped; anything else names its line', () => {
  assert.deepEqual(parseOpsTokens('# tokens\n\n0123456789abcdef alice view,operate,release\nfedcba9876543210 victor view\n'), [
    { token: '0123456789abcdef', user: 'alice', permissions: ['view', 'operate', 'release'] },
    { token: 'fedcba9876543210', user: 'victor', permissions: ['view'] },
  ]);
  assert.throws(() => parseOpsTokens('short alice view'), /line 1: expected TOKEN \(16 characters or more\)/);
  assert.throws(() => parseOpsTokens('0123456789abcdef alice view\n0123456789abcdef bob admin'), /line 2/);
  assert.throws(() => parseOpsTokens('0123456789abcdef alice view extra'), /line 1/);
  assert.throws(() => parseOpsTokens('# nothing\n'), /no tokens/);
});
