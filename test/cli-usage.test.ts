/**
 * What a new user meets on the command line (issue 13, items 13 and 14):
 * every subcommand answers --help with its own flags; the global help lists
 * every flag every command accepts; a misspelt field gets a suggestion;
 * lint findings carry file and line; usage errors say their prefix once;
 * `mailgw operator` without a cluster exits 1 with one clear line.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HELP } from '../cli/main.ts';
import { UP_FLAGS } from '../cli/cmd-up.ts';
import { GATEWAY_FLAGS } from '../cli/cmd-gateway.ts';
import { OPERATOR_FLAGS } from '../cli/cmd-operator.ts';
import { VALIDATE_FLAGS } from '../cli/cmd-validate.ts';
import { RENDER_FLAGS } from '../cli/cmd-render.ts';
import { QUEUE_FLAGS } from '../cli/cmd-queue.ts';
import { BACKUP_FLAGS } from '../cli/cmd-backup.ts';
import { TRAFFIC_FLAGS } from '../cli/cmd-traffic.ts';
import { CONSOLE_FLAGS } from '../cli/cmd-console.ts';
import { tempDir } from './helpers/config.ts';
import { closedPort } from './helpers/ports.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const mailgw = (args: string[], env: Record<string, string | undefined> = {}) => {
  const e = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete e[k];
  return spawnSync(process.execPath, [join(ROOT, 'bin/mailgw.js'), ...args], { encoding: 'utf8', timeout: 30_000, env: e });
};

const FLAGS: Record<string, readonly string[]> = {
  up: UP_FLAGS, gateway: GATEWAY_FLAGS, operator: OPERATOR_FLAGS, validate: VALIDATE_FLAGS, render: RENDER_FLAGS, queue: QUEUE_FLAGS, backup: BACKUP_FLAGS, traffic: TRAFFIC_FLAGS, console: CONSOLE_FLAGS,
};

describe('mailgw CLI usage', () => {
  it('every subcommand prints its own flags for --help and exits 0', () => {
    for (const [name, flags] of Object.entries(FLAGS)) {
      const r = mailgw([name, '--help']);
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^usage: mailgw ${name} `));
      for (const f of flags) assert.ok(r.stdout.includes(`--${f}`), `${name} --help lists --${f}`);
    }
  });

  it('the global help lists every flag of every command', () => {
    const r = mailgw(['--help']);
    assert.equal(r.status, 0);
    for (const [name, flags] of Object.entries(FLAGS)) {
      assert.ok(HELP[name], name);
      for (const f of flags) assert.ok(HELP[name]!.includes(`--${f}`) && r.stdout.includes(`--${f}`), `${name} --${f}`);
    }
  });

  it('a usage error names the command once', () => {
    const r = mailgw(['validate']);
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trim(), 'mailgw validate: needs -f PATH (manifest files or directories)');
  });

  it('a misspelt field gets the nearest known one; lint findings carry file and line', () => {
    const dir = tempDir();
    const file = join(dir, 'gw.yaml');
    writeFileSync(file, [
      'apiVersion: mailgw.io/v1alpha1', 'kind: MailGateway', 'metadata: { name: gw, namespace: mail }', 'spec:', '  relayhost: { host: 192.0.2.1 }', '  limits:', '    maxHop: 10',
    ].join('\n'));
    const r = mailgw(['validate', '-f', file]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /line 5: spec: MailGateway: Unrecognized key: "relayhost" \(did you mean "relayHost"\?\)/);
    assert.match(r.stdout, /line 7: spec\.limits: MailGateway: Unrecognized key: "maxHop" \(did you mean "maxHops"\?\)/);
    const nets = join(dir, 'nets.yaml');
    writeFileSync(nets, [
      'apiVersion: mailgw.io/v1alpha1', 'kind: MailGateway', 'metadata: { name: gw, namespace: mail }', 'spec: {}', '---',
      'apiVersion: mailgw.io/v1alpha1', 'kind: TrustedNetwork', 'metadata: { name: n, namespace: mail }', 'spec:', '  gatewayRef: { name: gw }', '  cidrs:', '    - 10.0.0.0/8', '    - 10.1.2.3/8',
    ].join('\n'));
    const v = mailgw(['validate', '-f', nets]);
    assert.equal(v.status, 0, v.stdout);
    assert.ok(v.stdout.includes(`warning: ${nets}, document 2, line 13: spec.cidrs[1]: MGW207 TrustedNetwork/mail/n: 10.1.2.3/8 has host bits set: it means 10.0.0.0/8.`), v.stdout);
  });

  it('mailgw operator without a cluster, with a missing kubeconfig, or with an API server that does not answer: exit 1, one line', () => {
    const none = mailgw(['operator'], { KUBECONFIG: undefined, KUBERNETES_SERVICE_HOST: undefined });
    assert.equal(none.status, 1);
    assert.equal(none.stderr.trim().split('\n').length, 1, none.stderr);
    assert.match(none.stderr, /^mailgw operator: no cluster: not running in a pod/);
    const missing = mailgw(['operator', '--kubeconfig', '/nonexistent/kubeconfig']);
    assert.equal(missing.status, 1);
    assert.equal(missing.stderr.trim(), 'mailgw operator: kubeconfig /nonexistent/kubeconfig: no such file');
  });

  it('mailgw operator against a closed port exits 1 with one line', async () => {
    const dir = tempDir();
    const kc = join(dir, 'kubeconfig');
    writeFileSync(kc, `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:${await closedPort()}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`);
    const r = mailgw(['operator', '--kubeconfig', kc]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^mailgw operator: cannot reach the API server at https:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  });
});
