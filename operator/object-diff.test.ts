import { it } from 'node:test';
import assert from 'node:assert/strict';
import { holds } from './object-diff.ts';

it('holds: fields the API server defaults inside lists are not drift; changed, missing or extra elements are', () => {
  const desired = { spec: { containers: [{ name: 'gw', image: 'a', env: [{ name: 'P', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] }], volumes: [{ name: 'c', configMap: { name: 'x' } }], emptyDir: {} } };
  const live = { spec: { containers: [{ name: 'gw', image: 'a', imagePullPolicy: 'IfNotPresent', env: [{ name: 'P', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } }] }], volumes: [{ name: 'c', configMap: { name: 'x', defaultMode: 420 } }], emptyDir: {} }, status: {} };
  assert.equal(holds(live, desired), true);
  assert.equal(holds({ ...live, spec: { ...live.spec, containers: [{ ...live.spec.containers[0], image: 'b' }] } }, desired), false, 'a changed field');
  assert.equal(holds({ ...live, spec: { ...live.spec, volumes: [...live.spec.volumes, { name: 'extra' }] } }, desired), false, 'an extra element');
  assert.equal(holds({ spec: { containers: [] } }, desired), false, 'missing');
  assert.equal(holds(undefined, { a: 1 }), false);
});
