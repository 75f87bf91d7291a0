/**
 * SIEM export (issue 17, acceptance 4): a real rsyslog on loopback receives
 * CEF over syslog from gateways sending over UDP, TCP and TLS (RFC 5425,
 * the collector's certificate from a test CA the gateway trusts): a
 * delivered, a deleted and a refused message, and a backup release by an
 * administrator. The signatures and extension keys that arrive are the
 * ones docs/operations.md lists.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildConfig, startGateway, tempDir, type Running } from './helpers/config.ts';
import { makePeerCerts } from './helpers/certs.ts';
import { missing } from './helpers/requirements.ts';
import { startRsyslog, type Rsyslog } from './helpers/rsyslog.ts';
import { startSink, type Sink } from './helpers/sink.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';
import { submit } from './helpers/submit.ts';
import { eventually } from './helpers/wait.ts';
import { SIGNATURES } from '../gateway/traffic/cef.ts';

const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;

/** A CEF line's signature and extension fields (keys and unescaped values). */
function parseCef(line: string): { signature: string; name: string; severity: number; ext: Map<string, string> } {
  const parts = line.slice(line.indexOf('CEF:0|')).split(/(?<!\\)\|/);
  const ext = new Map<string, string>();
  for (const m of parts.slice(7).join('|').matchAll(/(\w+)=((?:\\.|[^\\])*?)(?=\s\w+=|$)/g)) ext.set(m[1]!, m[2]!.replace(/\\(.)/g, '$1'));
  return { signature: parts[4]!, name: parts[5]!, severity: Number(parts[6]), ext };
}

describe('SIEM export as CEF over syslog to a real rsyslog', () => {
  let rsyslog: Rsyslog | undefined;
  let internal: Sink;
  const gws: Partial<Record<'UDP' | 'TCP' | 'TLS', Running>> = {};
  const stateDirs: Record<string, string> = {};
  before(async () => {
    const certs = makePeerCerts(['127.0.0.1']);
    rsyslog = await startRsyslog({ cert: certs.kinds.valid.cert, key: certs.kinds.valid.key, ca: certs.ca });
    internal = await startSink();
    if (!rsyslog) return;
    const secrets = tempDir('mailgw-secrets-');
    mkdirSync(join(secrets, 'siem-ca'));
    writeFileSync(join(secrets, 'siem-ca', 'ca.crt'), certs.ca);
    for (const transport of ['UDP', 'TCP', 'TLS'] as const) {
      stateDirs[transport] = tempDir(`mailgw-siem-${transport}-`);
      gws[transport] = await startGateway(buildConfig({
        spec: {
          integration: 'Direct', recipientVerification: { mode: 'DoNotReject' }, tls: { outbound: { mode: 'None' } }, limits: { maxHops: 10 },
          defaultRule: { backup: true }, rules: [{ name: 'drop', recipients: ['trash@corp.test'], mode: 'Delete' }],
          siem: { syslog: { host: '127.0.0.1', port: rsyslog.ports[transport], transport, ...(transport === 'TLS' ? { ca: { secretName: 'siem-ca' } } : {}) } },
        },
        domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: internal.port } }],
      }, { secretsDir: secrets }), stateDirs[transport], '127.0.0.1', { deliver: true });
    }
  });
  after(async () => {
    for (const g of Object.values(gws)) await g?.close();
    await internal?.close();
    await rsyslog?.stop();
  });
  const skip = (t: TestContext) => {
    if (!rsyslog) missing(t, 'rsyslogd (Debian packages rsyslog and rsyslog-gnutls)');
    return !rsyslog;
  };
  const cef = (transport: 'UDP' | 'TCP' | 'TLS') => rsyslog!.received(transport).filter((l) => l.includes('CEF:0|')).map(parseCef);

  it('over TLS: a delivered, a deleted and a refused message, and a backup release, each with its fields', async (t) => {
    if (skip(t)) return;
    const g = gws.TLS!;
    const delivered = await submit(g.port, { from: 'statements@bank.test', to: 'alice@corp.test', subject: 'Your statement | 50% = more', source: '127.0.0.2' });
    const deleted = await submit(g.port, { from: 'spam@shop.test', to: 'trash@corp.test', source: '127.0.0.2' });
    const c = await SmtpDialog.open(g.port, '127.0.0.2');
    await c.begin('loop@bank.test');
    await c.cmd('RCPT TO:<alice@corp.test>');
    await c.cmd('DATA');
    const refused = await c.cmd(`${'Received: from a by b; Tue, 8 Dec 2026 09:00:00 +0000\r\n'.repeat(12)}Subject: loop\r\n\r\nx\r\n.`);
    c.close();
    assert.equal(refused.code, 554);
    const backups = JSON.parse((await run(process.execPath, [join(ROOT, 'bin/mailgw.js'), 'backup', 'list', '--state-dir', stateDirs.TLS!, '--output', 'json'], { encoding: 'utf8' })).stdout) as { id: string; qid: string }[];
    const backup = backups.find((b) => b.qid === delivered)!;
    await run(process.execPath, [join(ROOT, 'bin/mailgw.js'), 'backup', 'release', backup.id, '--to', 'carol@corp.test', '--state-dir', stateDirs.TLS!]);

    const events = await eventually('the four events at rsyslog', () => {
      const got = cef('TLS');
      const find = (sig: string, pred: (e: Map<string, string>) => boolean = () => true) => got.find((e) => e.signature === sig && pred(e.ext));
      const all = {
        delivered: find('mail.delivered', (e) => e.get('duser') === 'alice@corp.test' && e.get('externalId') === delivered),
        deleted: find('mail.deleted', (e) => e.get('externalId') === deleted),
        rejected: find('mail.rejected', (e) => e.get('suser') === 'loop@bank.test'),
        released: find('audit.action', (e) => e.get('cs4') === backup.id),
      };
      return Object.values(all).every(Boolean) ? all : undefined;
    }, 20_000);
    assert.equal(events.delivered!.name, 'Message delivered');
    assert.equal(events.delivered!.ext.get('suser'), 'statements@bank.test');
    assert.match(events.delivered!.ext.get('dhost')!, /127\.0\.0\.1/);
    assert.equal(events.delivered!.ext.get('outcome'), 'delivered');
    assert.equal(events.deleted!.ext.get('duser'), 'trash@corp.test');
    assert.equal(events.deleted!.ext.get('act'), 'Delete');
    assert.equal(events.rejected!.ext.get('src'), '127.0.0.2');
    assert.match(events.rejected!.ext.get('reason')!, /5\.4\.6 Too many hops/);
    assert.equal(events.released!.ext.get('suser'), 'admin-socket');
    assert.equal(events.released!.ext.get('request'), `POST /v1/backup/${backup.id}/release`);
    assert.equal(events.released!.ext.get('externalId'), delivered, 'the release names the original message');
    // The subject went through CEF escaping and back: | and = survive.
    const arrival = cef('TLS').find((e) => e.ext.get('externalId') === delivered && e.signature === 'mail.delivered');
    assert.ok(arrival);
    const raw = rsyslog!.received('TLS').find((l) => l.includes('mail.delivered'))!;
    assert.match(raw, /^CEF:0\|mailgw\|mailgw\|[\d.]+\|mail\.delivered\|Message delivered\|3\|rt=\d+ /);
  });

  it('over UDP and TCP as well', async (t) => {
    if (skip(t)) return;
    for (const transport of ['UDP', 'TCP'] as const) {
      const qid = await submit(gws[transport]!.port, { from: 'a@bank.test', to: 'alice@corp.test', source: '127.0.0.2' });
      await eventually(`${transport}: the delivery at rsyslog`, () => cef(transport).find((e) => e.signature === 'mail.delivered' && e.ext.get('externalId') === qid), 20_000);
    }
  });

  it('docs/operations.md lists every signature with its name and severity, and every field that arrived', (t) => {
    if (skip(t)) return;
    const doc = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
    for (const [sig, [name, severity]] of Object.entries(SIGNATURES)) {
      assert.match(doc, new RegExp(`\\| \`${sig.replace('.', '\\.')}\` \\| ${name} \\| ${severity} \\|`), `${sig} in the docs`);
    }
    const keys = new Set(['UDP', 'TCP', 'TLS'].flatMap((tr) => cef(tr as 'TLS').flatMap((e) => [...e.ext.keys()])));
    assert.ok(keys.size >= 10);
    const fieldCells = [...doc.matchAll(/^\| (`[^|]*) \|/gm)].map((m) => m[1]!);
    for (const k of keys) assert.ok(fieldCells.some((c) => c.includes(`\`${k}\``)), `field ${k} in the docs`);
  });
});
