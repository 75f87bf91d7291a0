import { it } from 'node:test';
import assert from 'node:assert/strict';
import { decideRetirement, parsePeer, peerAddress } from './retire-check.ts';

it('parses peers and fills the peer address template', () => {
  assert.deepEqual(parsePeer('10.0.0.5:2526'), { host: '10.0.0.5', port: 2526 });
  assert.deepEqual(parsePeer('[fd00::1]:2526'), { host: 'fd00::1', port: 2526 });
  assert.throws(() => parsePeer('nohost'), /HOST:PORT/);
  assert.throws(() => parsePeer('h:70000'), /HOST:PORT/);
  assert.deepEqual(peerAddress('{pod}.{statefulset}-headless.{namespace}.svc:2526', { statefulSet: 'mx-gateway', namespace: 'mail', ordinal: 1 }),
    { host: 'mx-gateway-1.mx-gateway-headless.mail.svc', port: 2526 });
});

it('static peers make every stop final; a pod name that is not of the StatefulSet is never retired', async () => {
  assert.equal((await decideRetirement({ kind: 'static', peers: [{ host: '127.0.0.1', port: 1 }] })).retiring, true);
  assert.equal((await decideRetirement({ kind: 'static', peers: [] })).retiring, false);
  const other = await decideRetirement({ kind: 'kubernetes', statefulSet: 'mx-gateway', namespace: 'mail', pod: 'something-else-0', peerAddress: '{pod}:1' });
  assert.deepEqual([other.retiring, /not a pod of StatefulSet/.test(other.reason)], [false, true]);
});

it('an API server that cannot be asked means a restart: the spool stays', async () => {
  const { closedPort } = await import('../../test/helpers/ports.ts');
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const file = join(mkdtempSync(join(tmpdir(), 'mailgw-kc-')), 'kubeconfig');
  writeFileSync(file, `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:${await closedPort()}"}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`);
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = file;
  try {
    const plan = await decideRetirement({ kind: 'kubernetes', statefulSet: 'mx-gateway', namespace: 'mail', pod: 'mx-gateway-3', peerAddress: '{pod}:1', apiTimeoutMs: 3000 });
    assert.equal(plan.retiring, false);
    assert.match(plan.reason, /cannot read StatefulSet mx-gateway .*treated as a restart/);
  } finally {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  }
});
