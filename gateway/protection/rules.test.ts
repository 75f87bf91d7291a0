import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RuleTable, authOutcome, type MessageFacts, type Rule } from './rules.ts';
import { renderedRule } from '../../api/rule.ts';
import { protectionFor, authenticationFor, scanConfigFor } from './rule-settings.ts';
import { strongest, decide, type Action } from './verdict.ts';
import { buildConfig } from '../../test/helpers/config.ts';

const rule = (name: string, senders: string[], recipients: string[], mode: Rule['mode'], backup = false): Rule => ({ name, senders, recipients, mode, backup });
const facts = (o: Partial<MessageFacts> = {}): MessageFacts => ({ size: 1000, headers: new Map(), ...o });

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
    assert.deepEqual(v.findings, ['Virus', 'Spam']);
    assert.equal(v.virus, 'X');
    const w = decide({ spam: { status: 'spam', score: 20, action: 'reject', symbols: [] }, content: { matched: true, reasons: ['x'], parts: [] } }, c.protection, c.authentication);
    assert.equal(w.action, 'Reject');
    const e = decide({ av: { status: 'error', error: 'down' } }, c.protection, c.authentication);
    assert.equal(e.tempfail, 'down');
    const pass = buildConfig({ spec: { protection: { onScannerFailure: 'Pass', antivirus: { enabled: true } } } });
    assert.equal(decide({ av: { status: 'error', error: 'down' } }, pass.protection, pass.authentication).tempfail, undefined);
  });

  it('end-of-data conditions: deferred at RCPT, then chosen by size, headers and authentication results', () => {
    const t = new RuleTable([
      renderedRule.parse({ name: 'big', recipients: ['*@corp.example'], match: { size: { atLeast: 1_000_000 } }, mode: 'Delete' }),
      renderedRule.parse({ name: 'invoices', match: { headers: [{ name: 'Subject', pattern: '/\\binvoice\\b/' }, { name: 'X-Tag', pattern: 'fin*' }] }, mode: 'Skip' }),
      renderedRule.parse({ name: 'spoofed', match: { authentication: { spf: 'Fail' } }, mode: 'Reject' }),
      renderedRule.parse({ name: 'unchecked', match: { authentication: { dmarc: 'None' } }, mode: 'Scan', backup: true }),
    ], { mode: 'Scan', backup: false });
    assert.deepEqual(t.choose('a@x.example', '192.0.2.1', 'bob@corp.example'), { name: 'big', mode: 'Scan', backup: false, deferred: true });
    assert.equal(t.needsAuthFacts, true);
    const choose = (f: MessageFacts) => t.chooseWithFacts('a@x.example', '192.0.2.1', 'bob@corp.example', f).name;
    assert.equal(choose(facts({ size: 2_000_000 })), 'big');
    assert.equal(choose(facts({ headers: new Map([['subject', ['Your Invoice 42']], ['x-tag', ['Finance']]]) })), 'invoices');
    assert.equal(choose(facts({ headers: new Map([['subject', ['Your Invoice 42']]]) })), 'unchecked', 'every header condition must hold');
    assert.equal(choose(facts({ auth: { spf: 'Fail', dkim: 'None', dmarc: 'Fail' } })), 'spoofed');
    assert.equal(choose(facts({ auth: { spf: 'Pass', dkim: 'None', dmarc: 'Pass' } })), 'default');
    assert.equal(choose(facts()), 'unchecked', 'not checked (a trusted client): every result is None');
    assert.deepEqual([authOutcome('pass'), authOutcome('softfail'), authOutcome('fail'), authOutcome('temperror'), authOutcome(undefined)], ['Pass', 'Fail', 'Fail', 'None', 'None']);
  });

  it('no user pattern reaches the backtracking RegExp: every one runs on re2js', () => {
    const seen: string[] = [];
    const Original = globalThis.RegExp;
    globalThis.RegExp = new Proxy(Original, { construct(target, args: [string | RegExp, string?]) {
      seen.push(String(args[0]));
      return new target(...args);
    } });
    try {
      const t = new RuleTable([
        renderedRule.parse({ name: 'evil', senders: ['/(x+x+)+y/', '*@*.example'], recipients: ['/^(a|aa)+$/'], match: { headers: [{ name: 'Subject', pattern: '/(a+)+$/' }] } }),
      ], { mode: 'Scan', backup: false });
      const long = `${'a'.repeat(30_000)}!`;
      assert.equal(t.chooseWithFacts(`${'x'.repeat(30_000)}`, '192.0.2.1', `${'a'.repeat(30_000)}!`, facts({ headers: new Map([['subject', [long]]]) })).name, 'default');
      assert.deepEqual(t.patterns().map((p) => p.engine), ['re2js', 're2js', 're2js', 're2js']);
    } finally {
      globalThis.RegExp = Original;
    }
    for (const src of ['(x+x+)+y', '^(a|aa)+$', '(a+)+$', '.*@.*\\.example']) assert.ok(!seen.some((s) => s.includes(src)), `${src} was compiled by RegExp`);
  });

  it('per-rule protection falls back to the gateway\'s, and the scan runs the union of the groups\' modules', () => {
    const c = buildConfig({ spec: { protection: { antivirus: { enabled: true, actions: { infected: 'Reject' } }, antispam: { enabled: false } } } });
    const strip = renderedRule.parse({ name: 'strip', protection: { antivirus: { actions: { infected: 'DeleteAttachment' } }, antispam: { enabled: true } }, authentication: { enabled: false } });
    const noAv = renderedRule.parse({ name: 'no-av', protection: { antivirus: { enabled: false } } });
    assert.equal(protectionFor(c, strip).antivirus.actions.infected, 'DeleteAttachment');
    assert.equal(protectionFor(c, strip).antivirus.actions.encrypted, c.protection.antivirus.actions.encrypted);
    assert.equal(protectionFor(c, undefined), c.protection);
    assert.equal(authenticationFor(c, strip).enabled, false);
    const scan = scanConfigFor(c, [strip, noAv]);
    assert.deepEqual([scan.protection.antivirus.enabled, scan.protection.antispam.enabled, scan.protection.antivirus.actions.infected], [true, true, 'DeleteAttachment']);
    assert.equal(scanConfigFor(c, [noAv]).protection.antivirus.enabled, false);
    // A rule that does not use a module ignores what the union scan found with it.
    const v = decide({ av: { status: 'infected', name: 'X' } }, protectionFor(c, noAv), authenticationFor(c, noAv));
    assert.deepEqual([v.action, v.findings, v.status.antivirus], ['Skip', [], 'off']);
  });
});
