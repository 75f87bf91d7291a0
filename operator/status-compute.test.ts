import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { STATUS_LINT_MAX, statusLint } from './status-compute.ts';
import { lintFinding } from '../api/status.ts';

const finding = (i: number, severity: 'Error' | 'Warning' = 'Warning') => ({ code: 'MGW204', severity, object: `LocalDomain/mail/d${i}`, field: 'spec.routing', message: `warning ${i}` });

describe('status lint', () => {
  it('lists every finding up to the CRD\'s maximum', () => {
    assert.equal(statusLint([finding(1), finding(2)]).length, 2);
  });

  it('past it: errors first, and the last entry counts the rest; every entry fits the CRD', () => {
    const many = [...Array.from({ length: 10_000 }, (_, i) => finding(i)), finding(-1, 'Error')];
    const lint = statusLint(many);
    assert.equal(lint.length, STATUS_LINT_MAX);
    assert.equal(lint[0]!.severity, 'Error');
    assert.match(lint.at(-1)!.message, /^and 9902 more findings \(MGW204\)/);
    for (const l of lint) assert.ok(lintFinding.safeParse(l).success, JSON.stringify(l));
  });
});
