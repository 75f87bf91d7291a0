/**
 * `mailgw traffic search [filters] | show ID [--state-dir DIR] [--output text|json]`
 *
 * The traffic log of a running gateway (gateway/traffic/), through its
 * admin socket: find messages by time, sender, recipient, subject words,
 * client, status, verdict, queue id or Message-ID ("did the mail from the
 * bank arrive?"), newest first, a page at a time; show one with its timeline.
 */
import type { TrafficMessage, TrafficPage, TimelineEntry } from '../gateway/traffic/traffic-store.ts';
import { parseArgs, UsageError } from './args.ts';
import { adminClient } from './admin-client.ts';
import { parseDuration } from '../api/fields.ts';

const FILTERS = ['since', 'until', 'sender', 'recipient', 'subject', 'client', 'status', 'verdict', 'qid', 'message-id', 'limit', 'cursor'] as const;
export const TRAFFIC_FLAGS = ['state-dir', 'output', ...FILTERS] as const;

/** `--since 2h` (that long ago) or an ISO 8601 time, as milliseconds since the epoch. */
export function timeFlag(name: string, text: string, now = Date.now()): number {
  const days = /^(\d+)d$/.exec(text);
  const ago = days ? Number(days[1]) * 86_400_000 : parseDuration(text);
  if (ago !== undefined) return now - ago;
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new UsageError(`--${name}: a duration ago (30m, 2h, 7d) or a time (2026-12-08T09:00:00Z), got ${JSON.stringify(text)}`);
  return t;
}

const time = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

export function formatMessages(page: TrafficPage): string {
  if (page.items.length === 0) return 'No messages found\n';
  const lines: string[] = [];
  for (const m of page.items) {
    lines.push(`${m.qid}  ${time(m.received)}  ${m.status.padEnd(9)} ${m.client ?? '-'}  ${m.sender || '<>'}`);
    if (m.subject) lines.push(`    Subject: ${m.subject}`);
    if (m.verdict) lines.push(`    Verdict: ${m.verdict}`);
    if (m.reply) lines.push(`    Reply: ${m.reply}`);
    for (const r of m.recipients) lines.push(`    -> ${r.address}  ${r.status}${r.dsn ? ` ${r.dsn}` : ''}${r.relay ? ` via ${r.relay}` : ''}${r.reply && r.status !== 'delivered' ? ` (${r.reply})` : ''}`);
  }
  if (page.next) lines.push('', `more: --cursor ${page.next}`);
  return `${lines.join('\n')}\n`;
}

export function formatTimeline(m: TrafficMessage & { events: TimelineEntry[] }): string {
  const lines = [formatMessages({ items: [m] }).trimEnd(), '', 'Timeline:'];
  for (const e of m.events) {
    const d = e.detail;
    const what = e.event === 'delivery' ? `${String(d.to)}: ${String(d.status)}${d.dsn ? ` ${String(d.dsn)}` : ''}${d.relay ? ` via ${String(d.relay)}` : ''}${d.reply ? ` (${String(d.reply)})` : ''}`
      : e.event === 'message' ? `received: ${String(d.code)}${d.reply ? ` ${String(d.reply)}` : ''}`
        : JSON.stringify(d);
    lines.push(`  ${time(e.at)}  ${e.event.padEnd(16)} ${what}`);
  }
  return `${lines.join('\n')}\n`;
}

export async function cmdTraffic(argv: string[]): Promise<number> {
  const args = parseArgs(argv, TRAFFIC_FLAGS);
  const [action, id] = args.positionals;
  const ask = adminClient(args.flags);
  const json = args.flags.get('output') === 'json';
  const fail = (r: { status: number; body: { error?: string } }) => {
    process.stderr.write(`mailgw traffic: ${r.body.error ?? `HTTP ${r.status}`}\n`);
    return r.status === 400 ? 2 : 1;
  };
  switch (action) {
    case 'search': {
      const q = new URLSearchParams();
      for (const f of FILTERS) {
        const v = args.flags.get(f);
        if (v === undefined) continue;
        const key = f === 'message-id' ? 'messageId' : f;
        q.set(key, f === 'since' || f === 'until' ? String(timeFlag(f, v)) : v);
      }
      const r = await ask('GET', `/v1/traffic?${q}`);
      if (r.status !== 200) return fail(r);
      process.stdout.write(json ? `${JSON.stringify(r.body, null, 2)}\n` : formatMessages(r.body as unknown as TrafficPage));
      return 0;
    }
    case 'show': {
      if (!id) throw new UsageError('mailgw traffic show needs a queue id');
      const r = await ask('GET', `/v1/traffic/${encodeURIComponent(id)}`);
      if (r.status !== 200) return fail(r);
      process.stdout.write(json ? `${JSON.stringify(r.body, null, 2)}\n` : formatTimeline(r.body as unknown as TrafficMessage & { events: TimelineEntry[] }));
      return 0;
    }
    default:
      throw new UsageError('usage: mailgw traffic search [--since 2h] [--sender ADDR] [--recipient ADDR] [--subject WORDS] [--status S] ... | show ID [--state-dir DIR] [--output json]');
  }
}
