/**
 * `mailgw queue list|flush|delete|hold|release [ID...] [--state-dir DIR] [--output text|json]`
 *
 * Queue administration of a running gateway through its admin socket
 * (<state-dir>/admin.sock), like Postfix's mailq and postsuper:
 * list shows id, arrival, size, sender and each recipient with its state
 * and last error; flush retries now; delete removes without a DSN;
 * hold/release park a message and let it go again.
 */
import type { QueueEntry } from '../gateway/queue/queue-admin.ts';
import { parseArgs, UsageError } from './args.ts';
import { adminClient } from './admin-client.ts';

export function formatQueue(entries: QueueEntry[]): string {
  if (entries.length === 0) return 'Mail queue is empty\n';
  const lines = ['-Queue ID-        --Size-- ----Arrival Time---- -Sender/Recipient-------'];
  for (const e of entries) {
    const flag = e.held ? '!' : e.active ? '*' : ' ';
    lines.push(`${e.id}${flag} ${String(e.size).padStart(8)} ${e.arrival.slice(0, 19).replace('T', ' ')}  ${e.sender || 'MAILER-DAEMON'}`);
    for (const r of e.recipients) {
      if (r.status === 'delivered' || r.status === 'failed') continue;
      if (r.diagnostic) lines.push(`                                                (${r.diagnostic.slice(0, 200)})`);
      lines.push(`                                                ${r.address}`);
    }
    lines.push(`                                                attempts: ${e.attempts}, next: ${e.held ? 'on hold' : e.nextAttemptAt ?? '-'}`);
    lines.push('');
  }
  lines.push(`-- ${Math.round(entries.reduce((n, e) => n + e.size, 0) / 1024)} Kbytes in ${entries.length} Request${entries.length === 1 ? '' : 's'}.`);
  return `${lines.join('\n')}\n`;
}

export const QUEUE_FLAGS = ['state-dir', 'output'] as const;

export async function cmdQueue(argv: string[]): Promise<number> {
  const args = parseArgs(argv, QUEUE_FLAGS);
  const [action, ...ids] = args.positionals;
  const json = args.flags.get('output') === 'json';
  const ask = adminClient(args.flags);
  switch (action) {
    case 'list': {
      const r = await ask('GET', '/v1/queue');
      process.stdout.write(json ? `${JSON.stringify(r.body, null, 2)}\n` : formatQueue(r.body as unknown as QueueEntry[]));
      return 0;
    }
    case 'flush':
    case 'delete':
    case 'hold':
    case 'release': {
      if (action === 'flush' && ids.length === 0) {
        const r = await ask('POST', '/v1/queue/flush');
        process.stdout.write(`flushed ${(r.body.flushed as string[]).length} message(s)\n`);
        return 0;
      }
      if (ids.length === 0) throw new UsageError(`mailgw queue ${action} needs one or more queue ids`);
      let failed = 0;
      for (const id of ids) {
        const r = action === 'delete' ? await ask('DELETE', `/v1/queue/${encodeURIComponent(id)}`) : await ask('POST', `/v1/queue/${encodeURIComponent(id)}/${action}`);
        if (r.status === 200) process.stdout.write(`${id}: ${action === 'delete' ? 'deleted' : action === 'flush' ? 'flushed' : action === 'hold' ? 'on hold' : 'released'}\n`);
        else {
          failed++;
          process.stderr.write(`${id}: ${r.body.error ?? `HTTP ${r.status}`}\n`);
        }
      }
      return failed > 0 ? 1 : 0;
    }
    default:
      throw new UsageError('usage: mailgw queue list|flush|delete|hold|release [ID...] [--state-dir DIR] [--output json]');
  }
}
