/**
 * The rule matrix (issue 15, acceptance 2 and 4): three rules with their own
 * protection settings and actions, real clamd and rspamd, SPF and DMARC
 * from the suite's DNS server on loopback; messages from several senders to
 * several recipients, each recipient's outcome asserted from what the next
 * hops received, parsed with mailparser.
 *
 * - finance (finance@): viruses and blocked files stripped (DeleteAttachment),
 *   spam delivered tagged; a disclaimer, a BCC to archive@, header edits,
 *   subject tags; notices to the admin and the sender on a virus or a file.
 * - sales-urgent (sales@, only when the Subject says URGENT): deleted, the
 *   recipient told; the sender too — but never a sender that failed SPF or
 *   DMARC or scored as spam.
 * - others (*@corp.test): anti-spam off, a virus rejected (an NDR after the
 *   session), an SPF failure deleted.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { simpleParser, type ParsedMail } from 'mailparser';
import { buildConfig, startGateway, type Running } from '../helpers/config.ts';
import { startSink, type Received, type Sink } from '../helpers/sink.ts';
import { startDns, type DnsServer } from '../helpers/dns-server.ts';
import { startClamd, startRspamd, EICAR, GTUBE, type Daemon } from '../helpers/scanners.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { missing } from '../helpers/requirements.ts';
import { eventually } from '../helpers/wait.ts';

const EXE = Buffer.concat([Buffer.from('MZ\x90\x00\x03\x00\x00\x00', 'latin1'), Buffer.alloc(200, 0x41)]);

function compose(o: { from: string; to: string; subject: string; text: string; attachments?: { filename: string; content: Buffer | string }[] }): Promise<Buffer> {
  return new Promise((resolve, reject) => new MailComposer({ ...o, html: `<html><body><p>${o.text}</p></body></html>`, messageId: `<${Math.random().toString(36).slice(2)}@origin.test>`, headers: { 'X-Remove-Me': 'secret' } })
    .compile().build((err, m) => (err ? reject(err) : resolve(m))));
}

async function send(port: number, from: string, to: string[], raw: Buffer): Promise<{ code: number; text: string }> {
  const c = await SmtpDialog.open(port, '127.0.0.2');
  try {
    assert.equal((await c.begin(from, 'client.origin.test').catch((e: Error) => { throw new Error(`greeting/EHLO/MAIL: ${e.message}`); })).code, 250);
    for (const r of to) assert.equal((await c.cmd(`RCPT TO:<${r}>`)).code, 250, r);
    assert.equal((await c.cmd('DATA')).code, 354);
    c.write(`${raw.toString('latin1').replace(/\r\n$/, '')}\r\n.\r\n`);
    const r = await c.read(60_000); // scanning comes first
    assert.ok(r, 'a reply at the end of data');
    return { code: r.code, text: r.text };
  } finally {
    c.close();
  }
}

describe('rule matrix', () => {
  let dns: DnsServer | undefined;
  let clamd: Daemon | undefined;
  let rspamd: Daemon | undefined;
  let internal: Sink;
  let edge: Sink;
  let gw: Running | undefined;

  before(async () => {
    dns = await startDns({
      txt: [
        ['ok.test', 'v=spf1 ip4:127.0.0.2 -all'],
        ['fail.test', 'v=spf1 ip4:192.0.2.1 -all'],
        ['dm.test', 'v=spf1 ip4:192.0.2.1 -all'],
        ['_dmarc.dm.test', 'v=DMARC1; p=none'],
      ],
      // The senders' domains exist, so DSNs may go to them (dsn.suppressForUnreachableSenders).
      a: [['ok.test', '127.0.0.1'], ['fail.test', '127.0.0.1'], ['dm.test', '127.0.0.1']],
    });
    [clamd, rspamd] = await Promise.all([startClamd(), startRspamd()]);
    internal = await startSink();
    edge = await startSink();
    if (!dns || !clamd || !rspamd) return;
    gw = await startGateway(buildConfig({
      spec: {
        integration: 'Direct', recipientVerification: { mode: 'DoNotReject' },
        relayHost: { host: '127.0.0.1', port: edge.port }, tls: { outbound: { mode: 'None' } },
        resolver: { servers: [dns.server], timeout: '2s' },
        authentication: { spf: true, dkim: false, dmarc: true, action: 'Skip' },
        protection: {
          antivirus: { enabled: true, clamd: clamd.address, actions: { infected: 'Reject' } },
          antispam: { enabled: true, rspamd: rspamd.address, actions: { spam: 'Reject', probableSpam: 'Skip' } },
          contentFilter: { enabled: false, fileNames: ['*.exe'], fileTypes: ['executable'] },
        },
        rules: [
          {
            name: 'finance', recipients: ['finance@corp.test'],
            protection: { antivirus: { actions: { infected: 'DeleteAttachment' } }, antispam: { actions: { spam: 'Skip' } }, contentFilter: { enabled: true, action: 'DeleteAttachment' } },
            actions: {
              disclaimer: { text: 'Finance department: this message was checked by %{hostname}.', html: '<p id="disclaimer">Finance department: checked by %{hostname}.</p>' },
              bcc: ['archive@corp.test'],
              headers: { add: [{ name: 'X-Finance', value: 'rule %{rule}' }], remove: ['X-Remove-Me'] },
              subjectTags: { virus: '[VIRUS %{virus}]', spam: '[SPAM]', content: '[FILTERED]' },
              notify: [
                { to: 'Admin', address: 'sec@corp.test', when: ['Virus', 'Content'], subject: 'Alert: %{action} on %{rule}', text: 'Virus: %{virus}\nFiles: %{filename}\nFrom: %{sender}\nQueue: %{qid}\n' },
                { to: 'Sender', when: ['Virus', 'Content'], subject: 'Your message to %{recipients}', text: 'Files removed: %{filename}\n' },
              ],
            },
          },
          {
            name: 'sales-urgent', recipients: ['sales@corp.test'], match: { headers: [{ name: 'Subject', pattern: '/\\bURGENT\\b/' }] }, mode: 'Delete',
            actions: { notify: [{ to: 'Recipients', when: ['Deleted'], subject: 'A message was deleted', text: 'Subject: %{subject}\nFrom: %{sender}\n' }, { to: 'Sender', when: ['Deleted'] }] },
          },
          {
            name: 'others', recipients: ['*@corp.test'],
            authentication: { action: 'Delete' },
            protection: { antispam: { enabled: false } },
          },
        ],
      },
      domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: internal.port } }],
    }), undefined, '127.0.0.1', { deliver: true });
  });
  after(async () => {
    await gw?.close();
    await internal.close();
    await edge.close();
    await Promise.all([clamd?.stop(), rspamd?.stop(), dns?.stop()]);
  });
  const skip = (t: TestContext) => {
    if (!dns) missing(t, 'dnsmasq (Debian package dnsmasq-base)');
    else if (!clamd) missing(t, 'clamd (Debian package clamav-daemon)');
    else if (!rspamd) missing(t, 'rspamd (Debian package rspamd)');
    return !gw;
  };

  /** What a sink got for one address whose Subject (or X-Mailgw-Queue-ID of a notice) matches. */
  const got = (sink: Sink, to: string, match: (m: ParsedMail) => boolean) => eventually(`a message to ${to}`, async () => {
    for (const m of sink.messages.filter((x: Received) => x.to.includes(to))) {
      const p = await simpleParser(m.raw, { keepDeliveryStatus: true });
      if (match(p)) return { raw: m, parsed: p };
    }
    return undefined;
  }, 20_000, 100);
  const none = async (sink: Sink, to: string) => {
    // The queue is empty when every notice and copy has been delivered: only then is "nothing" an answer.
    await eventually('the queue drained', () => gw!.gateway.runtime.spool.size === 0, 20_000, 100);
    assert.deepEqual(sink.messages.filter((m) => m.to.includes(to)).map((m) => m.raw.toString('latin1').match(/^Subject: .*$/m)?.[0]), [], `nothing for ${to}`);
  };

  it('a virus from an authenticated sender: finance gets it stripped, tagged, with disclaimer and BCC, admin and sender are told; others reject it with an NDR', async (t) => {
    if (skip(t)) return;
    const raw = await compose({ from: 'a@ok.test', to: 'finance@corp.test', subject: 'M1 invoice', text: 'Please find the invoice.', attachments: [{ filename: 'eicar.com', content: EICAR }, { filename: 'invoice.txt', content: 'amount: 100' }] });
    const r = await send(gw!.port, 'a@ok.test', ['finance@corp.test', 'bob@corp.test', 'sales@corp.test'], raw);
    assert.equal(r.code, 250, r.text);
    const fin = await got(internal, 'finance@corp.test', (p) => /M1 invoice/.test(p.subject ?? ''));
    assert.match(fin.parsed.subject!, /^\[VIRUS [^\]]*Eicar[^\]]*\] M1 invoice$/);
    assert.deepEqual(fin.parsed.attachments.map((a) => a.filename), ['invoice.txt'], 'the infected attachment is gone, the clean one stays');
    assert.match(fin.parsed.text!, /Please find the invoice\.\s+Finance department: this message was checked by mx\.gateway\.test\./);
    assert.match(String(fin.parsed.html), /<p id="disclaimer">Finance department: checked by mx\.gateway\.test\.<\/p>/);
    assert.equal(fin.parsed.headers.get('x-finance'), 'rule finance');
    assert.equal(fin.parsed.headers.get('x-remove-me'), undefined);
    assert.equal(fin.parsed.headers.get('x-mailgw-rule'), 'finance');
    assert.deepEqual(fin.raw.to.sort(), ['archive@corp.test', 'finance@corp.test'], 'the BCC copy is a recipient of the same delivery');
    const admin = await got(internal, 'sec@corp.test', (p) => /Alert: DeleteAttachment on finance/.test(p.subject ?? ''));
    assert.match(admin.parsed.text!, /^Virus: \S*Eicar/m);
    assert.match(admin.parsed.text!, /^Files: eicar\.com$/m);
    assert.equal(admin.parsed.headers.get('auto-submitted'), 'auto-generated');
    assert.equal(admin.raw.from, '', 'notices come from the null sender');
    const sender = await got(edge, 'a@ok.test', (p) => /Your message to finance@corp\.test/.test(p.subject ?? ''));
    assert.match(sender.parsed.text!, /Files removed: eicar\.com/);
    // bob and sales (no URGENT: the others rule) reject the virus: one NDR for both.
    const ndr = await got(edge, 'a@ok.test', (p) => p.attachments.some((a) => a.contentType === 'message/delivery-status'));
    const report = ndr.parsed.attachments.find((a) => a.contentType === 'message/delivery-status')!.content.toString();
    assert.match(report, /Final-Recipient: rfc822; bob@corp\.test/);
    assert.match(report, /Final-Recipient: rfc822; sales@corp\.test/);
    assert.equal(internal.messages.filter((m) => m.to.includes('bob@corp.test') || m.to.includes('sales@corp.test')).length, 0);
  });

  it('spam with a failed SPF check: finance gets it tagged; sales deletes it and tells sales, not the sender; others delete it silently', async (t) => {
    if (skip(t)) return;
    const raw = await compose({ from: 'x@fail.test', to: 'sales@corp.test', subject: 'M2 URGENT offer', text: `Buy now. ${GTUBE}` });
    const r = await send(gw!.port, 'x@fail.test', ['finance@corp.test', 'sales@corp.test', 'bob@corp.test'], raw);
    assert.equal(r.code, 250, r.text);
    const fin = await got(internal, 'finance@corp.test', (p) => /M2 URGENT/.test(p.subject ?? ''));
    assert.equal(fin.parsed.subject, '[SPAM] M2 URGENT offer');
    assert.match(fin.parsed.text!, /Finance department/);
    const notice = await got(internal, 'sales@corp.test', (p) => p.subject === 'A message was deleted');
    assert.match(notice.parsed.text!, /^Subject: M2 URGENT offer$/m);
    assert.match(notice.parsed.text!, /^From: x@fail\.test$/m);
    assert.ok(gw!.log.find((l) => l.event === 'notice-suppressed' && l.rule === 'sales-urgent' && l.to === 'x@fail.test'), 'the sender notice was suppressed');
    await none(edge, 'x@fail.test');
    assert.equal(internal.messages.filter((m) => m.to.includes('bob@corp.test')).length, 0, 'others: SPF fail is deleted');
    assert.equal(internal.messages.filter((m) => m.to.includes('sales@corp.test') && m.from !== '').length, 0, 'sales: deleted');
  });

  it('a rule that scans nothing still checks the sender before writing to it: a forged URGENT to sales alone gets no sender notice', async (t) => {
    if (skip(t)) return;
    const raw = await compose({ from: 'x@fail.test', to: 'sales@corp.test', subject: 'M6 URGENT invoice', text: 'Pay now.' });
    const r = await send(gw!.port, 'x@fail.test', ['sales@corp.test'], raw);
    assert.equal(r.code, 250);
    const qid = /queued as (\S+)/.exec(r.text)![1];
    await got(internal, 'sales@corp.test', (p) => p.subject === 'A message was deleted' && /M6 URGENT invoice/.test(p.text ?? ''));
    assert.ok(gw!.log.lines.some((l) => l.event === 'notice-suppressed' && l.qid === qid && l.to === 'x@fail.test' && /SPF/.test(String(l.reason))), 'this message\'s sender notice was suppressed');
    await none(edge, 'x@fail.test');
  });

  it('a rule that scans nothing notifies an authenticated sender', async (t) => {
    if (skip(t)) return;
    const raw = await compose({ from: 'a@ok.test', to: 'sales@corp.test', subject: 'M7 URGENT question', text: 'Call me.' });
    assert.equal((await send(gw!.port, 'a@ok.test', ['sales@corp.test'], raw)).code, 250);
    const n = await got(edge, 'a@ok.test', (p) => /Mail gateway notice: Delete \(sales-urgent\)/.test(p.subject ?? '') && /M7 URGENT question/.test(p.text ?? ''));
    assert.equal(n.parsed.headers.get('auto-submitted'), 'auto-generated');
  });

  it('a blocked file from the null sender: stripped for finance, the admin told, no notice to <>', async (t) => {
    if (skip(t)) return;
    const raw = await compose({ from: 'mailer-daemon@origin.test', to: 'finance@corp.test', subject: 'M3 report', text: 'Attached.', attachments: [{ filename: 'tool.exe', content: EXE }] });
    assert.equal((await send(gw!.port, '', ['finance@corp.test'], raw)).code, 250);
    const fin = await got(internal, 'finance@corp.test', (p) => /M3 report/.test(p.subject ?? ''));
    assert.equal(fin.parsed.subject, '[FILTERED] M3 report');
    assert.deepEqual(fin.parsed.attachments.map((a) => a.filename), []);
    await got(internal, 'sec@corp.test', (p) => /Alert: DeleteAttachment on finance/.test(p.subject ?? '') && /Files: tool\.exe/.test(p.text ?? ''));
    assert.ok(gw!.log.find((l) => l.event === 'notice-suppressed' && l.to === '<>'));
  });

  it('a virus whose sender passes SPF but fails DMARC: the admin is told, the sender is not', async (t) => {
    if (skip(t)) return;
    const raw = await compose({ from: 'ceo@dm.test', to: 'finance@corp.test', subject: 'M4 wire transfer', text: 'Urgent wire.', attachments: [{ filename: 'eicar.com', content: EICAR }] });
    assert.equal((await send(gw!.port, 'a@ok.test', ['finance@corp.test'], raw)).code, 250);
    await got(internal, 'finance@corp.test', (p) => /M4 wire transfer/.test(p.subject ?? ''));
    await got(internal, 'sec@corp.test', (p) => /Alert/.test(p.subject ?? '') && /^From: a@ok\.test$/m.test(p.text ?? '') && /Virus: \S*Eicar/.test(p.text ?? ''));
    assert.ok(gw!.log.find((l) => l.event === 'notice-suppressed' && l.to === 'a@ok.test'), 'DMARC failed: no notice to the sender');
    await eventually('the queue drained', () => gw!.gateway.runtime.spool.size === 0, 20_000, 100);
    assert.equal(edge.messages.filter((m) => m.to.includes('a@ok.test') && /M4 wire transfer/.test(m.raw.toString('latin1'))).length, 0);
  });

  it('clean mail to others: delivered as sent, no disclaimer, no tags, no copies', async (t) => {
    if (skip(t)) return;
    const raw = await compose({ from: 'a@ok.test', to: 'bob@corp.test', subject: 'M5 lunch', text: 'Lunch at noon?' });
    assert.equal((await send(gw!.port, 'a@ok.test', ['bob@corp.test'], raw)).code, 250);
    const bob = await got(internal, 'bob@corp.test', (p) => /M5 lunch/.test(p.subject ?? ''));
    assert.equal(bob.parsed.subject, 'M5 lunch');
    assert.doesNotMatch(bob.parsed.text!, /Finance department/);
    assert.deepEqual(bob.raw.to, ['bob@corp.test']);
    assert.equal(bob.parsed.headers.get('x-mailgw-rule'), 'others');
    assert.equal(bob.parsed.headers.get('x-remove-me'), 'secret', 'header edits belong to the finance rule only');
  });
});
