/**
 * Tests that go through `mailgw up`'s rendering path: manifests (with their
 * Secrets) written to a file and rendered by renderLocal, which writes the
 * referenced Secrets where the kubelet would mount them.
 */
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { GatewayConfig } from '../../api/index.ts';
import { renderLocal } from '../../cli/cmd-up.ts';
import { tempDir } from './config.ts';

/** A Secret manifest in namespace mail with these keys. */
export function secretDoc(name: string, data: Record<string, string | Buffer>): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'mail' }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) };
}

/** The rendered config of these manifests; `state` is the state directory (its secrets/ and tls/ hold the Secrets), `dir` a scratch directory beside it. */
export async function renderManifests(docs: unknown[]): Promise<{ config: GatewayConfig; dir: string; state: string }> {
  const dir = tempDir('mailgw-manifests-');
  writeFileSync(join(dir, 'gw.yaml'), docs.map((d) => stringify(d)).join('---\n'));
  const r = await renderLocal([join(dir, 'gw.yaml')], undefined, join(dir, 'state'));
  assert.ok('config' in r, JSON.stringify(r));
  return { config: r.config, dir, state: join(dir, 'state') };
}

/** Replaces mounted files at once, as the kubelet does when a Secret changes. */
export function replaceFiles(dir: string, files: [name: string, data: string | Buffer][]): void {
  for (const [name, data] of files) {
    writeFileSync(join(dir, `.${name}.new`), data);
    renameSync(join(dir, `.${name}.new`), join(dir, name));
  }
}
