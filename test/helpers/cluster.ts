/**
 * A real Kubernetes control plane on loopback for the tests (issue 14):
 * etcd, kube-apiserver (secure port, certificates made at start, RBAC, a
 * service-account signing key) and optionally kube-controller-manager, from
 * the binaries test/cluster/build.sh built. No kubelet, scheduler or
 * container runtime: pods stay Pending; a test that needs ready replicas
 * sets a StatefulSet's status itself, as the kubelet would.
 *
 * startCluster() → { kubeconfig (admin), kubectl(...args), tokenKubeconfig(ns, sa), stop() },
 * or undefined when the binaries are not built (the caller skips, naming them).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { tempDir } from './config.ts';
import { closedPort } from './ports.ts';
import { killGroup } from './process-group.ts';
import { collectJsonLines } from './mailgw-process.ts';
import { missing } from './requirements.ts';
import { eventually } from './wait.ts';
import { clusterBinaries } from '../cluster/binaries.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

export { clusterBinaries };

export interface Cluster {
  bin: string;
  dir: string;
  server: string;
  /** kubeconfig file of a cluster admin (system:masters). */
  kubeconfig: string;
  kubectl(...args: string[]): string;
  /** A kubeconfig that authenticates with a token of ServiceAccount ns/name (RBAC applies). */
  serviceAccountKubeconfig(namespace: string, name: string): string;
  /**
   * What most suites start from: crds/ applied (and Established), the
   * namespaces created, and with `rbac` deploy/rbac.yaml applied; returns a
   * kubeconfig of the operator's ServiceAccount (mailgw-system/mailgw-operator).
   */
  install(o: { namespaces: string[]; rbac?: boolean }): Promise<string>;
  /** etcd's client URL (its JSON gateway serves /v3/kv/put, /v3/kv/compaction…). */
  etcd: string;
  /** A cluster admin's JSON request to kube-apiserver; a status >= 400 throws an Error with `status` and the server's message. */
  rest(method: string, path: string, body?: unknown, contentType?: string): Promise<Json>;
  /** The audit log so far (level Metadata, every request): one event per request, at its latest stage (a running watch: ResponseStarted). */
  audit(): AuditEvent[];
  /**
   * Stops kube-apiserver (SIGKILL) and starts it again on the same port;
   * `whileDown` runs in between (etcd keeps running); resolves when it is ready.
   */
  restartApiServer(whileDown?: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface AuditEvent {
  auditID: string;
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string; apiGroup?: string };
  responseStatus?: { code?: number };
  requestReceivedTimestamp: string;
}

const AUDIT_POLICY = 'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n';

function pki(dir: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=mailgw-test-ca');
  const sign = (name: string, subj: string, ext: string) => {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj);
    writeFileSync(join(dir, `${name}.ext`), ext);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  };
  sign('apiserver', '/CN=kube-apiserver', 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n');
  sign('admin', '/CN=admin/O=system:masters', 'extendedKeyUsage=clientAuth\n');
  ssl('genrsa', '-out', 'sa.key', '2048');
  ssl('rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub');
}

function kubeconfigText(server: string, dir: string, user: Record<string, string>): string {
  const lines = Object.entries(user).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`).join('\n');
  return `apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: ${server}\n    certificate-authority: ${join(dir, 'ca.crt')}\nusers:\n- name: u\n  user:\n${lines}\ncontexts:\n- name: test\n  context: {cluster: test, user: u}\ncurrent-context: test\n`;
}

function startProcess(bin: string, args: string[], log: string): ChildProcess {
  const fd = openSync(log, 'a');
  return spawn(bin, args, { stdio: ['ignore', fd, fd], detached: true });
}

/**
 * controllerManager: run kube-controller-manager with these controllers
 * (true: the garbage collector only, so that a test can set a StatefulSet's
 * status as the kubelet would without the StatefulSet controller resetting it).
 * audit: false leaves out the audit log (a suite making 100,000s of requests).
 */
export async function startCluster(opts: { controllerManager?: boolean | string[]; audit?: boolean } = {}): Promise<Cluster | undefined> {
  const bin = clusterBinaries();
  if (!bin) return undefined;
  const dir = tempDir('mailgw-cluster-');
  pki(dir);
  const [etcdClient, etcdPeer, secure] = [await closedPort(), await closedPort(), await closedPort()];
  const procs: ChildProcess[] = [];
  procs.push(startProcess(join(bin, 'etcd'), [
    '--data-dir', join(dir, 'etcd'), '--listen-client-urls', `http://127.0.0.1:${etcdClient}`, '--advertise-client-urls', `http://127.0.0.1:${etcdClient}`,
    '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`,
    '--initial-cluster', `default=http://127.0.0.1:${etcdPeer}`, '--unsafe-no-fsync', '--log-level', 'warn',
  ], join(dir, 'etcd.log')));
  const apiserverArgs = [
    '--etcd-servers', `http://127.0.0.1:${etcdClient}`, '--bind-address', '127.0.0.1', '--advertise-address', '127.0.0.1', '--secure-port', String(secure),
    '--tls-cert-file', join(dir, 'apiserver.crt'), '--tls-private-key-file', join(dir, 'apiserver.key'), '--client-ca-file', join(dir, 'ca.crt'),
    '--service-account-issuer', 'https://kubernetes.default.svc', '--service-account-key-file', join(dir, 'sa.pub'),
    '--service-account-signing-key-file', join(dir, 'sa.key'), '--service-cluster-ip-range', '10.96.0.0/24',
    '--authorization-mode', 'RBAC', '--allow-privileged', '--disable-admission-plugins', 'ServiceAccount', '--cert-dir', join(dir, 'certs'),
    ...(opts.audit === false ? [] : ['--audit-policy-file', join(dir, 'audit-policy.yaml'), '--audit-log-path', join(dir, 'audit.log'), '--audit-log-maxbackup', '0']),
  ];
  writeFileSync(join(dir, 'audit-policy.yaml'), AUDIT_POLICY);
  let apiserver = startProcess(join(bin, 'kube-apiserver'), apiserverArgs, join(dir, 'apiserver.log'));
  procs.push(apiserver);
  const server = `https://127.0.0.1:${secure}`;
  const kubeconfig = join(dir, 'admin.kubeconfig');
  writeFileSync(kubeconfig, kubeconfigText(server, dir, { 'client-certificate': join(dir, 'admin.crt'), 'client-key': join(dir, 'admin.key') }));
  const kubectl = (...args: string[]) => execFileSync(join(bin, 'kubectl'), ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  const stop = async () => {
    for (const p of procs.reverse()) await killGroup(p);
  };
  try {
    await eventually('kube-apiserver ready', () => /^ok/.test(kubectl('get', '--raw', '/readyz')), 120_000, 250);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${readFileSync(join(dir, 'apiserver.log'), 'utf8').split('\n').slice(-20).join('\n')}`, { cause: err });
  }
  if (opts.controllerManager) {
    procs.push(startProcess(join(bin, 'kube-controller-manager'), [
      '--kubeconfig', kubeconfig, '--controllers', (Array.isArray(opts.controllerManager) ? opts.controllerManager : ['garbage-collector-controller']).join(','),
      '--service-account-private-key-file', join(dir, 'sa.key'), '--root-ca-file', join(dir, 'ca.crt'), '--leader-elect=false',
      '--bind-address', '127.0.0.1', '--secure-port', String(await closedPort()), '--use-service-account-credentials=false',
    ], join(dir, 'controller-manager.log')));
  }
  const serviceAccountKubeconfig = (namespace: string, name: string) => {
    const token = kubectl('create', 'token', name, '-n', namespace, '--duration', '2h').trim();
    const file = join(dir, `${namespace}-${name}.kubeconfig`);
    writeFileSync(file, kubeconfigText(server, dir, { token }));
    return file;
  };
  return {
    bin, dir, server, kubeconfig, kubectl, stop, serviceAccountKubeconfig,
    install: async ({ namespaces, rbac }) => {
      kubectl('apply', '--server-side', '-f', join(ROOT, 'crds'));
      await crdsEstablished(kubectl);
      for (const ns of namespaces) kubectl('create', 'namespace', ns);
      if (!rbac) return '';
      kubectl('apply', '--server-side', '-f', join(ROOT, 'deploy/rbac.yaml'));
      return serviceAccountKubeconfig('mailgw-system', 'mailgw-operator');
    },
    etcd: `http://127.0.0.1:${etcdClient}`,
    rest: (method, path, body, contentType = 'application/json') => new Promise<Json>((resolve, reject) => {
      const req = httpsRequest(`${server}${path}`, {
        method, ca: readFileSync(join(dir, 'ca.crt')), cert: readFileSync(join(dir, 'admin.crt')), key: readFileSync(join(dir, 'admin.key')),
        headers: { 'content-type': contentType, accept: 'application/json' },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Json;
          try {
            json = JSON.parse(text) as Json;
          } catch {
            json = { message: text };
          }
          if ((res.statusCode ?? 500) >= 400) reject(Object.assign(new Error(`${method} ${path}: ${res.statusCode} ${json.message}`), { status: res.statusCode, body: json }));
          else resolve(json);
        });
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    }),
    audit: () => {
      const file = join(dir, 'audit.log');
      if (!existsSync(file)) return [];
      // A watch is logged at ResponseStarted (while it runs) and again at ResponseComplete: one event per request, its last stage.
      const byId = new Map<string, AuditEvent>();
      for (const l of readFileSync(file, 'utf8').split('\n')) {
        if (!l.trim()) continue;
        const e = JSON.parse(l) as AuditEvent;
        byId.delete(e.auditID);
        byId.set(e.auditID, e);
      }
      return [...byId.values()];
    },
    restartApiServer: async (whileDown) => {
      await killGroup(apiserver);
      await whileDown?.();
      const i = procs.indexOf(apiserver);
      apiserver = startProcess(join(bin, 'kube-apiserver'), apiserverArgs, join(dir, 'apiserver.log'));
      procs[i] = apiserver;
      await eventually('kube-apiserver ready again', () => /^ok/.test(kubectl('get', '--raw', '/readyz')), 120_000, 250);
    },
  };
}

/**
 * Waits until the three CRDs are Established. Polls rather than `kubectl wait --for=condition`, which fails
 * outright ("status.conditions accessor error") when it reads a CRD whose status has no conditions yet.
 */
export async function crdsEstablished(kubectl: (...args: string[]) => string): Promise<void> {
  for (const crd of ['mailgateways', 'localdomains', 'trustednetworks']) {
    await eventually(`crd/${crd}.mailgw.io Established`, () =>
      kubectl('get', `crd/${crd}.mailgw.io`, '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}').trim() === 'True', 60_000, 100);
  }
}

/**
 * Options for a suite that starts a control plane: npm test's --test-timeout (120 s) is meant for
 * one ordinary test and would otherwise also bound the whole suite (cluster start, before hooks and
 * every test), which a loaded CI machine can exceed; each test inside keeps its own timeout.
 */
export const CLUSTER_SUITE = { timeout: 1_800_000 } as const;

/** For a test's first line: true (and skipped, or failed under MAILGW_REQUIRE_ALL=1) when no cluster could be started. */
export function withoutCluster(t: TestContext, cluster: Cluster | undefined): boolean {
  if (!cluster) missing(t, 'the Kubernetes control plane binaries and helm (bash test/cluster/build.sh)');
  return !cluster;
}

/** `mailgw operator` as a process with the given kubeconfig and flags, its JSON log collected. */
export function startOperatorProcess(kubeconfig: string, ...flags: string[]): { proc: ChildProcess; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const proc = spawn(process.execPath, [join(ROOT, 'bin/mailgw.js'), 'operator', '--kubeconfig', kubeconfig, '--metrics-address', '127.0.0.1:0', ...flags], { stdio: ['ignore', 'pipe', 'inherit'] });
  collectJsonLines(proc.stdout!, lines);
  return { proc, lines };
}

/**
 * What most operator suites start from: cluster.install() with deploy/rbac.yaml
 * and `namespaces` (mailgw-system added), then `mailgw operator` as its
 * ServiceAccount (Lease in mailgw-system), resolved once its controllers run.
 */
export async function startInstalledOperator(c: Cluster, namespaces: string[], identity: string, ...flags: string[]): Promise<{ proc: ChildProcess; lines: Record<string, unknown>[] }> {
  const kubeconfig = await c.install({ namespaces: ['mailgw-system', ...namespaces.filter((n) => n !== 'mailgw-system')], rbac: true });
  const op = startOperatorProcess(kubeconfig, '--lease-namespace', 'mailgw-system', '--identity', identity, ...flags);
  await eventually('controllers started', () => op.lines.find((l) => l.event === 'controllers-started'), 60_000);
  return op;
}

