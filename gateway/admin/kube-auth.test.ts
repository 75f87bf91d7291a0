import { it } from 'node:test';
import assert from 'node:assert/strict';
import { accessFor, KubernetesAuthenticator, type Reviews } from './kube-auth.ts';

it('accessFor: each permission is one verb on one subresource of this MailGateway', () => {
  assert.deepEqual(accessFor('view', 'mail', 'gw'), { group: 'mailgw.io', resource: 'mailgateways', subresource: 'messages', verb: 'get', namespace: 'mail', name: 'gw' });
  assert.deepEqual(accessFor('operate', 'mail', 'gw'), { group: 'mailgw.io', resource: 'mailgateways', subresource: 'queue', verb: 'update', namespace: 'mail', name: 'gw' });
  assert.deepEqual(accessFor('release', 'mail', 'gw'), { group: 'mailgw.io', resource: 'mailgateways', subresource: 'backups', verb: 'release', namespace: 'mail', name: 'gw' });
});

it('KubernetesAuthenticator: one review per token and per permission while cached; unauthenticated tokens are nobody', async () => {
  const calls: string[] = [];
  const reviews: Reviews = {
    whoAmI: async (token) => {
      calls.push(`token ${token}`);
      return token === 'good' ? 'alice' : undefined;
    },
    canI: async (token, c) => {
      calls.push(`sar ${token} ${c.verb} ${c.subresource} ${c.namespace}/${c.name}`);
      return c.verb === 'get';
    },
  };
  const auth = new KubernetesAuthenticator(reviews, { namespace: 'mail', name: 'gw' });
  assert.equal(await auth.authenticate('bad'), undefined);
  const who = (await auth.authenticate('good'))!;
  assert.equal(who.user, 'alice');
  assert.equal(await who.can('view'), true);
  assert.equal(await who.can('operate'), false);
  assert.equal(await (await auth.authenticate('good'))!.can('view'), true);
  assert.deepEqual(calls, ['token bad', 'token good', 'sar good get messages mail/gw', 'sar good update queue mail/gw']);
});
