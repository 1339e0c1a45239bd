/**
 * The recorder's store: one SQLite file (better-sqlite3, WAL while the recorder runs so queries
 * run beside it; switched back to a rollback journal when it stops, so a stopped store is one
 * plain file). Records are written in batches, one transaction each; retention deletes by age
 * and by size. Domains are a trie table (id, parent, program) shared by all records.
 *
 * Every write of the recorder's hot path goes through write(): new domains get their id in
 * memory and their row is written in the same transaction as the records, so a full disk fails
 * exactly one call, which the recorder retries (nothing else on that path touches the disk).
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { entryKind, openEvidence } from '../../common/evidence.js';
import { CliError, EXIT } from '../../common/exit.js';
import { KERNEL_DOMAIN, type DomainRegistry } from '../process/domains.js';
import type { ProcessRecord, RecordType } from '../process/model.js';
import { accessDomainIds } from './access.js';
import { IO_DETAIL_FIELDS } from '../io/core.js';

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
CREATE TABLE IF NOT EXISTS hung_evidence(
  event_id INTEGER PRIMARY KEY,
  incident INTEGER NOT NULL,
  snapshot TEXT
);
CREATE TABLE IF NOT EXISTS kmsg(
  event_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  ts_us INTEGER NOT NULL,
  level INTEGER NOT NULL,
  facility INTEGER NOT NULL,
  text TEXT NOT NULL,
  PRIMARY KEY(event_id, seq)
);
`;

/**
 * The I/O detector's byte counts, one row per `io` record (src/record/io/). Integers: SQLite's
 * are 64-bit, and JavaScript's numbers are exact to 2^53 bytes (8 PiB) per thread.
 */
const IO_SCHEMA = `
CREATE TABLE IF NOT EXISTS io_exit(
  event_id INTEGER PRIMARY KEY,
  read_bytes INTEGER NOT NULL,
  write_bytes INTEGER NOT NULL,
  cancelled_write_bytes INTEGER NOT NULL,
  read_chars INTEGER NOT NULL,
  write_chars INTEGER NOT NULL
);
`;

/** One `io` record's byte counts as stored. */
export interface StoredIo {
  read_bytes: number;
  write_bytes: number;
  cancelled_write_bytes: number;
  read_chars: number;
  write_chars: number;
}

/**
 * PRAGMA user_version of the schema: 1 = events, domains, meta; 2 = plus hung_evidence and kmsg
 * (the hung-task detector); 3 = io records may be stored without their detail text, which a
 * read composes from their io_exit row (EVENT_COLUMNS; the tables are those of version 2). A
 * writer's open creates what is missing (CREATE … IF NOT EXISTS), so an older store is migrated
 * in place; readers of a version-1 store find no evidence; io records stored with a detail keep it.
 */
export const SCHEMA_VERSION = 3;

const INSERT_HEAD = `INSERT OR IGNORE INTO events(id,type,time_us,pid,tid,ppid,pstart_us,ppstart_us,uid,program,comm,parent_comm,domain_id,from_id,
  exit_code,signal,sig_code,sender_pid,sender_comm,sender_program,sender_kind,reconstructed,cpu,lost,detail) VALUES`;
const ROW_COLUMNS = 25;

/** The columns of events, in table order (what `SELECT *` gives). */
const EVENT_COLUMN_NAMES = INSERT_HEAD.slice(INSERT_HEAD.indexOf('(') + 1, INSERT_HEAD.indexOf(')'))
  .split(',')
  .map((c) => c.trim());

/**
 * What a read selects from events: every column, an io record's missing detail composed from
 * its io_exit row (the text of ioDetail, src/record/io/core.ts), so the recorder's hot path
 * stores no text that the numbers beside it already hold.
 */
const IO_DETAIL_SQL = `CASE WHEN events.detail IS NULL AND events.type = 'io' THEN (SELECT ${IO_DETAIL_FIELDS.map(([label, , column]) => `'${label}=' || io.${column}`).join(" || ' ' || ")} FROM io_exit io WHERE io.event_id = events.id) ELSE events.detail END AS detail`;
const EVENT_COLUMNS = EVENT_COLUMN_NAMES.map((c) => (c === 'detail' ? IO_DETAIL_SQL : `events.${c}`)).join(', ');
const ROW_PLACEHOLDERS = `(${Array(ROW_COLUMNS).fill('?').join(',')})`;
/** Columns of an io_exit row. */
const IO_COLUMNS = 6;
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
  /** Only events with a larger id, in id order (a forwarder's cursor: ids grow as records are written). */
  afterId?: number;
}

/** SQLite result codes that mean the file itself is damaged or is not a database. */
const DAMAGED_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_INDEX', 'SQLITE_CORRUPT_SEQUENCE', 'SQLITE_CORRUPT_VTAB']);

export function isDamageError(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' && (DAMAGED_CODES.has(code) || code.startsWith('SQLITE_CORRUPT'));
}

/** How a query opened the store (said in docs/record.md, "Limits and guarantees"). */
export type ReadMode = 'direct' | 'private-copy';

export class Store implements DomainRegistry {
  readonly db: DB;
  readonly path: string;
  readonly root = 1;
  /** For read-only opens: read in place, or from a private copy (see openReadonly). */
  readMode: ReadMode = 'direct';
  private copyDir: string | null = null;
  private nextEventId: number;
  private nextDomainId: number;
  private readonly keyCache = new Map<string, number>();
  private readonly nodeCache = new Map<number, { parent: number; program: string }>();
  /** Domains given an id but not yet written: written with the next batch of records. */
  private readonly pendingDomains = new Map<number, { parent: number; program: string }>();
  private readonly pendingKeys = new Map<string, number>();
  private readonly insertStmt: Database.Statement;
  private readonly domainFind: Database.Statement;
  private readonly domainInsert: Database.Statement;
  private readonly domainGet: Database.Statement;
  private dupeStmt: Database.Statement | null = null;
  /** INSERT of BULK_ROWS rows at once: one statement run per 50 records costs far less than 50 runs. */
  private bulkStmt: Database.Statement | null = null;
  private writeTx: Database.Transaction<(rows: ProcessRecord[], withIo: boolean) => number> | null = null;
  /** The bound values of one bulk INSERT, reused batch after batch (no array per row or per statement). */
  private readonly bulkArgs: unknown[] = new Array<unknown>(BULK_ROWS * ROW_COLUMNS).fill(null);
  private ioStmt: Database.Statement | null = null;
  private ioBulkStmt: Database.Statement | null = null;
  /** The bound values of one bulk io_exit INSERT, reused (spread into the call, as bulkArgs). */
  private readonly ioArgs: number[] = new Array<number>(BULK_ROWS * IO_COLUMNS).fill(0);
  /** The column list of reads (EVENT_COLUMNS; plain `*` in a store without io_exit). */
  private readonly selectColumns: string;

  private constructor(db: DB, path: string) {
    this.db = db;
    this.path = path;
    const max = db.prepare('SELECT max(id) AS m FROM events').get() as { m: number | null };
    this.nextEventId = (max.m ?? 0) + 1;
    const maxDomain = db.prepare('SELECT max(id) AS m FROM domains').get() as { m: number | null };
    this.nextDomainId = (maxDomain.m ?? this.root) + 1;
    this.insertStmt = db.prepare(`${INSERT_HEAD} ${ROW_PLACEHOLDERS}`);
    this.domainFind = db.prepare('SELECT id FROM domains WHERE parent = ? AND program = ?');
    // The sole writer allocates ids, so a conflict can only come from a lookup that failed on a
    // damaged store: keep the batch (its records are worth more than one domain name).
    this.domainInsert = db.prepare('INSERT INTO domains(id, parent, program) VALUES(?, ?, ?) ON CONFLICT DO NOTHING');
    this.domainGet = db.prepare('SELECT parent, program FROM domains WHERE id = ?');
    this.selectColumns = this.hasTable('io_exit') ? EVENT_COLUMNS : '*';
  }

  /** Open (creating when writable) a store. Read-only opens: see openReadonly. */
  static open(path: string, opts: { readonly?: boolean } = {}): Store {
    if (opts.readonly) return Store.openReadonly(path);
    let db: DB;
    try {
      mkdirSync(dirname(path), { recursive: true });
      db = new Database(path);
    } catch (e) {
      throw new CliError(`cannot open store ${path}: ${(e as Error).message}`, EXIT.IOERR);
    }
    try {
      // auto_vacuum must be chosen before the first table exists (and setting it writes, which
      // a full disk refuses: only for a new store).
      const tables = (db.prepare('SELECT count(*) AS n FROM sqlite_master').get() as { n: number }).n;
      if (tables === 0) db.pragma('auto_vacuum = INCREMENTAL');
      try {
        db.pragma('journal_mode = WAL');
      } catch (e) {
        // A stopped store is in rollback mode; switching needs room (a full disk) and no reader.
        // Record in rollback mode meanwhile (readers wait for the short write transactions); the
        // next start switches. Damage is not this case: the schema statement below says it.
        if (isDamageError(e)) throw e;
        process.stderr.write(`lantern record: store ${path} stays in rollback-journal mode for now (${(e as Error).message})\n`);
      }
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
      db.exec(IO_SCHEMA);
      if ((db.pragma('user_version', { simple: true }) as number) < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
      db.prepare('INSERT OR IGNORE INTO domains(id, parent, program) VALUES(1, 0, ?)').run(KERNEL_DOMAIN);
      return new Store(db, path);
    } catch (e) {
      const damaged = isDamageError(e) ? quickCheck(db) : null;
      db.close();
      if (damaged) throw new CliError(`store ${path} is damaged (PRAGMA quick_check: ${damaged}); move it away to start a new one`, EXIT.DATAERR);
      throw new CliError(`cannot use store ${path}: ${(e as Error).message}`, EXIT.IOERR);
    }
  }

  /**
   * Open for queries, never changing what lies next to the store (it may be evidence, or on
   * read-only media). SQLite can only do that itself in some cases (its `immutable` URI is not
   * available through better-sqlite3, which opens without SQLITE_OPEN_URI):
   *  - a rollback-journal store (how the recorder leaves it when it stops): opened read-only
   *    in place, which creates nothing, on read-only media too;
   *  - a WAL store with its -wal and -shm (a recorder is running, or was killed): read-only in
   *    place, sharing the running recorder's wal-index; creates nothing (works read-only too);
   *  - a WAL store without its -shm (copied evidence, a store closed on a full disk): SQLite
   *    would create -shm and -wal, or fail on read-only media, so the store and its -wal are
   *    copied into a private temporary directory and read there (removed on close).
   */
  static openReadonly(path: string): Store {
    const main = regularFileOrThrow(path);
    const wal = `${path}-wal`;
    const shm = `${path}-shm`;
    const walMode = main.header.length >= 20 && main.header[18] === 2 && main.header[19] === 2;
    // SQLite opens these itself when reading in place: they must be what they claim to be.
    for (const side of [wal, shm]) {
      let st;
      try {
        st = lstatSync(side);
      } catch {
        continue; // absent
      }
      if (!st.isFile()) throw new CliError(`cannot read store ${path}: ${side} is a ${entryKind(st)}, not a regular file (not read)`, EXIT.NOINPUT);
    }
    const inPlace = !walMode || (existsSync(wal) && existsSync(shm));
    if (inPlace) {
      try {
        return Store.fromReadonlyDb(new Database(path, { readonly: true, fileMustExist: true }), path);
      } catch (e) {
        if (e instanceof CliError) throw e;
        // e.g. a stale -shm on read-only media that SQLite cannot use: read a private copy.
      }
    }
    const copyDir = mkdtempSync(join(tmpdir(), 'lantern-store-'));
    try {
      const copy = join(copyDir, basename(path));
      copyEvidence(path, copy);
      if (existsSync(wal)) copyEvidence(wal, `${copy}-wal`);
      if (!walMode && existsSync(`${path}-journal`)) copyEvidence(`${path}-journal`, `${copy}-journal`);
      const store = Store.fromReadonlyDb(new Database(copy, { fileMustExist: true }), path);
      store.readMode = 'private-copy';
      store.copyDir = copyDir;
      return store;
    } catch (e) {
      rmSync(copyDir, { recursive: true, force: true });
      if (e instanceof CliError) throw e;
      throw new CliError(`cannot read store ${path}: ${(e as Error).message}`, EXIT.NOINPUT);
    }
  }

  /** Checks the tables; damage is a CliError (65) with quick_check's finding, other errors are thrown as they are. */
  private static fromReadonlyDb(db: DB, path: string): Store {
    try {
      db.pragma('query_only = 1');
      const t = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name IN ('events','domains','meta')").get() as { n: number };
      if (t.n < 3) throw new CliError(`cannot use store ${path}: not a lantern record store (tables missing)`, EXIT.DATAERR);
      return new Store(db, path);
    } catch (e) {
      const damaged = !(e instanceof CliError) && isDamageError(e) ? (quickCheck(db) ?? (e as Error).message) : null;
      db.close();
      if (damaged) throw damagedError(path, damaged);
      throw e;
    }
  }

  /**
   * After a query failed or found nothing: what `PRAGMA quick_check` says about the store, or
   * null when it is sound. So damage is one clear error, never a stack trace or a silent "no records".
   */
  damage(): string | null {
    return quickCheck(this.db);
  }

  close(): void {
    if (!this.db.readonly && !this.db.pragma('query_only', { simple: true })) {
      try {
        this.write([]); // domains given an id since the last batch
      } catch {
        /* disk full or broken: nothing refers to them on disk */
      }
      try {
        this.db.pragma('wal_checkpoint(TRUNCATE)');
        // A stopped store is one plain file that a read-only open leaves alone (see openReadonly).
        // Needs the only connection; with a reader active it stays WAL, which queries also handle.
        this.db.pragma('journal_mode = DELETE');
      } catch {
        /* a reader holds the WAL, or the disk is full: fine */
      }
    }
    this.db.close();
    if (this.copyDir) rmSync(this.copyDir, { recursive: true, force: true });
    this.copyDir = null;
  }

  /** Record ids are allocated here so records can reference one another before they are written. */
  nextId(): number {
    return this.nextEventId++;
  }

  /** Never writes (a full disk must not fail the model): a new domain's row waits for write(). */
  intern(parent: number, program: string): number {
    const key = `${parent}\0${program}`;
    const hit = this.keyCache.get(key) ?? this.pendingKeys.get(key);
    if (hit !== undefined) return hit;
    let id: number | undefined;
    try {
      id = (this.domainFind.get(parent, program) as { id: number } | undefined)?.id;
    } catch {
      /* an unreadable page: a new id keeps the records (see domainInsert) */
    }
    if (id === undefined) {
      id = this.nextDomainId++;
      this.pendingDomains.set(id, { parent, program });
      this.pendingKeys.set(key, id);
    }
    if (this.keyCache.size >= 200_000) this.keyCache.clear(); // bounded: misses fall back to the table
    this.keyCache.set(key, id);
    this.cacheNode(id, parent, program);
    return id;
  }

  /** Domains waiting to be written with the next batch (bounded by the distinct domains met). */
  get pendingDomainCount(): number {
    return this.pendingDomains.size;
  }

  private cacheNode(id: number, parent: number, program: string): void {
    if (this.nodeCache.size >= 200_000) this.nodeCache.clear();
    this.nodeCache.set(id, { parent, program });
  }

  private node(id: number): { parent: number; program: string } | null {
    const hit = this.nodeCache.get(id) ?? this.pendingDomains.get(id);
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
    if (records.length === 0 && this.pendingDomains.size === 0) return 0;
    const dupe = (this.dupeStmt ??= this.db.prepare("SELECT 1 FROM events WHERE pid = ? AND type = 'exec' AND abs(pstart_us - ?) < 1000000 LIMIT 1"));
    const bulk = (this.bulkStmt ??= this.db.prepare(`${INSERT_HEAD} ${Array(BULK_ROWS).fill(ROW_PLACEHOLDERS).join(',')}`));
    const withIo = records.some((r) => r.type === 'io' && r.io);
    // Made once: better-sqlite3 builds a wrapper per transaction() call.
    const n = (this.writeTx ??= this.db.transaction((rows: ProcessRecord[], io: boolean) => this.insertBatch(rows, io, dupe, bulk)))(records, withIo);
    this.pendingDomains.clear(); // committed
    this.pendingKeys.clear();
    return n;
  }

  private insertBatch(rows: ProcessRecord[], withIo: boolean, dupe: Database.Statement, bulk: Database.Statement): number {
    let n = 0;
    for (const [id, d] of this.pendingDomains) this.domainInsert.run(id, d.parent, d.program);
    // Positional binding, BULK_ROWS rows per statement where the batch allows, from one reused
    // array spread into the call: better-sqlite3 binds call arguments directly, while an array
    // argument costs a property lookup per value (~0.6 µs per row of 25 values).
    const args = this.bulkArgs;
    let filled = 0;
    const flush = () => {
      for (let i = 0; i < filled; i += ROW_COLUMNS) n += this.insertStmt.run(...args.slice(i, i + ROW_COLUMNS)).changes;
      filled = 0;
    };
    for (const r of rows) {
      if (r.reconstructed) {
        flush(); // the duplicate check must see every earlier row of the batch
        if (dupe.get(r.pid, r.pstartUs)) continue;
      }
      let k = filled;
      args[k++] = r.id;
      args[k++] = r.type;
      args[k++] = Math.round(r.timeUs);
      args[k++] = r.pid;
      args[k++] = r.tid;
      args[k++] = r.ppid;
      args[k++] = Math.round(r.pstartUs);
      args[k++] = r.ppstartUs === null ? null : Math.round(r.ppstartUs);
      args[k++] = r.uid;
      args[k++] = r.program;
      args[k++] = r.comm;
      args[k++] = r.parentComm;
      args[k++] = r.domainId;
      args[k++] = r.fromId;
      args[k++] = r.exitCode;
      args[k++] = r.signal;
      args[k++] = r.sigCode;
      args[k++] = r.senderPid;
      args[k++] = r.senderComm;
      args[k++] = r.senderProgram;
      args[k++] = r.senderKind;
      args[k++] = r.reconstructed ? 1 : 0;
      args[k++] = r.cpu;
      args[k++] = r.lost;
      args[k++] = r.detail;
      filled = k;
      if (filled === args.length) {
        n += bulk.run(...args).changes;
        filled = 0;
      }
    }
    flush();
    if (withIo) this.writeIo(rows);
    return n;
  }

  /** The io_exit rows of a batch's io records (inside write()'s transaction), BULK_ROWS at a time. */
  private writeIo(rows: ProcessRecord[]): void {
    const head = 'INSERT OR IGNORE INTO io_exit(event_id, read_bytes, write_bytes, cancelled_write_bytes, read_chars, write_chars) VALUES';
    const one = (this.ioStmt ??= this.db.prepare(`${head} (?,?,?,?,?,?)`));
    const bulk = (this.ioBulkStmt ??= this.db.prepare(`${head} ${Array(BULK_ROWS).fill('(?,?,?,?,?,?)').join(',')}`));
    const args = this.ioArgs;
    let k = 0;
    for (const r of rows) {
      const io = r.io;
      if (r.type !== 'io' || !io) continue;
      args[k++] = r.id;
      args[k++] = io.readBytes;
      args[k++] = io.writeBytes;
      args[k++] = io.cancelledWriteBytes;
      args[k++] = io.readChars;
      args[k++] = io.writeChars;
      if (k === args.length) {
        bulk.run(...args);
        k = 0;
      }
    }
    for (let i = 0; i < k; i += IO_COLUMNS) one.run(...args.slice(i, i + IO_COLUMNS));
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
        this.deleteOrphanEvidence(); // it counts toward the size the loop measures
      }
    }
    if (deleted > 0) {
      this.deleteOrphanEvidence();
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
    // A domain waiting to be written may hang below any stored one: store it first.
    this.write([]);
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
    for (const id of accessDomainIds(this.db)) mark(id); // access lists name their domain
    for (const id of live) mark(id);
    const doomed = rows.filter((r) => !keep.has(r.id)).map((r) => r.id);
    if (doomed.length === 0) return 0;
    const del = this.db.prepare('DELETE FROM domains WHERE id = ?');
    this.db.transaction((ids: number[]) => ids.forEach((id) => del.run(id)))(doomed);
    this.keyCache.clear();
    this.nodeCache.clear();
    return doomed.length;
  }

  /** The highest record id written (0 for an empty store): a forwarder's backlog is the ids above its cursor. */
  lastId(): number {
    const r = this.db.prepare('SELECT MAX(id) AS m FROM events').get() as { m: number | null };
    return r.m ?? 0;
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
    if (q.afterId !== undefined) {
      where.push('id > ?');
      args.push(q.afterId);
    }
    if (q.domainIds) {
      if (q.domainIds.length === 0) return { sql: null, args };
      // One JSON parameter, however many domains match (works on read-only opens).
      args.push(JSON.stringify(q.domainIds));
      where.push('domain_id IN (SELECT value FROM json_each(?))');
    }
    const sql = `SELECT ${this.selectColumns} FROM events ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY ${q.afterId !== undefined ? 'id' : 'time_us, id'} ${q.limit ? 'LIMIT ' + Math.floor(q.limit) : ''}`;
    return { sql, args };
  }

  /** Evidence of hung records that retention deleted goes with them. */
  private deleteOrphanEvidence(): void {
    this.db.prepare('DELETE FROM hung_evidence WHERE event_id NOT IN (SELECT id FROM events)').run();
    this.db.prepare('DELETE FROM kmsg WHERE event_id NOT IN (SELECT id FROM events)').run();
    if (this.hasTable('io_exit')) this.db.prepare('DELETE FROM io_exit WHERE event_id NOT IN (SELECT id FROM events)').run();
  }

  /** An io record's byte counts, or null (none, or a store from before the I/O detector). */
  ioOf(eventId: number): StoredIo | null {
    if (!this.hasTable('io_exit')) return null;
    return (this.db.prepare('SELECT read_bytes, write_bytes, cancelled_write_bytes, read_chars, write_chars FROM io_exit WHERE event_id = ?').get(eventId) as StoredIo | undefined) ?? null;
  }

  /**
   * Sums of the io records from sinceUs (to untilUs), per program (its path, or [comm] when the
   * recorder did not know it) or per domain id; processes are told apart by (pid, start).
   */
  ioTotals(q: {
    by: 'program' | 'domain';
    sinceUs?: number;
    untilUs?: number;
  }): Array<{ key: string | number; processes: number; threads: number; read_bytes: number; write_bytes: number; cancelled_write_bytes: number }> {
    if (!this.hasTable('io_exit')) return [];
    const key = q.by === 'program' ? "coalesce(e.program, '[' || coalesce(e.comm, '?') || ']')" : 'e.domain_id';
    const where = ["e.type = 'io'"];
    const args: number[] = [];
    if (q.sinceUs !== undefined) {
      where.push('e.time_us >= ?');
      args.push(q.sinceUs);
    }
    if (q.untilUs !== undefined) {
      where.push('e.time_us <= ?');
      args.push(q.untilUs);
    }
    return this.db
      .prepare(
        `SELECT ${key} AS key, count(DISTINCT e.pid || ':' || e.pstart_us) AS processes, count(*) AS threads, sum(i.read_bytes) AS read_bytes,
         sum(i.write_bytes) AS write_bytes, sum(i.cancelled_write_bytes) AS cancelled_write_bytes
         FROM events e JOIN io_exit i ON i.event_id = e.id WHERE ${where.join(' AND ')} GROUP BY ${key}`,
      )
      .all(...args) as Array<{ key: string | number; processes: number; threads: number; read_bytes: number; write_bytes: number; cancelled_write_bytes: number }>;
  }

  /** The evidence of one hung-task incident (snapshot JSON and captured kernel-log records), in one transaction. */
  writeHungEvidence(ev: { eventId: number; incident: number; snapshot: unknown; kmsg: Array<{ seq: number; tsUs: number; level: number; facility: number; text: string }> }): void {
    const ins = this.db.prepare('INSERT OR REPLACE INTO hung_evidence(event_id, incident, snapshot) VALUES(?, ?, ?)');
    const k = this.db.prepare('INSERT OR IGNORE INTO kmsg(event_id, seq, ts_us, level, facility, text) VALUES(?, ?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      ins.run(ev.eventId, ev.incident, ev.snapshot === null ? null : JSON.stringify(ev.snapshot));
      for (const r of ev.kmsg) k.run(ev.eventId, r.seq, r.tsUs, r.level, r.facility, r.text);
    })();
  }

  private hasTable(name: string): boolean {
    return Boolean(this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name));
  }

  /** A hung record's evidence, or null (none, or a store older than schema version 2). */
  hungEvidence(eventId: number): { incident: number; snapshot: unknown; kmsg: Array<{ seq: number; ts_us: number; level: number; facility: number; text: string }> } | null {
    if (!this.hasTable('hung_evidence')) return null;
    const row = this.db.prepare('SELECT incident, snapshot FROM hung_evidence WHERE event_id = ?').get(eventId) as { incident: number; snapshot: string | null } | undefined;
    if (!row) return null;
    let snapshot: unknown = null;
    try {
      snapshot = row.snapshot === null ? null : JSON.parse(row.snapshot);
    } catch {
      snapshot = null;
    }
    const kmsg = this.hasTable('kmsg')
      ? (this.db.prepare('SELECT seq, ts_us, level, facility, text FROM kmsg WHERE event_id = ? ORDER BY seq').all(eventId) as Array<{
          seq: number;
          ts_us: number;
          level: number;
          facility: number;
          text: string;
        }>)
      : [];
    return { incident: row.incident, snapshot, kmsg };
  }

  get(id: number): StoredEvent | null {
    return (this.db.prepare(`SELECT ${this.selectColumns} FROM events WHERE id = ?`).get(id) as StoredEvent | undefined) ?? null;
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

/** `PRAGMA quick_check`'s finding (first lines), or null when it says ok. Never throws. */
function quickCheck(db: DB): string | null {
  try {
    const rows = db.pragma('quick_check(20)', { simple: false }) as Array<{ quick_check: string }>;
    if (rows.length === 1 && rows[0]!.quick_check === 'ok') return null;
    // One line: its first findings (a row can hold several lines; the header line says nothing).
    const found = rows
      .flatMap((r) => r.quick_check.split('\n'))
      .map((l) => l.trim())
      .filter((l) => l && !/^\*\*\* in database \w+ \*\*\*$/.test(l));
    return found.slice(0, 3).join('; ') + (found.length > 3 ? `; and ${found.length >= 20 ? 'at least ' : ''}${found.length - 3} more` : '');
  } catch (e) {
    return (e as Error).message;
  }
}

export function damagedError(path: string, finding: string): CliError {
  return new CliError(`store ${path} is damaged (PRAGMA quick_check: ${finding})`, EXIT.DATAERR);
}

/** The store as evidence: a regular file (never a FIFO or device: SQLite's open would block or read it), with its header. */
function regularFileOrThrow(path: string): { header: Buffer } {
  const opened = openEvidence(path);
  if (!opened.ok) {
    if (opened.code === 'ENOENT') throw new CliError(`no record store at ${path}`, EXIT.NOINPUT);
    throw new CliError(`cannot read store ${path}: ${opened.reason}`, EXIT.NOINPUT);
  }
  try {
    const header = Buffer.alloc(100);
    const n = readSync(opened.fd, header, 0, 100, 0);
    if (n < 100 || header.toString('latin1', 0, 16) !== 'SQLite format 3\0') {
      throw new CliError(`cannot use store ${path}: not a lantern record store (not an SQLite database)`, EXIT.DATAERR);
    }
    return { header };
  } finally {
    closeSync(opened.fd);
  }
}

/** Copy a regular file through openEvidence (so a FIFO or device swapped in is refused, not read). */
function copyEvidence(from: string, to: string): void {
  const opened = openEvidence(from);
  if (!opened.ok) throw new CliError(`cannot read ${from}: ${opened.reason}`, EXIT.NOINPUT);
  const out = openSync(to, 'wx', 0o600);
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = readSync(opened.fd, buf, 0, buf.length, null);
      if (n === 0) break;
      for (let off = 0; off < n;) off += writeSync(out, buf, off, n - off);
    }
  } finally {
    closeSync(out);
    closeSync(opened.fd);
  }
}
