import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compilePattern, maskSource, patternProblem } from './patterns.ts';

describe('user patterns', () => {
  it('matches regexes, masks and exact strings case-insensitively', () => {
    assert.equal(compilePattern('/^ceo@/').test('CEO@corp.test'), true);
    assert.equal(compilePattern('*@corp.test').test('a@CORP.TEST'), true);
    assert.equal(compilePattern('*@corp.test').test('a@corp.test.evil'), false, 'a mask matches the whole string');
    assert.equal(compilePattern('invoice?.pdf').test('Invoice1.PDF'), true);
    assert.equal(compilePattern('a.b@c').test('axb@c'), false, 'a dot in a mask is a dot');
    assert.equal(compilePattern('Bob@Corp.test').test('bob@corp.TEST'), true);
  });

  it('regexes and masks run on re2js, literals need no engine', () => {
    assert.equal(compilePattern('/x/').engine, 're2js');
    assert.equal(compilePattern('*.exe').engine, 're2js');
    assert.equal(compilePattern('a@b').engine, 'exact');
  });

  it('a catastrophic pattern finishes on a long input', () => {
    const p = compilePattern('/(a+)+$/');
    assert.equal(p.test(`${'a'.repeat(50_000)}!`), false);
    assert.equal(p.test('a'.repeat(50_000)), true);
  });

  it('says why a pattern cannot be used', () => {
    assert.match(patternProblem('/(a)\\1/') ?? '', /not a valid RE2 regular expression.*backreferences/);
    assert.match(patternProblem('/(?=x)/') ?? '', /not a valid RE2/);
    assert.equal(patternProblem('/ok+/'), undefined);
  });

  it('escapes what RE2 would read as syntax in a mask', () => {
    assert.equal(maskSource('a+b(c)*'), 'a\\+b\\(c\\).*');
  });
});
