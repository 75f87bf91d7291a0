/**
 * The examples: every one validates without errors, the seed scheme without
 * warnings, and examples/misconfigured yields exactly the findings its
 * README lists. Renders match the golden files under test/golden/
 * (regenerate with UPDATE_GOLDEN=1) and are deterministic.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { lint } from '../operator/lint.ts';
import { render } from '../operator/render.ts';
import { objectsToYaml } from '../operator/render-yaml.ts';
import { loadManifests } from '../cli/manifest-load.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const EXAMPLES = join(ROOT, 'examples');
const GOLDEN = join(ROOT, 'test', 'golden');
const dirs = readdirSync(EXAMPLES, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

async function renderAll(dir: string, shuffle = false): Promise<string> {
  const m = await loadManifests([join(EXAMPLES, dir)]);
  const order = <T>(xs: T[]) => (shuffle ? [...xs].reverse() : xs);
  return m.gateways.map((gw) => {
    const withUid = { ...gw, metadata: { ...gw.metadata, uid: '00000000-0000-4000-8000-000000000001' } };
    const r = render(withUid, order(m.domains), order(m.networks));
    return objectsToYaml(r.objects);
  }).join('---\n');
}

describe('examples', () => {
  it('are all there', () => {
    assert.deepEqual(dirs, ['behind-edge-gateway', 'behind-edge-gateway-no-recipient-verification', 'direct', 'misconfigured', 'quickstart']);
  });

  for (const dir of dirs.filter((d) => d !== 'misconfigured')) {
    it(`${dir}: valid, no lint errors${dir.includes('no-recipient') ? ', no warnings' : ''}`, async () => {
      const m = await loadManifests([join(EXAMPLES, dir)]);
      assert.deepEqual(m.problems, []);
      const findings = lint(m.gateways, m.domains, m.networks);
      assert.deepEqual(findings.filter((f) => f.severity === 'Error'), []);
      if (dir.includes('no-recipient')) assert.deepEqual(findings, []);
    });
  }

  it('misconfigured: exactly the findings its README lists', async () => {
    const m = await loadManifests([join(EXAMPLES, 'misconfigured')]);
    assert.deepEqual(m.problems, []);
    const listed = readFileSync(join(EXAMPLES, 'misconfigured', 'README.md'), 'utf8')
      .split('\n').filter((l) => /^\| MGW\d+ \|/.test(l))
      .map((l) => l.split('|').slice(1, 5).map((c) => c.trim()).join(' '));
    const found = lint(m.gateways, m.domains, m.networks).map((f) => [f.code, f.severity, f.object, f.field].join(' '));
    assert.deepEqual(found, listed);
  });

  for (const dir of dirs.filter((d) => d !== 'misconfigured')) {
    it(`${dir}: render matches test/golden/${dir}.yaml and is deterministic`, async () => {
      const text = await renderAll(dir);
      assert.equal(await renderAll(dir, true), text, 'input order does not change the output');
      const file = join(GOLDEN, `${dir}.yaml`);
      if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
        mkdirSync(GOLDEN, { recursive: true });
        writeFileSync(file, text);
        if (process.env.UPDATE_GOLDEN !== '1') assert.fail(`golden file ${file} was missing and has been written; review and commit it`);
      }
      assert.equal(text, readFileSync(file, 'utf8'), `render of ${dir} changed; if intended, run UPDATE_GOLDEN=1 npm test and review the diff`);
    });
  }
});
