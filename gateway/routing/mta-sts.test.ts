import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mxMatches, parsePolicy, parseStsTxt } from './mta-sts.ts';

it('reads the _mta-sts TXT record: one v=STSv1 with an id', () => {
  assert.equal(parseStsTxt([['v=STSv1; id=20261202T1;']]), '20261202T1');
  assert.equal(parseStsTxt([['v=STSv1; ', 'id=abc']]), 'abc', 'strings of one record are joined');
  assert.equal(parseStsTxt([['v=spf1 -all']]), undefined);
  assert.equal(parseStsTxt([['v=STSv1; id=a'], ['v=STSv1; id=b']]), undefined, 'two records: no policy');
});

it('parses a policy file, refusing malformed ones', () => {
  assert.deepEqual(parsePolicy('version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: *.backup.example.com\nmax_age: 604800\n', 'x'), { mode: 'enforce', mx: ['mx1.example.com', '*.backup.example.com'], maxAgeSeconds: 604800, id: 'x' });
  assert.equal(parsePolicy('version: STSv1\r\nmode: testing\r\nmx: mx.example.com\r\nmax_age: 86400\r\n', 'y')?.mode, 'testing');
  assert.equal(parsePolicy('version: STSv2\nmode: enforce\nmx: a\nmax_age: 1', 'z'), undefined);
  assert.equal(parsePolicy('version: STSv1\nmode: enforce\nmax_age: 1', 'z'), undefined, 'enforce without mx');
  assert.equal(parsePolicy('version: STSv1\nmode: strict\nmx: a\nmax_age: 1', 'z'), undefined);
});

it('matches MX names: exact, or a wildcard for exactly one label', () => {
  assert.equal(mxMatches('mx1.example.com.', ['mx1.example.com']), true);
  assert.equal(mxMatches('a.backup.example.com', ['*.backup.example.com']), true);
  assert.equal(mxMatches('a.b.backup.example.com', ['*.backup.example.com']), false);
  assert.equal(mxMatches('backup.example.com', ['*.backup.example.com']), false);
  assert.equal(mxMatches('evil.com', ['mx1.example.com']), false);
});
