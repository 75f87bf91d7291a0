import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RuleTable, type Rule } from './rules.ts';
import { strongest, decide, type Action } from './verdict.ts';
import { buildConfig } from '../../test/helpers/config.ts';

const rule = (name: string, senders: string[], recipients: string[], mode: Rule['mode'], backup = false): Rule => ({ name, senders, recipients, mode, backup });

describe('rules', () => {
  const table = new RuleTable([
    rule('allow-partner', ['*@partner.example', '192.0.2.0/24'], [], 'Skip'),
    rule('deny-spammer', ['/^.*@spam[0-9]+\\.example$/'], [], 'Reject'),
    rule('ceo-backup', [], ['ceo@corp.example'], 'Scan', true),
    rule('drop-noreply', ['noreply@*'], ['alert?@corp.example'], 'Delete'),
    rule('partner-again', ['*@partner.example'], [], 'Reject'),
  ], { mode: 'Scan', backup: false });

  // [sender, client IP, recipient, rule chosen, mode]
  const cases: [string, string, string, string, string][] = [
    ['bob@partner.example', '198.51.100.1', 'x@corp.example', 'allow-partner', 'Skip'],
    ['BOB@PARTNER.EXAMPLE', '198.51.100.1', 'x@corp.example', 'allow-partner', 'Skip'],
    ['anyone@else.example', '192.0.2.77', 'x@corp.example', 'allow-partner', 'Skip'],
    ['anyone@else.example', '::ffff:192.0.2.77', 'x@corp.example', 'allow-partner', 'Skip'],
    ['x@spam42.example', '198.51.100.1', 'x@corp.example', 'deny-spammer', 'Reject'],
    ['x@spam.example', '198.51.100.1', 'x@corp.example', 'default', 'Scan'],
    ['x@else.example', '198.51.100.1', 'CEO@corp.example', 'ceo-backup', 'Scan'],
    ['noreply@svc.example', '198.51.100.1', 'alerts@corp.example', 'drop-noreply', 'Delete'],
    ['noreply@svc.example', '198.51.100.1', 'alertx@corp.example', 'drop-noreply', 'Delete'],
    ['noreply@svc.example', '198.51.100.1', 'alert@corp.example', 'default', 'Scan'],
    ['noreply@svc.example', '198.51.100.1', 'alertss@corp.example', 'default', 'Scan'],
    ['', '198.51.100.1', 'x@corp.example', 'default', 'Scan'],
    ['x@partner.example.evil', '198.51.100.1', 'x@corp.example', 'default', 'Scan'],
  ];
  it('first match wins, sender AND recipient, masks, regex, CIDR, default', () => {
    const got = cases.map(([s, ip, r]) => {
      const c = table.choose(s, ip, r);
      return [s, ip, r, c.name, c.mode];
    });
    assert.deepEqual(got, cases);
    assert.equal(table.choose('a@b.example', '1.2.3.4', 'ceo@corp.example').backup, true);
  });

  it('precedence across modules: Delete > Reject > DeleteAttachment > Skip', () => {
    const table2: [Action[], Action][] = [
      [[], 'Skip'], [['Skip'], 'Skip'], [['Skip', 'DeleteAttachment'], 'DeleteAttachment'],
      [['DeleteAttachment', 'Reject'], 'Reject'], [['Reject', 'Delete', 'Skip'], 'Delete'], [['Delete', 'DeleteAttachment'], 'Delete'],
    ];
    for (const [actions, want] of table2) assert.equal(strongest(actions), want, actions.join(','));
  });

  it('decides from module results with the configured actions', () => {
    const c = buildConfig({ spec: { integration: 'BehindEdgeGateway', protection: { antivirus: { enabled: true, actions: { infected: 'DeleteAttachment' } }, antispam: { enabled: true, actions: { spam: 'Skip' } }, contentFilter: { enabled: true, action: 'Reject' } } } });
    const v = decide({ av: { status: 'infected', name: 'X' }, spam: { status: 'spam', score: 20, action: 'reject', symbols: [] } }, c.protection, c.authentication);
    assert.equal(v.action, 'Delete', 'DeleteAttachment without a separable part falls back to Delete');
    assert.equal(v.tagSubject, true);
    const w = decide({ spam: { status: 'spam', score: 20, action: 'reject', symbols: [] }, content: { matched: true, reasons: ['x'], parts: [] } }, c.protection, c.authentication);
    assert.equal(w.action, 'Reject');
    const e = decide({ av: { status: 'error', error: 'down' } }, c.protection, c.authentication);
    assert.equal(e.tempfail, 'down');
    const pass = buildConfig({ spec: { protection: { onScannerFailure: 'Pass', antivirus: { enabled: true } } } });
    assert.equal(decide({ av: { status: 'error', error: 'down' } }, pass.protection, pass.authentication).tempfail, undefined);
  });
});
