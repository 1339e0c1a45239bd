/**
 * The recorder's store: one SQLite file (better-sqlite3, WAL so queries run beside the
 * recorder). Records are written in batches, one transaction each; retention deletes by age
 * and by size. Domains are a trie table (id, parent, program) shared by all records.
 */
import Database from 'better-sqlite3';
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { CliError, EXIT } from '../../common/exit.js';
import { KERNEL_DOMAIN, type DomainRegistry } from '../process/domains.js';
import type { ProcessRecord, RecordType } from '../process/model.js';

export const DEFAULT_STORE = '/var/lib/lantern/record.db';

type DB = Database.Database;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS domains(
  id INTEGER PRIMARY KEY,
  parent INTEGER NOT NULL,
  program TEXT NOT NULL,
  UNIQUE(parent, program)
);
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  time_us INTEGER NOT NULL,
  pid INTEGER, tid INTEGER, ppid INTEGER,
  pstart_us INTEGER, ppstart_us INTEGER,
  uid INTEGER, program TEXT, comm TEXT, parent_comm TEXT,
  domain_id INTEGER, from_id INTEGER,
  exit_code INTEGER, signal INTEGER, sig_code INTEGER,
  sender_pid INTEGER, sender_comm TEXT, sender_program TEXT, sender_kind TEXT,
  reconstructed INTEGER NOT NULL DEFAULT 0,
  cpu INTEGER, lost INTEGER, detail TEXT
);
CREATE INDEX IF NOT EXISTS events_time ON events(time_us);
CREATE INDEX IF NOT EXISTS events_pid ON events(pid, pstart_us);
CREATE INDEX IF NOT EXISTS events_ppid ON events(ppid, ppstart_us);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

const INSERT_HEAD = `INSERT OR IGNORE INTO events(id,type,time_us,pid,tid,ppid,pstart_us,ppstart_us,uid,program,comm,parent_comm,domain_id,from_id,
  exit_code,signal,sig_code,sender_pid,sender_comm,sender_program,sender_kind,reconstructed,cpu,lost,detail) VALUES`;
const ROW_COLUMNS = 25;
const ROW_PLACEHOLDERS = `(${Array(ROW_COLUMNS).fill('?').join(',')})`;
/** 50 × 25 = 1,250 parameters, well under SQLite's limit (32,766 since 3.32). */
const BULK_ROWS = 50;

export interface StoredEvent {
  id: number;
  type: RecordType;
  time_us: number;
  pid: number | null;
  tid: number | null;
  ppid: number | null;
  pstart_us: number | null;
  ppstart_us: number | null;
  uid: number | null;
  program: string | null;
  comm: string | null;
  parent_comm: string | null;
  domain_id: number | null;
  from_id: number | null;
  exit_code: number | null;
  signal: number | null;
  sig_code: number | null;
  sender_pid: number | null;
  sender_comm: string | null;
  sender_program: string | null;
  sender_kind: string | null;
  reconstructed: number;
  cpu: number | null;
  lost: number | null;
  detail: string | null;
}

export interface EventQuery {
  sinceUs?: number;
  untilUs?: number;
  types?: RecordType[];
  domainIds?: number[];
  pid?: number;
  limit?: number;
}

export class Store implements DomainRegistry {
  readonly db: DB;
  readonly path: string;
  readonly root = 1;
  private nextEventId: number;
  private readonly keyCache = new Map<string, number>();
  private readonly nodeCache = new Map<number, { parent: number; program: string }>();
  private readonly insertStmt: Database.Statement;
  private readonly domainFind: Database.Statement;
  private readonly domainInsert: Database.Statement;
  private readonly domainGet: Database.Statement;
  private dupeStmt: Database.Statement | null = null;
  /** INSERT of BULK_ROWS rows at once: one statement run per 50 records costs far less than 50 runs. */
  private bulkStmt: Database.Statement | null = null;

  private constructor(db: DB, path: string) {
    this.db = db;
    this.path = path;
    const max = db.prepare('SELECT max(id) AS m FROM events').get() as { m: number | null };
    this.nextEventId = (max.m ?? 0) + 1;
    this.insertStmt = db.prepare(`${INSERT_HEAD} ${ROW_PLACEHOLDERS}`);
    this.domainFind = db.prepare('SELECT id FROM domains WHERE parent = ? AND program = ?');
    this.domainInsert = db.prepare('INSERT INTO domains(parent, program) VALUES(?, ?)');
    this.domainGet = db.prepare('SELECT parent, program FROM domains WHERE id = ?');
  }

  /** Open (creating when writable) a store. Read-only opens fail clearly when the file is absent. */
  static open(path: string, opts: { readonly?: boolean } = {}): Store {
    let db: DB;
    try {
      if (!opts.readonly) mkdirSync(dirname(path), { recursive: true });
      db = new Database(path, { readonly: !!opts.readonly, fileMustExist: !!opts.readonly });
    } catch (e) {
      throw new CliError(`cannot open store ${path}: ${(e as Error).message}`, opts.readonly ? EXIT.NOINPUT : EXIT.IOERR);
    }
    try {
      if (!opts.readonly) {
        // auto_vacuum must be chosen before the first table exists.
        db.pragma('auto_vacuum = INCREMENTAL');
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        db.exec(SCHEMA);
        db.prepare('INSERT OR IGNORE INTO domains(id, parent, program) VALUES(1, 0, ?)').run(KERNEL_DOMAIN);
      } else {
        db.pragma('query_only = 1');
        const t = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name IN ('events','domains','meta')").get() as { n: number };
        if (t.n < 3) throw new Error('not a lantern record store (tables missing)');
      }
    } catch (e) {
      db.close();
      if (e instanceof CliError) throw e;
      throw new CliError(`cannot use store ${path}: ${(e as Error).message}`, opts.readonly ? EXIT.DATAERR : EXIT.IOERR);
    }
    return new Store(db, path);
  }

  close(): void {
    try {
      if (!this.db.readonly) this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      /* a reader may hold the WAL: fine */
    }
    this.db.close();
  }

  /** Record ids are allocated here so records can reference one another before they are written. */
  nextId(): number {
    return this.nextEventId++;
  }

  intern(parent: number, program: string): number {
    const key = `${parent}\0${program}`;
    const hit = this.keyCache.get(key);
    if (hit !== undefined) return hit;
    let row = this.domainFind.get(parent, program) as { id: number } | undefined;
    if (!row) row = { id: Number(this.domainInsert.run(parent, program).lastInsertRowid) };
    if (this.keyCache.size >= 200_000) this.keyCache.clear(); // bounded: misses fall back to the table
    this.keyCache.set(key, row.id);
    this.cacheNode(row.id, parent, program);
    return row.id;
  }

  private cacheNode(id: number, parent: number, program: string): void {
    if (this.nodeCache.size >= 200_000) this.nodeCache.clear();
    this.nodeCache.set(id, { parent, program });
  }

  private node(id: number): { parent: number; program: string } | null {
    const hit = this.nodeCache.get(id);
    if (hit) return hit;
    const row = this.domainGet.get(id) as { parent: number; program: string } | undefined;
    if (!row) return null;
    this.cacheNode(id, row.parent, row.program);
    return row;
  }

  name(id: number): string {
    const parts: string[] = [];
    let cur = id;
    for (let guard = 0; cur !== this.root && guard < 1_000_000; guard++) {
      const n = this.node(cur);
      if (!n) {
        parts.push('<?>');
        break;
      }
      parts.push(n.program);
      cur = n.parent;
    }
    parts.push(KERNEL_DOMAIN);
    return parts.reverse().join(' ');
  }

  /** Write a batch in one transaction. Reconstructed duplicates (same pid, start, from a restart) are skipped. */
  write(records: ProcessRecord[]): number {
    if (records.length === 0) return 0;
    const dupe = (this.dupeStmt ??= this.db.prepare("SELECT 1 FROM events WHERE pid = ? AND type = 'exec' AND abs(pstart_us - ?) < 1000000 LIMIT 1"));
    const bulk = (this.bulkStmt ??= this.db.prepare(`${INSERT_HEAD} ${Array(BULK_ROWS).fill(ROW_PLACEHOLDERS).join(',')}`));
    let n = 0;
    const tx = this.db.transaction((rows: ProcessRecord[]) => {
      // Positional binding, and BULK_ROWS rows per statement where the batch allows.
      let pending: unknown[] = [];
      let pendingRows = 0;
      const flush = () => {
        for (let i = 0; i < pendingRows; i++) n += this.insertStmt.run(...pending.slice(i * ROW_COLUMNS, (i + 1) * ROW_COLUMNS)).changes;
        pending = [];
        pendingRows = 0;
      };
      for (const r of rows) {
        if (r.reconstructed) {
          flush(); // the duplicate check must see every earlier row of the batch
          if (dupe.get(r.pid, r.pstartUs)) continue;
        }
        pending.push(
          r.id, r.type, Math.round(r.timeUs), r.pid, r.tid, r.ppid, Math.round(r.pstartUs), r.ppstartUs === null ? null : Math.round(r.ppstartUs),
          r.uid, r.program, r.comm, r.parentComm, r.domainId, r.fromId, r.exitCode, r.signal, r.sigCode, r.senderPid, r.senderComm,
          r.senderProgram, r.senderKind, r.reconstructed ? 1 : 0, r.cpu, r.lost, r.detail,
        );
        if (++pendingRows === BULK_ROWS) {
          n += bulk.run(pending).changes;
          pending = [];
          pendingRows = 0;
        }
      }
      flush();
    });
    tx(records);
    return n;
  }

  setMeta(key: string, value: unknown): void {
    this.db.prepare('INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, JSON.stringify(value));
  }

  getMeta<T>(key: string): T | null {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    if (!row) return null;
    try {
      return JSON.parse(row.value) as T;
    } catch {
      return null;
    }
  }

  /** Bytes on disk: the database plus its WAL. */
  sizeBytes(): number {
    let total = 0;
    for (const p of [this.path, `${this.path}-wal`]) {
      try {
        total += statSync(p).size;
      } catch {
        /* absent */
      }
    }
    return total;
  }

  /**
   * Retention: delete records older than maxAgeUs, then the oldest records while the file is
   * larger than maxBytes, giving freed pages back with incremental vacuum. Returns rows deleted.
   */
  retain(opts: { maxAgeUs?: number; maxBytes?: number; nowUs?: number }): number {
    let deleted = 0;
    const now = opts.nowUs ?? Date.now() * 1000;
    if (opts.maxAgeUs && opts.maxAgeUs > 0) {
      deleted += this.db.prepare('DELETE FROM events WHERE time_us < ?').run(now - opts.maxAgeUs).changes;
    }
    if (opts.maxBytes && opts.maxBytes > 0) {
      const pageSize = this.db.pragma('page_size', { simple: true }) as number;
      const used = () => ((this.db.pragma('page_count', { simple: true }) as number) - (this.db.pragma('freelist_count', { simple: true }) as number)) * pageSize;
      for (let round = 0; round < 50 && used() > opts.maxBytes; round++) {
        const total = (this.db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
        if (total === 0) break;
        const cut = Math.max(1, Math.ceil(total * 0.1));
        const row = this.db.prepare('SELECT time_us FROM events ORDER BY time_us LIMIT 1 OFFSET ?').get(cut - 1) as { time_us: number } | undefined;
        if (!row) break;
        deleted += this.db.prepare('DELETE FROM events WHERE time_us <= ?').run(row.time_us).changes;
      }
    }
    if (deleted > 0) {
      this.db.pragma('incremental_vacuum');
      try {
        this.db.pragma('wal_checkpoint(TRUNCATE)');
      } catch {
        /* readers active */
      }
    }
    return deleted;
  }

  /**
   * Delete domains no record uses any more, keeping `live` (domains of running processes) and
   * every ancestor of a kept domain. Run after retention so the size limit also bounds the
   * trie. Caches are dropped, as a deleted id may be given to a new domain later.
   */
  pruneDomains(live: Iterable<number>): number {
    const rows = this.db.prepare('SELECT id, parent FROM domains').all() as Array<{ id: number; parent: number }>;
    const parentOf = new Map(rows.map((r) => [r.id, r.parent]));
    const keep = new Set<number>([this.root]);
    const used = this.db.prepare('SELECT DISTINCT domain_id AS id FROM events WHERE domain_id IS NOT NULL').all() as Array<{ id: number }>;
    const mark = (id: number) => {
      for (let cur: number | undefined = id, guard = 0; cur !== undefined && !keep.has(cur) && guard < 1_000_000; guard++) {
        keep.add(cur);
        cur = parentOf.get(cur);
      }
    };
    for (const u of used) mark(u.id);
    for (const id of live) mark(id);
    const doomed = rows.filter((r) => !keep.has(r.id)).map((r) => r.id);
    if (doomed.length === 0) return 0;
    const del = this.db.prepare('DELETE FROM domains WHERE id = ?');
    this.db.transaction((ids: number[]) => ids.forEach((id) => del.run(id)))(doomed);
    this.keyCache.clear();
    this.nodeCache.clear();
    return doomed.length;
  }

  query(q: EventQuery): StoredEvent[] {
    const { sql, args } = this.buildQuery(q);
    if (sql === null) return [];
    return this.db.prepare(sql).all(...args) as StoredEvent[];
  }

  /** Like query, one row at a time. */
  *iterate(q: EventQuery): Generator<StoredEvent> {
    const { sql, args } = this.buildQuery(q);
    if (sql === null) return;
    // A second statement (historyOf's lookups) may run while this one iterates: fine in better-sqlite3 for reads.
    yield* this.db.prepare(sql).iterate(...args) as IterableIterator<StoredEvent>;
  }

  private buildQuery(q: EventQuery): { sql: string | null; args: unknown[] } {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.sinceUs !== undefined) {
      where.push('time_us >= ?');
      args.push(q.sinceUs);
    }
    if (q.untilUs !== undefined) {
      where.push('time_us <= ?');
      args.push(q.untilUs);
    }
    if (q.types && q.types.length) {
      where.push(`type IN (${q.types.map(() => '?').join(',')})`);
      args.push(...q.types);
    }
    if (q.pid !== undefined) {
      where.push('pid = ?');
      args.push(q.pid);
    }
    if (q.domainIds) {
      if (q.domainIds.length === 0) return { sql: null, args };
      // One JSON parameter, however many domains match (works on read-only opens).
      args.push(JSON.stringify(q.domainIds));
      where.push('domain_id IN (SELECT value FROM json_each(?))');
    }
    const sql = `SELECT * FROM events ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY time_us, id ${q.limit ? 'LIMIT ' + Math.floor(q.limit) : ''}`;
    return { sql, args };
  }

  get(id: number): StoredEvent | null {
    return (this.db.prepare('SELECT * FROM events WHERE id = ?').get(id) as StoredEvent | undefined) ?? null;
  }

  /** Every domain with its number of exec records (processes that entered it). */
  /** Per domain: execs recorded, how many of them were reconstructed from /proc at recorder start, first and last. */
  domainCounts(): Array<{ id: number; parent: number; program: string; execs: number; reconstructed: number; first_us: number | null; last_us: number | null }> {
    return this.db
      .prepare(
        `SELECT d.id, d.parent, d.program, coalesce(c.n, 0) AS execs, coalesce(c.r, 0) AS reconstructed, c.first_us, c.last_us FROM domains d
         LEFT JOIN (SELECT domain_id, count(*) AS n, sum(reconstructed) AS r, min(time_us) AS first_us, max(time_us) AS last_us FROM events WHERE type = 'exec' GROUP BY domain_id) c
         ON c.domain_id = d.id ORDER BY d.id`,
      )
      .all() as Array<{ id: number; parent: number; program: string; execs: number; reconstructed: number; first_us: number | null; last_us: number | null }>;
  }

  counts(): Record<string, number> {
    const rows = this.db.prepare('SELECT type, count(*) AS n FROM events GROUP BY type').all() as Array<{ type: string; n: number }>;
    return Object.fromEntries(rows.map((r) => [r.type, r.n]));
  }
}
