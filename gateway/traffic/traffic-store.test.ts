import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrafficStore, TrafficQueryError, ftsQuery, messageStatus, type TrafficEvent } from './traffic-store.ts';

const T0 = Date.parse('2026-12-08T09:00:00Z');
const store = () => new TrafficStore(join(mkdtempSync(join(tmpdir(), 'mailgw-traffic-')), 'traffic.db'));
const arrival = (qid: string, at: number, o: Partial<TrafficEvent> = {}): TrafficEvent => ({
  event: 'message', qid, at, client: '192.0.2.7', helo: 'mx.bank.test', from: 'statements@bank.test', to: ['alice@corp.test'],
  size: 2048, subject: 'Your monthly statement', messageId: `<${qid}@bank.test>`, code: 250, ...o,
});
const delivery = (qid: string, at: number, to: string, status: string, o: Partial<TrafficEvent> = {}): TrafficEvent => ({
  event: 'delivery', qid, at, to, status, dsn: status === 'delivered' ? '2.0.0' : '4.4.1', relay: 'mail.corp.test[10.0.0.5]:25', attempt: 1, reply: '250 ok', ...o,
});

describe('traffic store', () => {
  it('messageStatus: the common final status of the recipients, else mixed; deferred and queued first', () => {
    assert.equal(messageStatus([]), 'queued');
    assert.equal(messageStatus(['delivered', 'delivered']), 'delivered');
    assert.equal(messageStatus(['delivered', 'deferred']), 'deferred');
    assert.equal(messageStatus(['queued', 'delivered']), 'queued');
    assert.equal(messageStatus(['delivered', 'failed']), 'mixed');
  });

  it('ftsQuery: each word quoted (no operators from the user), a trailing * kept as a prefix', () => {
    assert.equal(ftsQuery('monthly statement'), '"monthly" "statement"');
    assert.equal(ftsQuery('state* OR NOT "x'), '"state"* "OR" "NOT" """x"');
    assert.equal(ftsQuery('  * '), undefined);
  });

  it('records arrival, each attempt and the outcome per recipient; the timeline keeps every event in order', () => {
    const s = store();
    s.apply([
      arrival('Q1', T0, { to: ['alice@corp.test', 'bob@corp.test'], tls: 'TLSv1.3', subject: '=?utf-8?q?Kontoauszug_f=C3=BCr_Dezember?=' }),
      { event: 'verdict', qid: 'Q1', at: T0 + 5, status: { antivirus: 'clean', antispam: 'clean', content: 'off', authentication: 'pass' }, action: 'Skip', rules: [{ rule: 'default', action: 'Skip' }] },
      delivery('Q1', T0 + 10, 'alice@corp.test', 'delivered'),
      delivery('Q1', T0 + 10, 'bob@corp.test', 'deferred', { reply: '451 4.2.1 busy' }),
    ]);
    let [m] = s.search({ qid: 'Q1' }).items;
    assert.equal(m!.status, 'deferred');
    assert.equal(m!.subject, 'Kontoauszug für Dezember', 'RFC 2047 decoded');
    assert.equal(m!.tls, 'TLSv1.3');
    assert.equal(m!.verdict, 'antivirus=clean antispam=clean authentication=pass action=Skip rule=default');
    assert.deepEqual(m!.recipients.map((r) => `${r.address} ${r.status} ${r.attempts}`), ['alice@corp.test delivered 1', 'bob@corp.test deferred 1']);
    s.apply([delivery('Q1', T0 + 60_000, 'bob@corp.test', 'delivered', { attempt: 2 }), { event: 'removed', qid: 'Q1', at: T0 + 60_001, delivered: 2, failed: 0 }]);
    [m] = s.search({ qid: 'Q1' }).items;
    assert.equal(m!.status, 'delivered');
    assert.equal(m!.recipients.find((r) => r.address === 'bob@corp.test')!.attempts, 2);
    const t = s.timeline('Q1')!;
    assert.deepEqual(t.events.map((e) => e.event), ['message', 'verdict', 'delivery', 'delivery', 'delivery', 'removed']);
    assert.equal(t.events[0]!.detail.client, '192.0.2.7');
    assert.equal(t.events[0]!.detail.qid, undefined, 'common fields are not repeated');
  });

  it('a scanned message: the verdict, a backup and a split logged before the message\'s own line all count', () => {
    const s = store();
    s.apply([
      { event: 'verdict', qid: 'V1', at: T0, status: { antivirus: 'infected' }, action: 'Delete', rules: [{ rule: 'default', action: 'Delete' }] },
      { event: 'backup', qid: 'V1', at: T0 + 1, backupId: 'BK1', rule: 'default' },
      arrival('V1', T0 + 2, { deleted: ['alice@corp.test'] }),
    ]);
    const t = s.timeline('V1')!;
    assert.deepEqual(t.events.map((e) => e.event), ['verdict', 'backup', 'message']);
    assert.equal(t.verdict, 'antivirus=infected action=Delete rule=default');
    assert.equal(t.sender, 'statements@bank.test');
    assert.equal(t.status, 'deleted');
    assert.deepEqual(s.search({ subject: 'monthly' }).items.map((m) => m.qid), ['V1'], 'the subject is indexed');
    assert.deepEqual(s.search({ verdict: 'antivirus=infected' }).items.map((m) => m.qid), ['V1']);
  });

  it('recipients refused at RCPT are recorded as a refused transaction; accepted ones alone make no message until DATA', () => {
    const s = store();
    s.apply([
      { event: 'rcpt', qid: 'R9', at: T0, client: '203.0.113.5', from: 'x@spam.test', to: 'victim@elsewhere.test', code: 554, reply: '5.7.1 Relay access denied' },
      { event: 'rcpt', qid: 'A9', at: T0 + 1, client: '192.0.2.7', from: 'a@bank.test', to: 'alice@corp.test', code: 250 },
      { event: 'rcpt', qid: 'M9', at: T0 + 2, client: '192.0.2.7', from: 'a@bank.test', to: 'nobody@corp.test', code: 550, reply: '5.1.1 unknown' },
      { event: 'rcpt', qid: 'M9', at: T0 + 3, client: '192.0.2.7', from: 'a@bank.test', to: 'alice@corp.test', code: 250 },
      arrival('M9', T0 + 4, { from: 'a@bank.test' }),
      delivery('M9', T0 + 5, 'alice@corp.test', 'delivered'),
    ]);
    const r = s.search({ status: 'rejected' }).items;
    assert.deepEqual(r.map((m) => [m.qid, m.sender, m.client, m.reply]), [['R9', 'x@spam.test', '203.0.113.5', '5.7.1 Relay access denied']]);
    assert.deepEqual(r[0]!.recipients.map((x) => [x.address, x.status]), [['victim@elsewhere.test', 'rejected']]);
    assert.equal(s.search({ qid: 'A9' }).items.length, 0, 'no DATA, no message');
    const m = s.search({ qid: 'M9' }).items[0]!;
    assert.equal(m.status, 'mixed');
    assert.deepEqual(m.recipients.map((x) => [x.address, x.status]), [['alice@corp.test', 'delivered'], ['nobody@corp.test', 'rejected']]);
  });

  it('refusals at the end of DATA, deleted and rejected recipients, and an administrator\'s delete', () => {
    const s = store();
    s.apply([
      arrival('R1', T0, { code: 554, reply: '5.7.1 Message refused by policy' }),
      arrival('T1', T0 + 1, { code: 451, reply: '4.7.1 scanner unavailable' }),
      arrival('D1', T0 + 2, { to: ['a@corp.test', 'b@corp.test'], deleted: ['a@corp.test'] }),
      arrival('A1', T0 + 3),
      { event: 'admin', qid: 'A1', at: T0 + 4, action: 'DELETE /v1/queue/A1', ok: true },
      { event: 'removed', qid: 'A1', at: T0 + 4, reason: 'admin delete' },
    ]);
    const status = (qid: string) => s.search({ qid }).items[0]!;
    assert.equal(status('R1').status, 'rejected');
    assert.equal(status('R1').reply, '5.7.1 Message refused by policy');
    assert.equal(status('T1').status, 'tempfail');
    assert.deepEqual(status('D1').recipients.map((r) => r.status), ['deleted', 'queued']);
    assert.equal(status('A1').status, 'deleted');
    assert.deepEqual(s.timeline('A1')!.events.map((e) => e.event), ['message', 'admin', 'removed']);
  });

  it('split-off groups and released backup copies count for the original; DSNs and notices only add to its timeline', () => {
    const s = store();
    s.apply([
      arrival('M1', T0, { to: ['a@corp.test', 'b@corp.test'] }),
      { event: 'split', qid: 'M1', at: T0 + 1, splitQid: 'S1', to: ['b@corp.test'] },
      delivery('M1', T0 + 2, 'a@corp.test', 'failed', { dsn: '5.1.1', reply: '550 5.1.1 unknown' }),
      { event: 'bounce', qid: 'M1', at: T0 + 3, dsnQid: 'B1', to: 'statements@bank.test', kind: 'failed' },
      delivery('B1', T0 + 4, 'statements@bank.test', 'delivered'),
      delivery('S1', T0 + 5, 'b@corp.test', 'delivered'),
      { event: 'backup-released', qid: 'N1', originalQid: 'M1', at: T0 + 6, backupId: 'BK1', to: ['c@corp.test'] },
      delivery('N1', T0 + 7, 'c@corp.test', 'delivered'),
    ]);
    const m = s.timeline('S1')!;
    assert.equal(m.qid, 'M1', 'found by the split-off entry\'s id too');
    assert.deepEqual(m.recipients.map((r) => `${r.address} ${r.status}`), ['a@corp.test failed', 'b@corp.test delivered', 'c@corp.test delivered']);
    assert.equal(m.status, 'mixed');
    const dsn = m.events.find((e) => e.event === 'delivery' && e.detail.entry === 'B1');
    assert.equal(dsn?.detail.to, 'statements@bank.test', 'the DSN\'s delivery is in the timeline');
    assert.ok(m.events.some((e) => e.event === 'backup-released' && e.detail.entry === 'N1'));
    assert.equal(s.search({ recipient: 'statements@bank.test' }).items.length, 0, 'the DSN is not a recipient of the message');
  });

  it('searches by time, sender and recipient patterns, subject words, client, status, verdict and Message-ID, newest first, page by page', () => {
    const s = store();
    const events: TrafficEvent[] = [];
    for (let i = 0; i < 25; i++) {
      const qid = `P${String(i).padStart(2, '0')}`;
      events.push(arrival(qid, T0 + i * 1000, {
        from: i % 2 ? 'news@shop.test' : 'statements@bank.test', to: [i % 3 ? 'alice@corp.test' : 'bob@corp.test'],
        client: i % 5 ? '192.0.2.7' : '198.51.100.9', subject: i % 2 ? `Offer ${i}: 50% off_now` : `Statement ${i}`,
      }));
      if (i % 4 === 0) events.push({ event: 'verdict', qid, at: T0 + i * 1000 + 1, status: { antivirus: 'infected' }, action: 'Delete', reasons: ['virus Eicar-Signature'] });
    }
    s.apply(events);
    const ids = (q: Parameters<TrafficStore['search']>[0]) => s.search(q).items.map((m) => m.qid);
    assert.equal(ids({ sender: 'statements@bank.test' }).length, 13);
    assert.equal(ids({ sender: '*@BANK.test' }).length, 13, 'patterns, case-insensitive');
    assert.equal(ids({ sender: '%' }).length, 0, 'SQL wildcards are literal');
    assert.deepEqual(ids({ recipient: 'bob@corp.test', sender: '*@shop.test' }), ['P21', 'P15', 'P09', 'P03']);
    assert.deepEqual(ids({ subject: 'statement 4' }), ['P04']);
    assert.equal(ids({ subject: 'offer' }).length, 12);
    assert.equal(ids({ subject: 'offe' }).length, 0, 'words, not substrings');
    assert.equal(ids({ subject: 'offe*' }).length, 12, 'a prefix with *');
    assert.deepEqual(ids({ client: '198.51.100.9' }), ['P20', 'P15', 'P10', 'P05', 'P00']);
    assert.deepEqual(ids({ verdict: 'antivirus=infected' }), ['P24', 'P20', 'P16', 'P12', 'P08', 'P04', 'P00']);
    assert.deepEqual(ids({ verdict: 'Eicar' }), ids({ verdict: 'action=Delete' }));
    assert.deepEqual(ids({ messageId: 'P07@bank.test' }), ['P07']);
    assert.deepEqual(ids({ since: T0 + 20_000, until: T0 + 22_000 }), ['P21', 'P20']);
    assert.equal(ids({ status: 'queued' }).length, 25);
    // Paging: 10, 10, 5, with no message twice.
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
      const p = s.search({ limit: 10, cursor });
      seen.push(...p.items.map((m) => m.qid));
      cursor = p.next;
      if (!cursor) break;
    }
    assert.equal(seen.length, 25);
    assert.equal(new Set(seen).size, 25);
    assert.equal(seen[0], 'P24');
    assert.throws(() => s.search({ cursor: 'garbage' }), TrafficQueryError);
  });

  it('prunes by age, then by size, oldest first', () => {
    const s = store();
    const events: TrafficEvent[] = [];
    for (let i = 0; i < 2000; i++) events.push(arrival(`Z${String(i).padStart(4, '0')}`, T0 + i, { subject: `message ${i} ${'x'.repeat(200)}` }));
    s.apply(events);
    assert.equal(s.prune(T0 + 100, Number.MAX_SAFE_INTEGER), 100);
    assert.equal(s.search({ until: T0 + 100 }).items.length, 0);
    const before = s.bytes();
    const removed = s.prune(0, Math.floor(before / 2));
    assert.ok(removed > 0 && s.bytes() <= before / 2, `${removed} removed, ${s.bytes()} of ${before} bytes left`);
    const newest = s.search({ limit: 1 }).items[0]!;
    assert.equal(newest.qid, 'Z1999', 'the newest stay');
  });
});
