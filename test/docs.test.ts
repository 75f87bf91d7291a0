/**
 * Docs that must not drift: the field reference is generated from the CRDs,
 * and the README links every guide that exists.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fieldReference } from '../operator/field-reference.ts';

const ROOT = new URL('..', import.meta.url).pathname;

it('docs/reference.md is generated from the schemas (run npm run gen:docs)', () => {
  assert.equal(readFileSync(join(ROOT, 'docs/reference.md'), 'utf8'), fieldReference());
});

it('the README links the guides, and every relative link in README and docs resolves', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  for (const doc of ['docs/install.md', 'docs/reference.md', 'docs/rules.md', 'docs/operations.md', 'docs/troubleshooting.md', 'docs/testing.md',
    'docs/schemes/direct.md', 'docs/schemes/behind-edge-gateway.md', 'docs/schemes/behind-edge-gateway-no-recipient-verification.md']) {
    assert.ok(readme.includes(`(${doc})`), `README links ${doc}`);
  }
  for (const file of ['README.md', 'docs/install.md', 'docs/operations.md', 'docs/troubleshooting.md', 'docs/rules.md']) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/\]\(([^)#:]+)(#[^)]*)?\)/g)) {
      const base = file.includes('/') ? join(ROOT, file, '..') : ROOT;
      assert.ok(existsSync(join(base, m[1]!)), `${file} links ${m[1]} which exists`);
    }
  }
});
