/**
 * `mailgw backup list|show|release|delete [ID] [--to ADDRESS] [--state-dir DIR] [--output json]`
 *
 * The backup store of a running gateway (originals kept by rules with
 * `backup: true`), through its admin socket: list them, show one with its
 * message, release it (re-queue the original to its recipients, or --to an
 * address), delete it.
 */
import type { BackupMeta } from '../gateway/backup/backup-store.ts';
import { parseArgs, UsageError } from './args.ts';
import { adminClient, type AdminReply } from './admin-client.ts';

export const BACKUP_FLAGS = ['state-dir', 'output', 'to'] as const;

export async function cmdBackup(argv: string[]): Promise<number> {
  const args = parseArgs(argv, BACKUP_FLAGS);
  const [action, id] = args.positionals;
  const ask = adminClient(args.flags);
  const needId = () => {
    if (!id) throw new UsageError(`mailgw backup ${action} needs a backup id`);
    return encodeURIComponent(id);
  };
  const report = (r: AdminReply, ok: string) => {
    if (r.status === 200) process.stdout.write(`${ok}\n`);
    else process.stderr.write(`${id}: ${r.body.error ?? `HTTP ${r.status}`}\n`);
    return r.status === 200 ? 0 : 1;
  };
  switch (action) {
    case 'list': {
      const list = (await ask('GET', '/v1/backup')).body as unknown as BackupMeta[];
      if (args.flags.get('output') === 'json') process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      else if (list.length === 0) process.stdout.write('Backup store is empty\n');
      else {
        for (const m of list) process.stdout.write(`${m.id}  ${m.storedAt.slice(0, 19).replace('T', ' ')}  ${String(m.size).padStart(8)}  qid ${m.qid}  rule ${m.rule}  ${m.action}  ${m.from || '<>'} -> ${m.to.join(', ')}${m.reasons.length ? `  (${m.reasons.join('; ')})` : ''}\n`);
      }
      return 0;
    }
    case 'show': {
      const r = await ask('GET', `/v1/backup/${needId()}`);
      if (r.status !== 200) return report(r, '');
      process.stdout.write(args.flags.get('output') === 'json' ? `${JSON.stringify(r.body, null, 2)}\n` : String(r.body.message));
      return 0;
    }
    case 'release': {
      const to = args.flags.get('to');
      const r = await ask('POST', `/v1/backup/${needId()}/release${to ? `?to=${encodeURIComponent(to)}` : ''}`);
      return report(r, `${id}: released as ${String(r.body.queued)}`);
    }
    case 'delete':
      return report(await ask('DELETE', `/v1/backup/${needId()}`), `${id}: deleted`);
    default:
      throw new UsageError('usage: mailgw backup list|show|release|delete [ID] [--to ADDRESS] [--state-dir DIR] [--output json]');
  }
}
