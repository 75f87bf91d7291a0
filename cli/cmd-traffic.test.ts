import { it } from 'node:test';
import assert from 'node:assert/strict';
import { formatMessages, timeFlag } from './cmd-traffic.ts';
import { UsageError } from './args.ts';

it('timeFlag: a duration ago (Go form or days) or a time; anything else is a usage error', () => {
  const now = Date.parse('2026-12-08T12:00:00Z');
  assert.equal(timeFlag('since', '30m', now), now - 30 * 60_000);
  assert.equal(timeFlag('since', '1h30m', now), now - 90 * 60_000);
  assert.equal(timeFlag('since', '7d', now), now - 7 * 86_400_000);
  assert.equal(timeFlag('until', '2026-12-08T09:00:00Z', now), Date.parse('2026-12-08T09:00:00Z'));
  assert.throws(() => timeFlag('since', 'yesterday', now), (e: Error) => e instanceof UsageError && /^--since: /.test(e.message));
});

it('formatMessages: one block per message, recipients with their outcome, the next page named', () => {
  const text = formatMessages({
    items: [{
      qid: '1M99PB361ACR0C32', received: Date.parse('2026-12-08T09:00:00Z'), client: '192.0.2.7', helo: null, tls: null, sender: '', subject: 'Undelivered', messageId: null,
      size: 10, status: 'failed', verdict: null, reply: null,
      recipients: [{ address: 'a@corp.test', status: 'failed', dsn: '5.1.1', reply: '550 unknown', relay: 'mx[10.0.0.1]:25', attempts: 1, updated: 0 }],
    }],
    next: '1796720400000:1M99PB361ACR0C32',
  });
  assert.equal(text, [
    '1M99PB361ACR0C32  2026-12-08 09:00:00  failed    192.0.2.7  <>',
    '    Subject: Undelivered',
    '    -> a@corp.test  failed 5.1.1 via mx[10.0.0.1]:25 (550 unknown)',
    '',
    'more: --cursor 1796720400000:1M99PB361ACR0C32',
    '',
  ].join('\n'));
});
