import { it } from 'node:test';
import assert from 'node:assert/strict';
import { cefEvents, cefLine, syslogMessage, syslogSeverity } from './cef.ts';

const at = Date.parse('2026-12-08T09:00:00Z');

it('cefEvents: deliveries and failures, deletions and refusals, threats and audit; nothing for the rest', () => {
  const sigs = (e: Record<string, unknown>) => cefEvents({ at, ...e }).map((c) => c.signature);
  assert.deepEqual(sigs({ event: 'delivery', qid: 'Q', to: 'a@x.test', status: 'delivered' }), ['mail.delivered']);
  assert.deepEqual(sigs({ event: 'delivery', qid: 'Q', to: 'a@x.test', status: 'failed' }), ['mail.failed']);
  assert.deepEqual(sigs({ event: 'delivery', qid: 'Q', to: 'a@x.test', status: 'deferred' }), []);
  assert.deepEqual(sigs({ event: 'message', qid: 'Q', code: 250, to: ['a@x.test'] }), []);
  assert.deepEqual(sigs({ event: 'message', qid: 'Q', code: 250, to: ['a@x.test', 'b@x.test'], deleted: ['b@x.test'] }), ['mail.deleted']);
  assert.deepEqual(sigs({ event: 'message', qid: 'Q', code: 554 }), ['mail.rejected']);
  assert.deepEqual(sigs({ event: 'message', qid: 'Q', code: 451 }), ['mail.tempfail']);
  assert.deepEqual(sigs({ event: 'message', qid: 'Q' }), [], 'no answer, no event');
  assert.deepEqual(sigs({ event: 'verdict', qid: 'Q', status: { antivirus: 'clean', antispam: 'off' } }), []);
  assert.deepEqual(sigs({ event: 'verdict', qid: 'Q', rules: [{ rule: 'r', action: 'Delete', status: { antivirus: 'infected' } }] }), ['mail.threat']);
  assert.deepEqual(sigs({ event: 'admin', actor: 'alice', action: 'POST /v1/queue/flush' }), ['audit.action']);
  assert.deepEqual(sigs({ event: 'admin-denied', actor: 'victor', permission: 'operate' }), ['audit.denied']);
  assert.deepEqual(sigs({ event: 'bounce', qid: 'Q' }), []);
});

it('cefLine: header and values escaped, labels only with their values, empty fields left out', () => {
  const [c] = cefEvents({ at, event: 'message', qid: 'Q1', code: 554, client: '192.0.2.7', from: 'a@x.test', subject: 'a|b=c\\d\r\ne', reply: '5.7.1 no' });
  assert.equal(cefLine(c!), 'CEF:0|mailgw|mailgw|0.1.0|mail.rejected|Message refused|6|rt=1796720400000 externalId=Q1 src=192.0.2.7 suser=a@x.test msg=a|b\\=c\\\\d\\ne outcome=rejected reason=5.7.1 no');
  const [v] = cefEvents({ at, event: 'verdict', qid: 'Q2', status: { antivirus: 'infected', content: 'clean' }, action: 'Delete', reasons: ['virus Eicar'] });
  assert.match(cefLine(v!), /act=Delete cs3Label=verdict cs3=antivirus\\=infected reason=virus Eicar$/);
});

it('syslogMessage: RFC 5424 with PRI from facility and severity; CEF severities map to syslog severities', () => {
  const [c] = cefEvents({ at, event: 'delivery', qid: 'Q', to: 'a@x.test', status: 'delivered' });
  assert.equal(syslogMessage(c!, { facility: 16, hostname: 'mx 1.example', pid: 42 }).split(' - ')[0], '<134>1 2026-12-08T09:00:00.000Z mx1.example mailgw 42 mail.delivered');
  assert.deepEqual([0, 3, 4, 6, 7, 8, 9, 10].map(syslogSeverity), [6, 6, 4, 4, 3, 3, 2, 2]);
});
