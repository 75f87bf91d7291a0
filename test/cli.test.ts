/**
 * The mailgw CLI as a user runs it: `up` on the quickstart example accepts
 * mail; invalid manifests and configs exit non-zero, print every error with
 * its location, and start nothing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { buildConfig, tempDir } from './helpers/config.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const mailgw = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/mailgw.js'), ...args], { encoding: 'utf8', timeout: 30_000 });

const BAD = `apiVersion: mailgw.io/v1alpha1
kind: MailGateway
metadata:
  name: gw
spec:
  integration: Sideways
  relayHost:
    host: "not a host"
    port: 70000
  limits:
    messageSize: lots
---
apiVersion: mailgw.io/v1alpha1
kind: TrustedNetwork
metadata:
  name: nets
spec:
  gatewayRef: { name: gw }
  cidrs: ["10.0.0.0/33", "192.168.1.0/24"]
  extra: true
`;

describe('mailgw CLI', () => {
  it('up: refuses invalid manifests with every error located (file, document, line, field) and starts nothing', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bad.yaml'), BAD);
    const r = mailgw('up', '-f', dir, '--listen', '127.0.0.1:0', '--state-dir', join(dir, 'state'));
    assert.equal(r.status, 1);
    const file = join(dir, 'bad.yaml');
    const expected = [
      `${file}, document 1, line 6: spec.integration:`,
      `${file}, document 1, line 8: spec.relayHost.host:`,
      `${file}, document 1, line 9: spec.relayHost.port:`,
      `${file}, document 1, line 11: spec.limits.messageSize:`,
      `${file}, document 2, line 19: spec.cidrs[0]:`,
      `${file}, document 2, line 20: spec: TrustedNetwork: Unrecognized key`,
    ];
    for (const e of expected) assert.ok(r.stderr.includes(e), `stderr names "${e}":\n${r.stderr}`);
    assert.match(r.stderr, /nothing started/);
    assert.doesNotMatch(r.stdout, /listening/);
  });

  it('up: a YAML syntax error is reported with its line', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'broken.yaml'), 'kind: MailGateway\nmetadata: [unclosed\n');
    const r = mailgw('up', '-f', join(dir, 'broken.yaml'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /broken\.yaml, document 1, line \d+: YAML: /);
  });

  it('up: a missing path and usage errors exit non-zero', () => {
    assert.equal(mailgw('up', '-f', '/nonexistent/path.yaml').status, 1);
    assert.equal(mailgw('up').status, 2);
    assert.equal(mailgw('up', '-f', 'examples/quickstart', '--listen', 'nonsense').status, 2);
    assert.equal(mailgw('frobnicate').status, 2);
  });

  it('gateway: an invalid rendered config is refused with the field path', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ version: 1, hostname: '' }));
    const r = mailgw('gateway', '--config', join(dir, 'config.json'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /config\.json: hostname: /);
    assert.match(r.stderr, /nothing started/);
  });

  it('gateway: handover flags that cannot work are refused before anything starts', () => {
    const dir = tempDir();
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify(buildConfig({ domains: ['corp.test'] })));
    writeFileSync(join(dir, 'short'), 'tooshort\n');
    writeFileSync(join(dir, 'token'), 'a-long-enough-handover-token-0123456789\n');
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'POD_NAME' && k !== 'POD_NAMESPACE'));
    const run = (...flags: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/mailgw.js'), 'gateway', '--config', config, '--listen', '127.0.0.1:0', '--state-dir', join(dir, 'state'), ...flags], { encoding: 'utf8', timeout: 30_000, env });
    const cases: [string[], RegExp][] = [
      [['--handover-listen', '127.0.0.1:0', '--handover-peers', '127.0.0.1:1'], /needs --handover-listen and --handover-token-file/],
      [['--handover-listen', '127.0.0.1:0', '--handover-token-file', join(dir, 'missing'), '--handover-peers', '127.0.0.1:1'], /--handover-token-file: .*ENOENT/],
      [['--handover-listen', '127.0.0.1:0', '--handover-token-file', join(dir, 'short'), '--handover-peers', '127.0.0.1:1'], /at least 16 characters/],
      [['--handover-listen', '127.0.0.1:0', '--handover-token-file', join(dir, 'token')], /exactly one of --handover-statefulset and --handover-peers/],
      [['--handover-listen', '127.0.0.1:0', '--handover-token-file', join(dir, 'token'), '--handover-peers', 'nohost'], /--handover-peers: expected HOST:PORT/],
      [['--handover-listen', '127.0.0.1:0', '--handover-token-file', join(dir, 'token'), '--handover-statefulset', 'gw-gateway'], /needs POD_NAME and POD_NAMESPACE/],
    ];
    for (const [flags, message] of cases) {
      const r = run(...flags);
      assert.equal(r.status, 2, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  it('up: runs the quickstart example and accepts mail for its local domain', async () => {
    const dir = tempDir();
    const proc = spawn(process.execPath, [join(ROOT, 'bin/mailgw.js'), 'up', '-f', join(ROOT, 'examples/quickstart'), '--listen', '127.0.0.1:0', '--state-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        proc.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /"event":"listening".*?"port":(\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        proc.once('exit', (code) => reject(new Error(`exited with ${code}`)));
      });
      const c = await SmtpDialog.open(port, '127.0.0.1');
      await c.begin();
      assert.equal((await c.cmd('RCPT TO:<alice@example.test>')).code, 250);
      assert.equal((await c.cmd('DATA')).code, 354);
      assert.match((await c.cmd('Subject: hi\r\n\r\nhello\r\n.')).text, /^2\.0\.0 Ok: queued as /);
      c.close();
    } finally {
      proc.kill('SIGTERM');
      const code = await new Promise((r) => proc.once('exit', r));
      assert.equal(code, 0, 'clean exit on SIGTERM');
    }
  });

  it('validate: exit 0 with a summary for a good example, 1 with findings for the misconfigured one; --output json', () => {
    const good = mailgw('validate', '-f', join(ROOT, 'examples/behind-edge-gateway-no-recipient-verification'));
    assert.equal(good.status, 0);
    assert.match(good.stdout, /1 MailGateway\(s\), 2 LocalDomain\(s\), 1 TrustedNetwork\(s\): 0 error\(s\), 0 warning\(s\)/);
    const bad = mailgw('validate', '-f', join(ROOT, 'examples/misconfigured'));
    assert.equal(bad.status, 1);
    assert.match(bad.stdout, /^error: \S+\.yaml, document \d+, line \d+: spec\.cidrs\[0\]: MGW201 TrustedNetwork\/mail\/everyone: 0\.0\.0\.0\/0 trusts a prefix shorter than \/8/m);
    const json = JSON.parse(mailgw('validate', '-f', join(ROOT, 'examples/misconfigured'), '--output', 'json').stdout) as { errors: number; warnings: number; findings: { code: string }[] };
    assert.equal(json.errors, 4);
    assert.equal(json.warnings, 9);
    assert.ok(json.findings.some((f) => f.code === 'MGW204'));
  });

  it('render: prints the objects as YAML; refuses a gateway with lint errors', () => {
    const r = mailgw('render', '-f', join(ROOT, 'examples/direct'));
    assert.equal(r.status, 0, r.stderr);
    const docs = r.stdout.split(/^---$/m).map((d) => parseYaml(d) as { kind: string });
    assert.deepEqual(docs.map((d) => d.kind), ['ConfigMap', 'Service', 'Service', 'ServiceAccount', 'Role', 'RoleBinding', 'StatefulSet', 'PodDisruptionBudget', 'NetworkPolicy']);
    const bad = mailgw('render', '-f', join(ROOT, 'examples/misconfigured'), '--gateway', 'gateway');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /MGW201/);
  });

  it('up: refuses to start an open relay (lint error)', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'open.yaml'), `apiVersion: mailgw.io/v1alpha1
kind: MailGateway
metadata: { name: gw }
spec: { integration: BehindEdgeGateway, relayHost: { host: 127.0.0.1 } }
---
apiVersion: mailgw.io/v1alpha1
kind: TrustedNetwork
metadata: { name: all }
spec: { gatewayRef: { name: gw }, cidrs: ["::/0"] }
`);
    const r = mailgw('up', '-f', dir, '--listen', '127.0.0.1:0', '--state-dir', join(dir, 'state'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /MGW201 .*::\/0 trusts a prefix shorter than \/8/);
    assert.match(r.stderr, /nothing started/);
  });
});

