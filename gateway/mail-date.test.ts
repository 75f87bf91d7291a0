import { it } from 'node:test';
import assert from 'node:assert/strict';
import { rfc5322Date } from './mail-date.ts';

it('RFC 5322 dates in UTC, day and month names in English, two-digit times', () => {
  assert.equal(rfc5322Date(new Date(Date.UTC(2026, 11, 2, 7, 5, 9))), 'Wed, 2 Dec 2026 07:05:09 +0000');
  assert.equal(rfc5322Date(new Date(Date.UTC(2000, 0, 31, 23, 59, 59))), 'Mon, 31 Jan 2000 23:59:59 +0000');
});
