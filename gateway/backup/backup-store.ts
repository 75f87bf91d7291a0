/**
 * The backup store (KSMG "Backup"): originals kept when a rule asks for it,
 * before any change the gateway made, with the verdict — on the spool
 * volume under <state-dir>/backup. Bounded by a size cap (oldest purged
 * first) and a retention time. Entries are written with fsync, since a
 * deleted message's backup may be its only copy.
 *
 * store() · list() · get(id) · read(id) · delete(id); release is done by the
 * caller (it re-queues the original through the spool).
 */
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, rm, rename } from 'node:fs/promises';
import { PRIVATE_FILE_MODE, privateDir } from '../private-fs.ts';
import type { MessageSource } from '../spool/incoming.ts';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface BackupMeta {
  id: string;
  qid: string;
  storedAt: string;
  from: string;
  to: string[];
  client: string;
  rule: string;
  action: string;
  reasons: string[];
  size: number;
}

async function writeDurable(path: string, data: Buffer | string): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w', PRIVATE_FILE_MODE);
  try {
    await fh.writeFile(data);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/** Like writeDurable, from a stream: the file is written chunk by chunk, fsynced, then renamed into place. */
async function writeDurableFrom(path: string, data: AsyncIterable<Buffer>): Promise<number> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w', PRIVATE_FILE_MODE);
  let size = 0;
  try {
    for await (const chunk of data) {
      await fh.write(chunk);
      size += chunk.length;
    }
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  return size;
}

export class BackupStore {
  readonly dir: string;
  private maxSize: number;
  private retentionMs: number;

  constructor(dir: string, limits: { maxSize: number; retentionMs: number }) {
    this.dir = dir;
    this.maxSize = limits.maxSize;
    this.retentionMs = limits.retentionMs;
  }

  setLimits(limits: { maxSize: number; retentionMs: number }): void {
    this.maxSize = limits.maxSize;
    this.retentionMs = limits.retentionMs;
  }

  async store(message: Buffer, meta: Omit<BackupMeta, 'id' | 'storedAt' | 'size'>): Promise<BackupMeta> {
    await privateDir(this.dir);
    const id = `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`.toUpperCase();
    const full: BackupMeta = { ...meta, id, storedAt: new Date().toISOString(), size: message.length };
    await writeDurable(join(this.dir, `${id}.eml`), message);
    await writeDurable(join(this.dir, `${id}.json`), JSON.stringify(full));
    await this.purge();
    return full;
  }

  /** store() for a message read from its source (the incoming file): copied as a stream. */
  async storeFrom(source: MessageSource, meta: Omit<BackupMeta, 'id' | 'storedAt' | 'size'>): Promise<BackupMeta> {
    await privateDir(this.dir);
    const id = `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`.toUpperCase();
    const size = await writeDurableFrom(join(this.dir, `${id}.eml`), source.stream() as AsyncIterable<Buffer>);
    const full: BackupMeta = { ...meta, id, storedAt: new Date().toISOString(), size };
    await writeDurable(join(this.dir, `${id}.json`), JSON.stringify(full));
    await this.purge();
    return full;
  }

  async list(): Promise<BackupMeta[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const metas: BackupMeta[] = [];
    for (const n of names.filter((x) => x.endsWith('.json'))) {
      try {
        metas.push(JSON.parse(await readFile(join(this.dir, n), 'utf8')) as BackupMeta);
      } catch {
        // a half-written entry: ignored until purged
      }
    }
    return metas.sort((a, b) => a.storedAt.localeCompare(b.storedAt) || a.id.localeCompare(b.id));
  }

  private path(id: string, ext: string): string {
    if (!/^[0-9A-Z]+$/.test(id)) throw new Error(`bad backup id ${id}`);
    return join(this.dir, `${id}.${ext}`);
  }

  async get(id: string): Promise<BackupMeta | undefined> {
    try {
      return JSON.parse(await readFile(this.path(id, 'json'), 'utf8')) as BackupMeta;
    } catch {
      return undefined;
    }
  }

  /** The original as a stream (release re-queues it without holding it in memory). */
  stream(id: string): AsyncIterable<Buffer> {
    return createReadStream(this.path(id, 'eml'), { highWaterMark: 64 * 1024 });
  }

  read(id: string): Promise<Buffer> {
    return readFile(this.path(id, 'eml'));
  }

  async delete(id: string): Promise<boolean> {
    if (!(await this.get(id))) return false;
    await rm(this.path(id, 'eml'), { force: true });
    await rm(this.path(id, 'json'), { force: true });
    return true;
  }

  /** Drops entries past the retention time, then the oldest until the store fits its cap. */
  async purge(now = Date.now()): Promise<void> {
    const all = await this.list();
    let total = 0;
    for (const m of all) total += m.size;
    for (const m of all) {
      const old = now - Date.parse(m.storedAt) > this.retentionMs;
      if (!old && total <= this.maxSize) continue;
      await this.delete(m.id);
      total -= m.size;
    }
  }
}
