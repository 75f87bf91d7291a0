/**
 * The operations API in a cluster (issue 17, acceptance 3): a `mailgw
 * gateway` process serving it with --ops-listen asks the real
 * kube-apiserver, with each caller's own bearer token, who the token is
 * (SelfSubjectReview) and whether it may act on this MailGateway
 * (SelfSubjectAccessReview); the gateway's ServiceAccount holds no
 * permission for it. Roles grant the MailGateway's subresources messages
 * (get), queue (update) and backups (release): a viewer may look, an
 * operator may act, someone with no Role nothing, and a Role for another
 * gateway does not count here.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { startCluster, withoutCluster, type Cluster, CLUSTER_SUITE } from '../helpers/cluster.ts';
import { buildConfig, tempDir } from '../helpers/config.ts';
import { startMailgw, type MailgwProcess } from '../helpers/mailgw-process.ts';
import { KubernetesDirectory } from '../../console/console-server.ts';

const ROLES = `
apiVersion: v1
kind: ServiceAccount
metadata: { name: gw-gateway, namespace: mail }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: alice, namespace: mail }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: victor, namespace: mail }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: mallory, namespace: mail }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: mailgw-viewer, namespace: mail }
rules:
  - apiGroups: [mailgw.io]
    resources: [mailgateways/messages]
    resourceNames: [gw]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: mailgw-operator, namespace: mail }
rules:
  - apiGroups: [mailgw.io]
    resources: [mailgateways]
    verbs: [get, list]
  - apiGroups: [mailgw.io]
    resources: [mailgateways/messages]
    resourceNames: [gw]
    verbs: [get]
  - apiGroups: [mailgw.io]
    resources: [mailgateways/queue]
    resourceNames: [gw]
    verbs: [update]
  - apiGroups: [mailgw.io]
    resources: [mailgateways/backups]
    resourceNames: [gw]
    verbs: [release]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: victor-views, namespace: mail }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: mailgw-viewer }
subjects: [{ kind: ServiceAccount, name: victor, namespace: mail }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: alice-operates, namespace: mail }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: mailgw-operator }
subjects: [{ kind: ServiceAccount, name: alice, namespace: mail }]
`;

describe('operations API with Kubernetes authentication on a real kube-apiserver', CLUSTER_SUITE, () => {
  let cluster: Cluster | undefined;
  const gateways: MailgwProcess[] = [];
  const tokens: Record<string, string> = {};
  /** The operations API's base URL of the gateway named gw, and of one named other. */
  const base: Record<string, string> = {};
  before(async () => {
    cluster = await startCluster();
    if (!cluster) return;
    await cluster.install({ namespaces: ['mail'] });
    const file = join(cluster.dir, 'roles.yaml');
    writeFileSync(file, `${ROLES}---
apiVersion: mailgw.io/v1alpha1
kind: MailGateway
metadata: { name: gw, namespace: mail }
spec: { integration: BehindEdgeGateway, relayHost: { host: 192.0.2.1 }, replicas: 3 }
`);
    cluster.kubectl('apply', '-f', file);
    for (const who of ['alice', 'victor', 'mallory']) tokens[who] = cluster.kubectl('create', 'token', who, '-n', 'mail', '--duration', '1h').trim();
    const kubeconfig = cluster.serviceAccountKubeconfig('mail', 'gw-gateway');
    for (const name of ['gw', 'other']) {
      const dir = tempDir('mailgw-ops-auth-');
      const config = buildConfig({ spec: { integration: 'BehindEdgeGateway', relayHost: { host: '127.0.0.1', port: 9 } }, domains: ['corp.test'] });
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, gateway: { ...config.gateway, namespace: 'mail', name } }));
      const g = await startMailgw(['gateway', '--config', join(dir, 'config.json'), '--listen', '127.0.0.1:0', '--ops-listen', '127.0.0.1:0', '--state-dir', join(dir, 'state')], { KUBECONFIG: kubeconfig });
      gateways.push(g);
      const at = await g.waitFor('ops-listening');
      base[name] = `http://127.0.0.1:${String(at.port)}`;
    }
  });
  after(async () => {
    for (const g of gateways) {
      g.proc.kill('SIGTERM');
      await g.exited;
    }
    await cluster?.stop();
  });
  const skip = (t: TestContext) => withoutCluster(t, cluster);
  const call = async (gateway: string, method: string, path: string, token: string) => (await fetch(`${base[gateway]}${path}`, { method, headers: { authorization: `Bearer ${token}` } })).status;

  it('a viewer may look and not act; an operator may act; a token without a Role, nothing; a token the API server does not know, 401', async (t) => {
    if (skip(t)) return;
    assert.equal(await call('gw', 'GET', '/v1/queue', tokens.victor!), 200);
    assert.equal(await call('gw', 'GET', '/v1/traffic', tokens.victor!), 200);
    assert.equal(await call('gw', 'POST', '/v1/queue/flush', tokens.victor!), 403);
    assert.equal(await call('gw', 'POST', '/v1/backup/ABCDEF123456/release', tokens.victor!), 403);
    assert.equal(await call('gw', 'POST', '/v1/queue/flush', tokens.alice!), 200);
    assert.equal(await call('gw', 'POST', '/v1/backup/ABCDEF123456/release', tokens.alice!), 404, 'allowed to release; there is no such backup');
    assert.equal(await call('gw', 'GET', '/v1/queue', tokens.mallory!), 403);
    assert.equal(await call('gw', 'GET', '/v1/queue', `${tokens.alice!.slice(0, -4)}AAAA`), 401, 'a forged signature');
    assert.equal(await call('gw', 'GET', '/v1/queue', 'not-a-token'), 401);
  });

  it('a Role for one MailGateway gives nothing on another', async (t) => {
    if (skip(t)) return;
    assert.equal(await call('other', 'GET', '/v1/queue', tokens.alice!), 403);
    assert.equal(await call('other', 'POST', '/v1/queue/flush', tokens.alice!), 403);
  });

  it('the console finds the MailGateways and their pods through the API server with the caller\'s token, as far as the caller may list', async (t) => {
    if (skip(t)) return;
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = cluster!.serviceAccountKubeconfig('mail', 'mallory'); // only its server and CA are used
    try {
      const dir = await KubernetesDirectory.fromKubeconfig({ namespaces: ['mail'], opsPort: 8081 });
      assert.deepEqual(await dir.gateways(tokens.alice!), [{ namespace: 'mail', name: 'gw' }]);
      assert.deepEqual((await dir.pods(tokens.alice!, { namespace: 'mail', name: 'gw' })).map((p) => p.url), [0, 1, 2].map((i) => `http://gw-gateway-${i}.gw-gateway-headless.mail.svc:8081`));
      assert.deepEqual(await dir.gateways(tokens.victor!), [], 'a viewer without list on mailgateways finds none');
      // What the operator writes into the status comes along (the gateway page shows it).
      await cluster!.rest('PATCH', '/apis/mailgw.io/v1alpha1/namespaces/mail/mailgateways/gw/status', { status: { replicas: 3, readyReplicas: 2 } }, 'application/merge-patch+json');
      const [withStatus] = await dir.gateways(tokens.alice!);
      assert.deepEqual([withStatus!.status?.replicas, withStatus!.status?.readyReplicas], [3, 2]);
      const cluster_ = await KubernetesDirectory.fromKubeconfig({ opsPort: 8081 });
      await assert.rejects(cluster_.gateways(tokens.alice!), (err: { code?: number }) => err.code === 403, 'alice may not list cluster-wide');
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });

  it('the reviews were made on the API server as each caller, none as the gateway\'s ServiceAccount; refusals are logged', (t) => {
    if (skip(t)) return;
    const by = (who: string, resource: string) => cluster!.audit().filter((e) => e.user.username === `system:serviceaccount:mail:${who}` && e.objectRef?.resource === resource && e.verb === 'create');
    for (const who of ['alice', 'victor', 'mallory']) {
      assert.ok(by(who, 'selfsubjectreviews').length >= 1, `${who}: who am I`);
      assert.ok(by(who, 'selfsubjectaccessreviews').length >= 1, `${who}: may I`);
    }
    assert.deepEqual(cluster!.audit().filter((e) => e.user.username === 'system:serviceaccount:mail:gw-gateway').map((e) => e.requestURI), [], 'the gateway asked nothing as itself');
    const denied = gateways[0]!.lines.filter((l) => l.event === 'admin-denied').map((l) => `${String(l.actor)} ${String(l.permission)}`);
    assert.ok(denied.includes('system:serviceaccount:mail:victor operate'), denied.join(', '));
    assert.ok(denied.includes('system:serviceaccount:mail:mallory view'), denied.join(', '));
  });
});
