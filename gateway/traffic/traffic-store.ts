/**
 * The traffic log's store (issue 17): each message's life in an embedded
 * SQLite database (node:sqlite) in the pod's volume — arrival (client, TLS,
 * HELO, sender, recipients, subject, size, Message-ID), verdicts, every
 * delivery attempt and the final status per recipient — fed from the
 * gateway's own structured log events (traffic-log.ts taps them), searched
 * by time, queue id, Message-ID, sender, recipient, subject words, client,
 * status and verdict, with paging. Bounded by age and size.
 *
 * Synchronous and single-threaded by design: it runs in the traffic
 * worker (traffic-worker.ts), never on the SMTP event loop.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import libmime from 'libmime';

/** A structured log event of the gateway (pino object) with its time. */
export type TrafficEvent = Record<string, unknown> & { at: number };

export interface TrafficQuery {
  /** Received at or after / before (ms since the epoch). */
  since?: number | undefined;
  until?: number | undefined;
  qid?: string | undefined;
  messageId?: string | undefined;
  /** Exact address, or a part of it (`*` anywhere: `*@bank.test`). */
  sender?: string | undefined;
  recipient?: string | undefined;
  /** Words of the subject, all of them (full-text, prefix with `*`). */
  subject?: string | undefined;
  client?: string | undefined;
  status?: MessageStatus | undefined;
  /** A verdict word: infected, spam, probable, matched, fail, Delete, Reject, a rule name… */
  verdict?: string | undefined;
  limit?: number | undefined;
  /** The `next` of the previous page. */
  cursor?: string | undefined;
}

export const MESSAGE_STATUSES = ['queued', 'deferred', 'delivered', 'failed', 'deleted', 'rejected', 'tempfail', 'mixed'] as const;
export type MessageStatus = typeof MESSAGE_STATUSES[number];

export interface TrafficRecipient {
  address: string;
  status: string;
  dsn: string | null;
  reply: string | null;
  relay: string | null;
  attempts: number;
  updated: number;
}

export interface TrafficMessage {
  qid: string;
  received: number;
  client: string | null;
  helo: string | null;
  tls: string | null;
  sender: string | null;
  subject: string | null;
  messageId: string | null;
  size: number | null;
  status: MessageStatus;
  verdict: string | null;
  reply: string | null;
  recipients: TrafficRecipient[];
}

export interface TrafficPage {
  items: TrafficMessage[];
  next?: string | undefined;
}

export interface TimelineEntry {
  at: number;
  event: string;
  detail: Record<string, unknown>;
}

const SCHEMA = `
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS messages (
  qid TEXT PRIMARY KEY, received INTEGER NOT NULL, client TEXT, helo TEXT, tls TEXT, sender TEXT,
  subject TEXT, message_id TEXT, size INTEGER, status TEXT NOT NULL, verdict TEXT, reply TEXT, updated INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS messages_received ON messages(received, qid);
CREATE INDEX IF NOT EXISTS messages_sender ON messages(sender);
CREATE INDEX IF NOT EXISTS messages_client ON messages(client);
CREATE INDEX IF NOT EXISTS messages_message_id ON messages(message_id);
CREATE TABLE IF NOT EXISTS recipients (
  qid TEXT NOT NULL, address TEXT NOT NULL, status TEXT NOT NULL, dsn TEXT, reply TEXT, relay TEXT,
  attempts INTEGER NOT NULL DEFAULT 0, updated INTEGER NOT NULL, PRIMARY KEY (qid, address)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS recipients_address ON recipients(address);
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, qid TEXT NOT NULL, at INTEGER NOT NULL, event TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_qid ON events(qid, id);
-- Queue entries made from a message: 'part' (a split-off group, a released backup copy: its recipients are the message's) or 'generated' (a DSN, a notice: only its events).
CREATE TABLE IF NOT EXISTS aliases (qid TEXT PRIMARY KEY, original TEXT NOT NULL, kind TEXT NOT NULL) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS subjects USING fts5(subject, qid UNINDEXED);
`;

/** Fields every event carries that the timeline need not repeat. */
const COMMON = new Set(['at', 'level', 'time', 'pid', 'hostname', 'gateway', 'msg', 'event', 'qid']);
const MAX_TEXT = 998;

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v.slice(0, MAX_TEXT) : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** A Subject field body as a person reads it (RFC 2047 words decoded); undecodable words stay as they are. */
export function decodedSubject(raw: unknown): string | null {
  const s = str(raw);
  if (!s) return null;
  try {
    return libmime.decodeWords(s).slice(0, MAX_TEXT);
  } catch {
    return s;
  }
}

/** The message's status from its recipients' (all final → the common outcome, or mixed). */
export function messageStatus(recipients: readonly string[]): MessageStatus {
  if (recipients.length === 0) return 'queued';
  if (recipients.some((s) => s === 'deferred')) return 'deferred';
  if (recipients.some((s) => s === 'queued' || s === 'pending')) return 'queued';
  const first = recipients[0]!;
  return recipients.every((s) => s === first) ? (first as MessageStatus) : 'mixed';
}

/** A search pattern for an address: exact unless it has `*` (any characters). */
function addressClause(column: string, value: string): [string, string] {
  const v = value.toLowerCase();
  if (!v.includes('*')) return [`lower(${column}) = ?`, v];
  return [`lower(${column}) LIKE ? ESCAPE '\\'`, v.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, '%')];
}

/** Subject words as an FTS5 query: each word quoted (no operators from the user), `*` kept as a prefix marker. */
export function ftsQuery(words: string): string | undefined {
  const terms = words.split(/\s+/).map((w) => w.trim()).filter(Boolean).slice(0, 16)
    .map((w) => {
      const prefix = w.endsWith('*');
      const bare = w.replace(/\*+$/, '').replace(/"/g, '""');
      return bare ? `"${bare}"${prefix ? '*' : ''}` : '';
    }).filter(Boolean);
  return terms.length > 0 ? terms.join(' ') : undefined;
}

export class TrafficStore {
  private readonly db: DatabaseSync;
  private readonly st: Record<string, StatementSync>;

  constructor(path: string) {
    this.db = new DatabaseSync(path);
    this.db.exec(SCHEMA);
    const p = (sql: string) => this.db.prepare(sql);
    this.st = {
      insertMessage: p(`INSERT INTO messages (qid, received, client, helo, tls, sender, subject, message_id, size, status, verdict, reply, updated)
        VALUES (:qid, :received, :client, :helo, :tls, :sender, :subject, :messageId, :size, :status, NULL, :reply, :received)
        ON CONFLICT(qid) DO UPDATE SET client = coalesce(excluded.client, client), helo = coalesce(excluded.helo, helo), tls = coalesce(excluded.tls, tls),
          sender = coalesce(excluded.sender, sender), subject = coalesce(excluded.subject, subject), message_id = coalesce(excluded.message_id, message_id),
          size = coalesce(excluded.size, size), status = excluded.status, reply = excluded.reply, updated = excluded.updated`),
      insertSubject: p('INSERT INTO subjects (subject, qid) VALUES (?, ?)'),
      upsertRecipient: p(`INSERT INTO recipients (qid, address, status, dsn, reply, relay, attempts, updated) VALUES (:qid, :address, :status, :dsn, :reply, :relay, :attempts, :at)
        ON CONFLICT(qid, address) DO UPDATE SET status = excluded.status, dsn = coalesce(excluded.dsn, dsn), reply = coalesce(excluded.reply, reply),
          relay = coalesce(excluded.relay, relay), attempts = attempts + excluded.attempts, updated = excluded.updated`),
      recipientsOf: p('SELECT address, status, dsn, reply, relay, attempts, updated FROM recipients WHERE qid = ? ORDER BY address'),
      setStatus: p('UPDATE messages SET status = ?, updated = ? WHERE qid = ?'),
      setVerdict: p('UPDATE messages SET verdict = ?, updated = ? WHERE qid = ?'),
      insertEvent: p('INSERT INTO events (qid, at, event, detail) VALUES (?, ?, ?, ?)'),
      alias: p('INSERT OR IGNORE INTO aliases (qid, original, kind) VALUES (?, ?, ?)'),
      aliasOf: p('SELECT original, kind FROM aliases WHERE qid = ?'),
      exists: p('SELECT 1 FROM messages WHERE qid = ?'),
      ensure: p("INSERT OR IGNORE INTO messages (qid, received, status, updated) VALUES (?, ?, 'queued', ?)"),
      hasSubject: p('SELECT 1 FROM subjects WHERE qid = ?'),
      timeline: p('SELECT at, event, detail FROM events WHERE qid = ? ORDER BY id'),
    };
  }

  close(): void {
    this.db.close();
  }

  /** Applies a batch of events in one transaction. */
  apply(events: readonly TrafficEvent[]): void {
    if (events.length === 0) return;
    this.db.exec('BEGIN');
    try {
      for (const e of events) this.applyOne(e);
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  private aliasOf(qid: string): { original: string; kind: 'part' | 'generated' } | undefined {
    return this.st.aliasOf!.get(qid) as { original: string; kind: 'part' | 'generated' } | undefined;
  }

  /** The queue id a split-off, released or generated entry is recorded under (its original message's). */
  private owner(qid: string): string {
    return this.aliasOf(qid)?.original ?? qid;
  }

  private applyOne(e: TrafficEvent): void {
    const raw = str(e.qid);
    if (!raw) return;
    const alias = this.aliasOf(raw);
    const qid = alias?.original ?? raw;
    const at = e.at;
    const known = () => Boolean(this.st.exists!.get(qid));
    const detail: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(e)) if (!COMMON.has(k) && v !== undefined) detail[k] = v;
    if (alias) detail.entry = raw;
    // Events can come before the message's own line (the verdict, a backup, a split are logged before "accepted"): the row exists from the first.
    // Not for RCPT lines: an accepted recipient is no message yet (the client may never send DATA); a refused one is recorded as such below.
    if (e.event !== 'backup-released' && e.event !== 'rcpt' && alias?.kind !== 'generated') this.st.ensure!.run(qid, at, at);
    switch (e.event) {
      case 'message': if (!alias) this.arrival(qid, e); break;
      case 'verdict': if (!alias) this.verdict(qid, e); break;
      case 'rcpt': if (!alias) this.refusedRecipient(qid, e); break;
      case 'delivery': if (alias?.kind !== 'generated' && known()) this.delivery(qid, e); break;
      case 'split': if (str(e.splitQid)) this.st.alias!.run(str(e.splitQid), qid, 'part'); break;
      case 'bounce': if (str(e.dsnQid)) this.st.alias!.run(str(e.dsnQid), qid, 'generated'); break;
      case 'notice': if (str(e.noticeQid)) this.st.alias!.run(str(e.noticeQid), qid, 'generated'); break;
      case 'backup-released': if (str(e.originalQid)) this.releasedCopy(raw, str(e.originalQid)!, at, detail); return;
      case 'removed': if (e.reason === 'admin delete' && known()) this.finalAll(qid, at, 'deleted', 'deleted by an administrator'); break;
      default: break;
    }
    if (known()) this.st.insertEvent!.run(qid, at, String(e.event ?? 'log'), JSON.stringify(detail));
  }

  /** A backup copy released as a new queue entry: recorded with the original message, whose recipients it serves. */
  private releasedCopy(entry: string, original: string, at: number, detail: Record<string, unknown>): void {
    const owner = this.owner(original);
    if (!this.st.exists!.get(owner)) return;
    this.st.alias!.run(entry, owner, 'part');
    const to = Array.isArray(detail.to) ? (detail.to as unknown[]).filter((x): x is string => typeof x === 'string') : [];
    for (const address of to) this.st.upsertRecipient!.run({ qid: owner, address: address.slice(0, MAX_TEXT), status: 'queued', dsn: null, reply: 'released from the backup store', relay: null, attempts: 0, at });
    this.refresh(owner, at);
    this.st.insertEvent!.run(owner, at, 'backup-released', JSON.stringify({ ...detail, entry }));
  }

  private arrival(qid: string, e: TrafficEvent): void {
    const code = num(e.code);
    if (code === null) return; // a failure inside the data stage, without an answer
    const to = Array.isArray(e.to) ? (e.to as unknown[]).filter((x): x is string => typeof x === 'string') : [];
    const deleted = new Set(Array.isArray(e.deleted) ? (e.deleted as string[]) : []);
    const rejected = new Set(Array.isArray(e.rejected) ? (e.rejected as string[]) : []);
    const status: MessageStatus = code >= 500 ? 'rejected' : code >= 400 ? 'tempfail' : 'queued';
    const subject = decodedSubject(e.subject);
    this.st.insertMessage!.run({
      qid, received: e.at, client: str(e.client), helo: str(e.helo), tls: str(e.tls), sender: typeof e.from === 'string' ? e.from.slice(0, MAX_TEXT) : null,
      subject, messageId: str(e.messageId), size: num(e.size), status, reply: code >= 300 ? str(e.reply) : null,
    });
    if (subject && !this.st.hasSubject!.get(qid)) this.st.insertSubject!.run(subject, qid);
    for (const address of to) {
      const s = status !== 'queued' ? status : deleted.has(address) ? 'deleted' : rejected.has(address) ? 'rejected' : 'queued';
      this.st.upsertRecipient!.run({ qid, address: address.slice(0, MAX_TEXT), status: s, dsn: null, reply: null, relay: null, attempts: 0, at: e.at });
    }
    if (status === 'queued') this.refresh(qid, e.at);
  }

  /** A recipient refused at RCPT (relay denied, unknown user, limits): the transaction is recorded as refused for it. */
  private refusedRecipient(qid: string, e: TrafficEvent): void {
    const code = num(e.code);
    const to = str(e.to);
    if (code === null || code < 400 || !to) return;
    const status = code >= 500 ? 'rejected' : 'tempfail';
    if (!this.st.exists!.get(qid)) {
      this.st.insertMessage!.run({
        qid, received: e.at, client: str(e.client), helo: null, tls: null, sender: typeof e.from === 'string' ? e.from.slice(0, MAX_TEXT) : null,
        subject: null, messageId: null, size: null, status, reply: str(e.reply),
      });
    }
    this.st.upsertRecipient!.run({ qid, address: to, status, dsn: null, reply: str(e.reply), relay: null, attempts: 0, at: e.at });
  }

  private verdict(qid: string, e: TrafficEvent): void {
    const words = new Set<string>();
    const add = (s: unknown) => {
      if (s && typeof s === 'object') for (const [k, v] of Object.entries(s)) if (typeof v === 'string' && v !== 'off') words.add(`${k}=${v}`);
    };
    add(e.status);
    if (typeof e.action === 'string') words.add(`action=${e.action}`);
    for (const r of Array.isArray(e.rules) ? (e.rules as Record<string, unknown>[]) : []) {
      words.add(`rule=${String(r.rule)}`);
      if (typeof r.action === 'string') words.add(`action=${r.action}`);
      add(r.status);
    }
    if (Array.isArray(e.reasons)) for (const r of e.reasons as unknown[]) if (typeof r === 'string') words.add(r);
    this.st.setVerdict!.run([...words].join(' ').slice(0, 4 * MAX_TEXT), e.at, qid);
  }

  private delivery(qid: string, e: TrafficEvent): void {
    const address = str(e.to);
    const status = str(e.status);
    if (!address || !status) return;
    this.st.upsertRecipient!.run({ qid, address, status, dsn: str(e.dsn), reply: str(e.reply), relay: str(e.relay), attempts: typeof e.attempt === 'number' ? 1 : 0, at: e.at });
    this.refresh(qid, e.at);
  }

  private finalAll(qid: string, at: number, status: string, reply: string): void {
    for (const r of this.st.recipientsOf!.all(qid) as unknown as TrafficRecipient[]) {
      if (r.status === 'queued' || r.status === 'deferred' || r.status === 'pending') {
        this.st.upsertRecipient!.run({ qid, address: r.address, status, dsn: null, reply, relay: null, attempts: 0, at });
      }
    }
    this.refresh(qid, at);
  }

  private refresh(qid: string, at: number): void {
    const statuses = (this.st.recipientsOf!.all(qid) as unknown as TrafficRecipient[]).map((r) => r.status);
    this.st.setStatus!.run(messageStatus(statuses), at, qid);
  }

  search(q: TrafficQuery): TrafficPage {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const add = (clause: string, ...values: (string | number)[]) => {
      where.push(clause);
      args.push(...values);
    };
    if (q.since !== undefined) add('m.received >= ?', q.since);
    if (q.until !== undefined) add('m.received < ?', q.until);
    if (q.qid) add('(m.qid = ? OR m.qid IN (SELECT original FROM aliases WHERE qid = ?))', q.qid, q.qid);
    if (q.messageId) add('m.message_id = ?', q.messageId.startsWith('<') ? q.messageId : `<${q.messageId}>`);
    if (q.sender) {
      const [c, v] = addressClause('m.sender', q.sender);
      add(c, v);
    }
    if (q.recipient) {
      const [c, v] = addressClause('r.address', q.recipient);
      add(`m.qid IN (SELECT r.qid FROM recipients r WHERE ${c})`, v);
    }
    const fts = q.subject ? ftsQuery(q.subject) : undefined;
    if (q.subject && !fts) return { items: [] };
    if (fts) add('m.qid IN (SELECT qid FROM subjects WHERE subjects MATCH ?)', fts);
    if (q.client) add('m.client = ?', q.client);
    if (q.status) add('m.status = ?', q.status);
    if (q.verdict) add("(' ' || m.verdict || ' ') LIKE ? ESCAPE '\\'", `%${q.verdict.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    if (q.cursor) {
      const m = /^(\d+):(.+)$/.exec(q.cursor);
      if (!m) throw new TrafficQueryError('cursor: not one this log handed out');
      add('(m.received < ? OR (m.received = ? AND m.qid < ?))', Number(m[1]), Number(m[1]), m[2]!);
    }
    const limit = Math.min(Math.max(q.limit ?? 50, 1), 500);
    const rows = this.db.prepare(`SELECT m.qid, m.received, m.client, m.helo, m.tls, m.sender, m.subject, m.message_id AS messageId, m.size, m.status, m.verdict, m.reply
      FROM messages m ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY m.received DESC, m.qid DESC LIMIT ?`).all(...args, limit + 1) as unknown as Omit<TrafficMessage, 'recipients'>[];
    const page = rows.slice(0, limit).map((r) => ({ ...r, recipients: this.st.recipientsOf!.all(r.qid) as unknown as TrafficRecipient[] })) as TrafficMessage[];
    const last = page.at(-1);
    return { items: page, ...(rows.length > limit && last ? { next: `${last.received}:${last.qid}` } : {}) };
  }

  /** One message with every event recorded for it, oldest first; undefined when unknown. */
  timeline(qid: string): (TrafficMessage & { events: TimelineEntry[] }) | undefined {
    const owner = this.owner(qid);
    const [message] = this.search({ qid: owner, limit: 1 }).items;
    if (!message) return undefined;
    const events = (this.st.timeline!.all(owner) as { at: number; event: string; detail: string }[])
      .map((e) => ({ at: e.at, event: e.event, detail: JSON.parse(e.detail) as Record<string, unknown> }));
    return { ...message, events };
  }

  /** Deletes messages received before `before`, then the oldest until the database is under `maxBytes`. Returns how many went. */
  prune(before: number, maxBytes: number): number {
    let removed = this.removeWhere('received < ?', before);
    for (let i = 0; i < 100 && this.bytes() > maxBytes; i++) {
      const total = (this.db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n;
      if (total === 0) break;
      const cut = this.db.prepare('SELECT received FROM messages ORDER BY received LIMIT 1 OFFSET ?').get(Math.max(0, Math.ceil(total / 10) - 1)) as { received: number };
      removed += this.removeWhere('received <= ?', cut.received);
    }
    // Freed pages are reused by the next writes, so the file stays near maxSize without a VACUUM (which would need as much space again); the WAL is cut back.
    if (removed > 0) this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    return removed;
  }

  /** The database's size in bytes (pages in use, WAL aside). */
  bytes(): number {
    const pages = (this.db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
    const free = (this.db.prepare('PRAGMA freelist_count').get() as { freelist_count: number }).freelist_count;
    const size = (this.db.prepare('PRAGMA page_size').get() as { page_size: number }).page_size;
    return (pages - free) * size;
  }

  private removeWhere(clause: string, value: number): number {
    this.db.exec('BEGIN');
    try {
      const sel = `SELECT qid FROM messages WHERE ${clause}`;
      for (const t of ['recipients', 'events', 'subjects']) this.db.prepare(`DELETE FROM ${t} WHERE qid IN (${sel})`).run(value);
      this.db.prepare(`DELETE FROM aliases WHERE original IN (${sel})`).run(value);
      const n = Number(this.db.prepare(`DELETE FROM messages WHERE ${clause}`).run(value).changes);
      this.db.exec('COMMIT');
      return n;
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }
}

export class TrafficQueryError extends Error {}
