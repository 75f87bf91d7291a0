/**
 * Where test/cluster/build.sh put the real control plane and Helm: a cache
 * directory keyed by the go.sum files, as build.sh computes it. Never builds
 * (.ci/run does, before the tests); undefined when they are not built.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const HERE = new URL('.', import.meta.url).pathname;

export function clusterBinaries(): string | undefined {
  try {
    const key = execFileSync('bash', ['-c', 'cat go.mod go.sum helm/go.mod helm/go.sum build.sh | sha256sum | cut -c1-16'], { cwd: HERE, encoding: 'utf8' }).trim();
    const dir = join(process.env.MAILGW_CLUSTER_CACHE ?? join(process.env.HOME ?? '/root', '.cache/mailgw-cluster'), key);
    return ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl', 'helm'].every((b) => existsSync(join(dir, b))) ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** The helm binary build.sh built, or undefined. */
export function helmBinary(): string | undefined {
  const dir = clusterBinaries();
  return dir ? join(dir, 'helm') : undefined;
}
