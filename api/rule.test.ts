import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mailGateway } from './mailgateway.ts';

const problems = (rules: unknown[]) => {
  const r = mailGateway.safeParse({ apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'g', namespace: 'n' }, spec: { rules } });
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('rule schema', () => {
  it('accepts a rule with every part', () => {
    assert.deepEqual(problems([{
      name: 'finance', senders: ['*@partner.example', '192.0.2.0/24', '/^ap@/'], recipients: ['finance@corp.example'],
      match: { authentication: { spf: 'Pass', dmarc: 'Fail' }, size: { atLeast: '1Mi', below: 10_000_000 }, headers: [{ name: 'Subject', pattern: '/invoice/' }] },
      mode: 'Scan', backup: true, authentication: { enabled: true, action: 'Delete' },
      protection: { antivirus: { enabled: true, actions: { infected: 'DeleteAttachment' } }, antispam: { actions: { spam: 'Skip' } }, contentFilter: { enabled: true, action: 'DeleteAttachment' } },
      actions: {
        notify: [{ to: 'Admin', address: 'sec@corp.example', when: ['Virus'] }, { to: 'Sender' }],
        disclaimer: { text: 'Checked by %{hostname}.' }, bcc: ['archive@corp.example'],
        headers: { add: [{ name: 'X-Rule', value: '%{rule}' }], set: [{ name: 'X-Priority', value: '3' }], remove: ['X-Originating-IP'] },
        subjectTags: { virus: '[VIRUS %{virus}]' },
      },
    }]), []);
  });

  it('says what is wrong, at the field', () => {
    assert.deepEqual(problems([
      { name: 'a', senders: ['/(a)\\1/'] },
      { name: 'b', actions: { notify: [{ to: 'Admin' }, { to: 'Sender', address: 'x@y.example' }] } },
      { name: 'c', actions: { subjectTags: { spam: '[%{score}]' }, headers: { add: [{ name: 'X-A', value: 'one\r\nBcc: victim@example.org' }] } } },
      { name: 'default' }, { name: 'a' },
    ]), [
      'spec.rules.0.senders.0: /(a)\\1/ is not a valid RE2 regular expression (error parsing regexp: invalid escape sequence: `\\1`); backreferences and lookaround are not supported',
      'spec.rules.1.actions.notify.0.address: address is required for to: Admin and allowed only there',
      'spec.rules.1.actions.notify.1.address: address is required for to: Admin and allowed only there',
      'spec.rules.2.actions.headers.add.0.value: a header value is one line (no CR or LF)',
      'spec.rules.2.actions.subjectTags.spam: unknown variable %{score} in the subject tag; known: rule, action, verdict, virus, filename, subject, qid, sender, recipients, hostname, date',
      'spec.rules.3.name: "default" names defaultRule: choose another name',
      'spec.rules.4.name: rule name a is used twice: names identify rules in logs, headers and recipient groups',
    ]);
  });
});
