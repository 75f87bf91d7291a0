import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CONFIG_JSON, CONFIG_MANIFEST, ConfigTooLarge, packConfig, unpackConfig, type ConfigMapContent } from './config-pack.ts';

const config = (n: number, random = false) => ({
  hostname: 'mx.example',
  localDomains: Array.from({ length: n }, (_, i) => ({ domain: random ? `${randomBytes(12).toString('hex')}.example` : `customer${i}.example`, routing: { host: '10.0.0.1', port: 25 } })),
});

/** The files of a volume the ConfigMaps are mounted in (what the kubelet writes). */
const volume = (cms: ConfigMapContent[]) => {
  const files = new Map<string, Buffer>();
  for (const c of cms) {
    for (const [k, v] of Object.entries(c.data)) files.set(k, Buffer.from(v));
    for (const [k, v] of Object.entries(c.binaryData)) files.set(k, v);
  }
  return files;
};

describe('config packing', () => {
  it('a small config is one readable gateway.json', () => {
    const p = packConfig(config(3));
    assert.equal(p.configMaps.length, 1);
    assert.deepEqual(Object.keys(p.configMaps[0]!.data), [CONFIG_JSON]);
    assert.match(p.configMaps[0]!.data[CONFIG_JSON]!, /\n {2}"hostname": "mx.example"/);
    const u = unpackConfig((f) => volume(p.configMaps).get(f));
    assert.ok('text' in u);
    assert.deepEqual(JSON.parse(u.text), config(3));
  });

  it('a large config is gzipped into parts under the part limit, one per ConfigMap, the manifest in the first', () => {
    const c = config(20_000, true);
    const p = packConfig(c, { partLimit: 64 * 1024 });
    assert.ok(p.configMaps.length > 2, `${p.configMaps.length} parts`);
    for (const cm of p.configMaps) for (const b of Object.values(cm.binaryData)) assert.ok(b.length <= 64 * 1024);
    assert.ok(CONFIG_MANIFEST in p.configMaps[0]!.data);
    assert.ok(p.configMaps.slice(1).every((cm) => Object.keys(cm.data).length === 0));
    const u = unpackConfig((f) => volume(p.configMaps).get(f));
    assert.ok('text' in u, JSON.stringify(u));
    assert.deepEqual(JSON.parse(u.text), c);
  });

  it('the hash is the config\'s, whatever the packing', () => {
    const c = config(50);
    assert.equal(packConfig(c).hash, packConfig(c, { plainLimit: 10 }).hash);
    assert.notEqual(packConfig(c).hash, packConfig(config(51)).hash);
  });

  it('parts that do not match the manifest are never a config: missing, damaged, or from another version', () => {
    const a = packConfig(config(8000, true), { partLimit: 32 * 1024 });
    const b = packConfig(config(8000, true), { partLimit: 32 * 1024 });
    const files = volume(a.configMaps);
    const last = a.configMaps.length - 1;
    const lastFile = Object.keys(a.configMaps[last]!.binaryData)[0]!;
    const missing = new Map(files);
    missing.delete(lastFile);
    assert.match(JSON.stringify(unpackConfig((f) => missing.get(f))), /incomplete.*is missing/);
    const damaged = new Map(files);
    const bad = Buffer.from(files.get(lastFile)!);
    bad[0] = bad[0]! ^ 1;
    damaged.set(lastFile, bad);
    assert.match(JSON.stringify(unpackConfig((f) => damaged.get(f))), /does not match the manifest/);
    // The kubelet caught between versions: a's manifest, one of b's parts.
    const mixed = new Map(files);
    mixed.set(lastFile, volume(b.configMaps).get(lastFile) ?? Buffer.alloc(0));
    assert.ok('incomplete' in unpackConfig((f) => mixed.get(f)));
    assert.match(JSON.stringify(unpackConfig(() => undefined)), /neither/);
  });

  it('a config over the limit is refused with its size and the remedy', () => {
    assert.throws(() => packConfig(config(5000, true), { limit: 10 * 1024 }), (err: Error) => err instanceof ConfigTooLarge && /5000 local domains.*over the limit of 10 KiB.*--config-limit/.test(err.message));
  });
});
