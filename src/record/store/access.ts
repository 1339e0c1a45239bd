/**
 * The access lists' tables in the record store (issue #11): one row per (domain, line, errno) with
 * first/last time and count, and per domain the number of accesses over the per-domain limit.
 * Created by the writer (CREATE TABLE IF NOT EXISTS); a store without them has no access lists.
 */
import type Database from 'better-sqlite3';
import type { AccessEntry } from '../../access/lists.js';

const ACCESS_SCHEMA = `
CREATE TABLE IF NOT EXISTS access(
  domain_id INTEGER NOT NULL,
  line TEXT NOT NULL,
  errno TEXT NOT NULL DEFAULT '',
  first_us INTEGER NOT NULL,
  last_us INTEGER NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY(domain_id, line, errno)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS access_overflow(domain_id INTEGER PRIMARY KEY, count INTEGER NOT NULL);
`;

export function ensureAccessTables(db: Database.Database): void {
  db.exec(ACCESS_SCHEMA);
}

export function hasAccessTables(db: Database.Database): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'access'").get() !== undefined;
}

/** Write what changed, in one transaction (entries carry their totals: an upsert replaces). */
export function writeAccess(db: Database.Database, entries: AccessEntry[], overflow: Array<[number, number]>): void {
  if (!entries.length && !overflow.length) return;
  const up = db.prepare(
    'INSERT INTO access(domain_id, line, errno, first_us, last_us, count) VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT(domain_id, line, errno) DO UPDATE SET first_us = min(first_us, excluded.first_us), last_us = max(last_us, excluded.last_us), count = excluded.count',
  );
  const ov = db.prepare('INSERT INTO access_overflow(domain_id, count) VALUES(?, ?) ON CONFLICT(domain_id) DO UPDATE SET count = excluded.count');
  db.transaction(() => {
    for (const e of entries) up.run(e.domainId, e.line, e.errno, Math.round(e.firstUs), Math.round(e.lastUs), e.count);
    for (const [d, n] of overflow) ov.run(d, n);
  })();
}

export interface StoredAccess {
  domain_id: number;
  line: string;
  errno: string;
  first_us: number;
  last_us: number;
  count: number;
}

export function readAccess(db: Database.Database, domainIds?: number[]): StoredAccess[] {
  if (!hasAccessTables(db)) return [];
  if (domainIds && domainIds.length === 0) return [];
  if (!domainIds) return db.prepare('SELECT domain_id, line, errno, first_us, last_us, count FROM access ORDER BY domain_id, line, errno').all() as StoredAccess[];
  const out: StoredAccess[] = [];
  const q = db.prepare('SELECT domain_id, line, errno, first_us, last_us, count FROM access WHERE domain_id = ? ORDER BY line, errno');
  for (const id of domainIds) out.push(...(q.all(id) as StoredAccess[]));
  return out;
}

export function readOverflow(db: Database.Database): Map<number, number> {
  if (!hasAccessTables(db)) return new Map();
  const rows = db.prepare('SELECT domain_id, count FROM access_overflow').all() as Array<{ domain_id: number; count: number }>;
  return new Map(rows.map((r) => [r.domain_id, r.count]));
}

export function toEntry(r: StoredAccess): AccessEntry {
  return { domainId: r.domain_id, line: r.line, errno: r.errno, firstUs: r.first_us, lastUs: r.last_us, count: r.count };
}

/** Domain ids that have access rows (retention keeps them). */
export function accessDomainIds(db: Database.Database): number[] {
  if (!hasAccessTables(db)) return [];
  return (db.prepare('SELECT DISTINCT domain_id AS id FROM access UNION SELECT domain_id FROM access_overflow').all() as Array<{ id: number }>).map((r) => r.id);
}
