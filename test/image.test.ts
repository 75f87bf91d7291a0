/**
 * The image as the Dockerfile describes it (no container runtime or image
 * build runs here, see docs/testing.md): the ports the rendered pods use are
 * exposed, and `mailgw` is on PATH so `kubectl exec POD -- mailgw queue list`
 * (docs/operations.md) works.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CONTAINER_PORT, HANDOVER_PORT, METRICS_PORT } from '../operator/render-objects.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const dockerfile = readFileSync(`${ROOT}Dockerfile`, 'utf8');

it('the image exposes the SMTP, handover and metrics ports the operator renders', () => {
  const exposed = new Set([...dockerfile.matchAll(/^EXPOSE (.+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/).map(Number)));
  for (const port of [CONTAINER_PORT, HANDOVER_PORT, METRICS_PORT, 8080]) assert.ok(exposed.has(port), `EXPOSE ${port}`);
});

it('mailgw is on PATH in the image, and the launcher is executable by its shebang', () => {
  assert.match(dockerfile, /^RUN ln -s \/app\/bin\/mailgw\.js \/usr\/local\/bin\/mailgw$/m);
  assert.match(dockerfile, /^COPY --chmod=0755 bin\/mailgw\.js /m);
  assert.match(readFileSync(`${ROOT}bin/mailgw.js`, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  assert.ok(dockerfile.indexOf('ln -s /app/bin/mailgw.js') < dockerfile.indexOf('USER 10001'), 'linked as root, before dropping privileges');
});
