/**
 * Bad manifests, fuzzed from the examples with a seeded PRNG: values of the
 * wrong type or out of range, deleted and unknown fields, wrong kinds, and
 * damaged YAML text.
 * - `mailgw validate` (its loader and lint in-process for volume, the real
 *   CLI for a sample): never throws, every problem names the file and a line
 *   or field path, the exit code is 0 or 1, never a stack trace.
 * - The operator on a real kube-apiserver: a fuzzed edit is refused at
 *   admission with a message, or admitted and then either applied (a valid
 *   change) or reported as Degraded with the running ConfigMap untouched;
 *   after every edit is undone the config is back, byte for byte, and the
 *   operator never exited.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { loadManifests, formatProblem } from '../../cli/manifest-load.ts';
import { lint } from '../../operator/lint.ts';
import { startCluster, startInstalledOperator, withoutCluster, type Cluster } from '../helpers/cluster.ts';
import { eventually } from '../helpers/wait.ts';
import { tempDir } from '../helpers/config.ts';
import { prng } from './fuzz-smtp.ts';
import { pick, record } from './mode.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ROOT = new URL('../..', import.meta.url).pathname;
const SEED = Number(process.env.MAILGW_FUZZ_SEED ?? Date.now() % 1_000_000);
const VALIDATE_CASES = pick(300, 3000);
const CLI_CASES = pick(6, 40);
const OPERATOR_CASES = pick(25, 250);

const WEIRD: unknown[] = [null, -1, 0, 70_000, 1e20, '', 'x'.repeat(5000), true, [], {}, '0.0.0.0/0', 'not a domain', '💥', '1h', '-5m', 'Require', [null], { a: 1 }, 3.5, '10.0.0.0/33', '::/0', 'a'.repeat(300) + '.example'];

class Mutator {
  private readonly r: () => number;
  constructor(seed: number) {
    this.r = prng(seed);
  }
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  /** Every path to a value inside obj (objects and arrays). */
  paths(obj: unknown, prefix: (string | number)[] = []): (string | number)[][] {
    if (obj === null || typeof obj !== 'object') return [prefix];
    const entries = Array.isArray(obj) ? obj.map((v, i) => [i, v] as const) : Object.entries(obj as Json);
    return [prefix, ...entries.flatMap(([k, v]) => this.paths(v, [...prefix, k]))];
  }

  /** One structural change: a value replaced, a key deleted or an unknown key added. */
  mutate(doc: Json): Json {
    const copy = structuredClone(doc);
    // Inside spec when there is one (even a scalar one a previous mutation left), else anywhere in the document.
    const paths = (copy.spec !== undefined ? this.paths(copy.spec, ['spec']) : this.paths(copy)).filter((p) => p.length > 0);
    if (paths.length === 0) return { ...copy, spec: this.pick(WEIRD) };
    const path = this.pick(paths);
    const parent = path.slice(0, -1).reduce<Json>((o, k) => o[k as string], copy);
    const key = path.at(-1)!;
    const how = this.int(10);
    if (how < 6) parent[key as string] = structuredClone(this.pick(WEIRD));
    else if (how < 8) {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key as string];
    } else if (how < 9) parent[`unknownField${this.int(100)}`] = this.pick(WEIRD);
    else copy[this.pick(['kind', 'apiVersion'])] = this.pick(['MailGateway', 'LocalDomain', 'Nope', 'mailgw.io/v2', 'v1', '']);
    return copy;
  }

  /** Damage to the YAML text itself. */
  damageText(text: string): string {
    const at = this.int(text.length);
    return this.pick([
      () => text.slice(0, at),
      () => `${text.slice(0, at)}\t${text.slice(at)}`,
      () => `${text.slice(0, at)}: [${text.slice(at)}`,
      () => text.replace(/^(\s*)(\w+):/m, '$1$2: 1\n$1$2:'),
      () => `${text.slice(0, at)}\u0000${text.slice(at)}`,
      () => text.replace(/\n {2}/g, '\n '),
      () => `${text}\n---\n- just\n- a list\n`,
      () => `${text}\n---\n"a scalar"\n`,
    ])();
  }
}

const exampleDocs = (): Json[] => parseAllDocuments(readFileSync(join(ROOT, 'examples/behind-edge-gateway/gateway.yaml'), 'utf8')).map((d) => d.toJSON() as Json);

describe('bad manifests', () => {
  it(`mailgw validate: ${VALIDATE_CASES} fuzzed manifests (seed ${SEED}) get clear problems, never a crash`, { timeout: 600_000 }, async () => {
    const base = exampleDocs();
    const dir = tempDir('mailgw-fuzz-manifests-');
    let withErrors = 0;
    let clean = 0;
    const cliFiles: string[] = [];
    for (let i = 0; i < VALIDATE_CASES; i++) {
      const m = new Mutator(SEED * 1000 + i);
      const docs = base.map((d) => (m.int(3) === 0 ? m.mutate(d) : d));
      const target = m.int(docs.length);
      docs[target] = m.mutate(docs[target]!);
      let text = docs.map((d) => stringify(d)).join('---\n');
      if (m.int(4) === 0) text = m.damageText(text);
      const file = join(dir, `case-${i}.yaml`);
      writeFileSync(file, text);
      if (i < CLI_CASES) cliFiles.push(file);
      const loaded = await loadManifests([file]);
      const findings = lint(loaded.gateways, loaded.domains, loaded.networks);
      for (const p of loaded.problems) {
        const line = formatProblem(p);
        assert.ok(line.includes(file), `case ${i}: the problem names the file: ${line}`);
        assert.ok(p.line !== undefined || p.path || p.document !== undefined, `case ${i}: the problem says where: ${line}`);
        assert.doesNotMatch(line, /TypeError|Cannot read prop|undefined is not|\n\s+at /, `case ${i}: no internal error: ${line}`);
      }
      for (const f of findings) assert.ok(f.code && f.message, `case ${i}: lint finding has a code and message`);
      if (loaded.problems.some((p) => p.severity === 'error') || findings.some((f) => f.severity === 'Error')) withErrors++;
      else clean++;
    }
    let cliOk = 0;
    for (const file of cliFiles) {
      const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [join(ROOT, 'bin/mailgw.js'), 'validate', '-f', file], { encoding: 'utf8' }, (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? -1) : 0, stdout, stderr }));
      });
      assert.ok(r.code === 0 || r.code === 1, `validate exits 0 or 1, not ${r.code}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr + r.stdout, /\n\s+at .*:\d+:\d+/, 'no stack trace');
      assert.match(r.stdout, /error\(s\), \d+ warning\(s\)/);
      cliOk++;
    }
    record('bad-manifests-validate', { seed: SEED, cases: VALIDATE_CASES, withErrors, clean, cliCases: cliOk, crashes: 0 });
    assert.ok(withErrors > VALIDATE_CASES / 2, `most fuzzed manifests are wrong (${withErrors} of ${VALIDATE_CASES})`);
  });

  describe('operator', () => {
    const NS = 'mail';
    let cluster: Cluster | undefined;
    let op: { proc: ChildProcess; lines: Record<string, unknown>[] };
    const crPath = (plural: string, name?: string) => `/apis/mailgw.io/v1alpha1/namespaces/${NS}/${plural}${name ? `/${name}` : ''}`;
    const k = {
      create: (plural: string, obj: Json) => cluster!.rest('POST', crPath(plural), obj),
      get: (plural: string, name: string) => cluster!.rest('GET', crPath(plural, name)),
      put: (plural: string, name: string, obj: Json) => cluster!.rest('PUT', crPath(plural, name), obj),
      delete: (plural: string, name: string) => cluster!.rest('DELETE', crPath(plural, name)),
    };
    const cmData = async () => JSON.stringify((await cluster!.rest('GET', `/api/v1/namespaces/${NS}/configmaps/gw-config`)).data);
    const cond = (o: Json, type: string) => (o.status?.conditions ?? []).find((c: Json) => c.type === type);
    const gwSpec: Json = { integration: 'BehindEdgeGateway', relayHost: { host: '192.0.2.10' }, replicas: 2 };
    const domainSpec: Json = { gatewayRef: { name: 'gw' }, domain: 'example.com', routing: { host: '10.1.0.5' } };
    const networkSpec: Json = { gatewayRef: { name: 'gw' }, cidrs: ['10.1.0.0/24'] };

    before(async () => {
      cluster = await startCluster();
      if (!cluster) return;
      // The operator as its ServiceAccount with exactly deploy/rbac.yaml, against the real server's admission.
      op = await startInstalledOperator(cluster, [NS], 'op-fuzz', '--resync', '2s');
      await k.create('mailgateways', { apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw' }, spec: gwSpec });
      await k.create('localdomains', { apiVersion: 'mailgw.io/v1alpha1', kind: 'LocalDomain', metadata: { name: 'example-com' }, spec: domainSpec });
      await k.create('trustednetworks', { apiVersion: 'mailgw.io/v1alpha1', kind: 'TrustedNetwork', metadata: { name: 'internal' }, spec: networkSpec });
      // No kubelet runs: report the two replicas ready as it would.
      const sts = await eventually('the StatefulSet', () => cluster!.rest('GET', `/apis/apps/v1/namespaces/${NS}/statefulsets/gw-gateway`).catch(() => undefined), 60_000, 200);
      await cluster.rest('PATCH', `/apis/apps/v1/namespaces/${NS}/statefulsets/gw-gateway/status`, { status: { replicas: 2, readyReplicas: 2, availableReplicas: 2, currentReplicas: 2, updatedReplicas: 2, observedGeneration: sts.metadata.generation } }, 'application/merge-patch+json');
      await eventually('Ready', async () => {
        const g = await k.get('mailgateways', 'gw');
        return cond(g, 'Ready')?.status === 'True' && g.status.domains === 1 && g.status.networks === 1;
      }, 60_000);
    });
    after(async () => {
      op?.proc.kill('SIGKILL');
      await cluster?.stop();
    });

    it(`${OPERATOR_CASES} fuzzed edits: refused, applied or Degraded — the running config untouched by the bad ones`, { timeout: 600_000 }, async (t) => {
      if (withoutCluster(t, cluster)) return;
      const original = await cmData();
      const counts = { refused: 0, degraded: 0, applied: 0, refusedWithoutMessage: 0 };
      for (let i = 0; i < OPERATOR_CASES; i++) {
        const m = new Mutator(SEED * 7 + i);
        const target = m.pick(['mailgateways', 'localdomains', 'trustednetworks'] as const);
        const kind = { mailgateways: 'MailGateway', localdomains: 'LocalDomain', trustednetworks: 'TrustedNetwork' }[target];
        const spec = { mailgateways: gwSpec, localdomains: domainSpec, trustednetworks: networkSpec }[target];
        const mutated = m.mutate({ apiVersion: 'mailgw.io/v1alpha1', kind, metadata: { name: target === 'mailgateways' ? 'gw' : `fuzz-${i}` }, spec: structuredClone(spec) });
        const before = await cmData();
        let admitted = true;
        try {
          if (target === 'mailgateways') await k.put('mailgateways', 'gw', { ...mutated, metadata: { ...(await k.get('mailgateways', 'gw')).metadata } });
          else await k.create(target, mutated);
        } catch (err) {
          const e = err as Error & { status?: number };
          admitted = false;
          counts.refused++;
          assert.ok(e.status && e.status >= 400 && e.status < 500, `case ${i}: refused with a client error, got ${e.status}: ${e.message}`);
          if (!/: \S/.test(e.message)) counts.refusedWithoutMessage++;
          assert.equal(await cmData(), before, `case ${i}: a refused edit changes nothing`);
        }
        if (admitted) {
          // Wait until the operator has looked at it: the gateway's observed generation (an edit of the gateway), or the
          // new object's own Ready condition (one that names no existing gateway may never get one: then it must change nothing).
          const name = target === 'mailgateways' ? 'gw' : `fuzz-${i}`;
          const obj = await eventually(`case ${i} reconciled`, async () => {
            const o = await k.get(target, name);
            if (target === 'mailgateways') return o.status?.observedGeneration === o.metadata.generation ? o : undefined;
            return cond(o, 'Ready') ? o : undefined;
          }, target === 'mailgateways' ? 20_000 : 5_000).catch(() => undefined);
          const gw = await k.get('mailgateways', 'gw');
          const refusedByOperator = target === 'mailgateways' ? cond(gw, 'Degraded')?.status === 'True' : !obj || cond(obj, 'Ready')?.status !== 'True';
          if (refusedByOperator) {
            counts.degraded++;
            assert.equal(await cmData(), before, `case ${i}: refused by the operator (${JSON.stringify((obj ? cond(obj, 'Ready') : cond(gw, 'Degraded')) ?? 'not attached')}), the running config untouched`);
          } else counts.applied++;
          // Undo it.
          if (target === 'mailgateways') await k.put('mailgateways', 'gw', { apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { ...(await k.get('mailgateways', 'gw')).metadata }, spec: gwSpec });
          else await k.delete(target, name);
          await eventually(`case ${i} undone`, async () => (await cmData()) === original && cond(await k.get('mailgateways', 'gw'), 'Ready')?.status === 'True', 20_000);
        }
        assert.equal(op.proc.exitCode, null, 'the operator is still running');
      }
      const restored = await cmData();
      record('bad-manifests-operator', { seed: SEED, cases: OPERATOR_CASES, ...counts, configRestored: restored === original, operatorExits: op.proc.exitCode === null ? 0 : 1 });
      assert.equal(counts.refusedWithoutMessage, 0, 'every refusal says why');
      assert.ok(counts.refused > 0, 'admission refused some edits');
      assert.equal(restored, original, 'the running config is back after every edit was undone');
    });
  });
});
