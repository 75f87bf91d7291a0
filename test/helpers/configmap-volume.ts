/**
 * A ConfigMap volume as the kubelet writes it, for tests where no kubelet
 * runs: every key is a symlink through `..data`, which points at a
 * timestamped directory and is swapped in one rename, so a reader sees the
 * old version or the new one, never a mix (as a projected volume of several
 * ConfigMaps behaves too). `binaryData` is written as bytes.
 */
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unpackConfig } from '../../api/config-pack.ts';

export class ConfigMapVolume {
  readonly dir: string;
  private n = 0;
  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
  }

  /** Writes the keys of these ConfigMaps (data and binaryData, as the API returns them) as the volume's new version. */
  write(configMaps: { data?: Record<string, string>; binaryData?: Record<string, string> }[]): void {
    const version = `..${Date.now()}_${this.n++}`;
    mkdirSync(join(this.dir, version));
    const keys: string[] = [];
    for (const cm of configMaps) {
      for (const [k, v] of Object.entries(cm.data ?? {})) writeFileSync(join(this.dir, version, k), v);
      for (const [k, v] of Object.entries(cm.binaryData ?? {})) writeFileSync(join(this.dir, version, k), Buffer.from(v, 'base64'));
      keys.push(...Object.keys(cm.data ?? {}), ...Object.keys(cm.binaryData ?? {}));
    }
    symlinkSync(version, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    for (const k of keys) {
      try {
        symlinkSync(join('..data', k), join(this.dir, k));
      } catch {
        // already linked through ..data
      }
    }
  }
}

/**
 * The config held by a gateway's ConfigMaps as the API returns them (data
 * text, binaryData base64), when they hold one whole version (the manifest
 * and every part it names; api/config-pack.ts); undefined while they do not.
 */
export function configOf(configMaps: { data?: Record<string, string>; binaryData?: Record<string, string> }[]): Record<string, any> | undefined { // eslint-disable-line @typescript-eslint/no-explicit-any
  const files = new Map<string, Buffer>();
  for (const c of configMaps) {
    for (const [k, v] of Object.entries(c.data ?? {})) files.set(k, Buffer.from(v));
    for (const [k, v] of Object.entries(c.binaryData ?? {})) files.set(k, Buffer.from(v, 'base64'));
  }
  const u = unpackConfig((f) => files.get(f));
  return 'text' in u ? JSON.parse(u.text) as Record<string, any> : undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
}
