import { it } from 'node:test';
import assert from 'node:assert/strict';
import { StaticDirectory } from './console-server.ts';

it('StaticDirectory.parse: gateways and their pods in order; bad entries refused with the entry named', async () => {
  const d = StaticDirectory.parse('mail/gw=http://127.0.0.1:1,http://127.0.0.1:2; other/x=https://10.0.0.1:8443');
  assert.deepEqual(await d.gateways(), [{ namespace: 'mail', name: 'gw' }, { namespace: 'other', name: 'x' }]);
  assert.deepEqual(await d.pods('t', { namespace: 'mail', name: 'gw' }), [{ pod: 'gw-0', url: 'http://127.0.0.1:1' }, { pod: 'gw-1', url: 'http://127.0.0.1:2' }]);
  assert.deepEqual(await d.pods('t', { namespace: 'mail', name: 'nope' }), []);
  assert.throws(() => StaticDirectory.parse('gw=http://127.0.0.1:1'), /expected NAMESPACE\/NAME=URL/);
  assert.throws(() => StaticDirectory.parse('mail/gw=127.0.0.1:1'), /is not a base URL/);
  assert.throws(() => StaticDirectory.parse('mail/gw=http://127.0.0.1:1/v1'), /is not a base URL/);
});

it('KubernetesDirectory: the MailGateways the caller may list, their pods by the rendered names; namespaces limit where it looks', async () => {
  const { KubernetesDirectory, podUrl } = await import('./console-server.ts');
  assert.deepEqual(podUrl({ namespace: 'mail', name: 'gw' }, 1, 8081), { pod: 'gw-gateway-1', url: 'http://gw-gateway-1.gw-gateway-headless.mail.svc:8081' });
  const asked: string[] = [];
  const list = async (token: string, ns?: string) => {
    asked.push(`${token} ${ns ?? '*'}`);
    if (ns === 'secret') throw Object.assign(new Error('forbidden'), { code: 403 });
    return [{ namespace: ns ?? 'mail', name: 'gw', replicas: 2 }];
  };
  const d = new KubernetesDirectory(list, { namespaces: ['mail', 'secret'], opsPort: 8081 });
  assert.deepEqual(await d.gateways('t'), [{ namespace: 'mail', name: 'gw' }], 'a namespace the caller may not list is left out');
  assert.deepEqual((await d.pods('t', { namespace: 'mail', name: 'gw' })).map((p) => p.pod), ['gw-gateway-0', 'gw-gateway-1']);
  assert.deepEqual(await d.pods('t', { namespace: 'other', name: 'gw' }), [], 'outside the namespaces: nothing');
  assert.deepEqual(await new KubernetesDirectory(list, { opsPort: 8081 }).gateways('u'), [{ namespace: 'mail', name: 'gw' }]);
  assert.deepEqual(asked, ['t mail', 't secret', 't mail', 'u *']);
});
