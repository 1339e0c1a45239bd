/**
 * `STATE_DIR/stats.json`, the receivers' counters on disk: written by `netconsole listen` and
 * `console listen` (atomically, every --stats-interval, on SIGUSR1, at exit), read by their `stats`
 * commands. One place for the document's common head, its output troubles, how it is written,
 * read and refreshed; each receiver adds its own counters.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive } from './daemon.js';
import { CliError, EXIT } from './exit.js';
import { writeOutput } from './output.js';

/** An output stream in trouble (the writer's `troubles()`), as the document shows it. */
export interface OutputTrouble {
  stream: string;
  error: string;
  since: string;
  queuedBytes: number;
  lostLines: number;
}

/** What every stats document starts with. */
export interface StatsHead {
  version: 1;
  pid: number;
  startedAt: string;
  writtenAt: string;
  uptimeSeconds: number;
}

export function statsHead(startedAt: Date, now: Date): StatsHead {
  return {
    version: 1,
    pid: process.pid,
    startedAt: startedAt.toISOString(),
    writtenAt: now.toISOString(),
    uptimeSeconds: Math.round((now.getTime() - startedAt.getTime()) / 1000),
  };
}

/** The writer's troubles (µs timestamps) as the document shows them. */
export function troublesOf(list: Array<{ stream: string; error: string; sinceUs: number; queuedBytes: number; lostLines: number }>): OutputTrouble[] {
  return list.map((t) => ({ stream: t.stream, error: t.error, since: new Date(t.sinceUs / 1000).toISOString(), queuedBytes: t.queuedBytes, lostLines: t.lostLines }));
}

/**
 * A function that writes a document (or what `doc()` makes) to STATE_DIR/stats.json (common/output:
 * temporary file, then rename: a reader never sees half a document; nothing but a regular file there is replaced). A failure, making the document included, is
 * logged once and never stops the receiver: the counters stay available on SIGUSR1.
 */
export function statsFileWriter(stateDir: string, log: (line: string) => void): (doc: StatsHead | (() => StatsHead)) => void {
  const path = join(stateDir, 'stats.json');
  let warned = false;
  return (doc) => {
    try {
      const text = JSON.stringify(typeof doc === 'function' ? doc() : doc, null, 2) + '\n';
      mkdirSync(stateDir, { recursive: true, mode: 0o755 });
      // The common writer: a temporary file that is never a planted link, moved over our own
      // regular file only; not fsync'd (rewritten every interval: whole, not durable).
      writeOutput(path, text, { mode: 0o644, regularFileOnly: true, sync: false });
    } catch (e) {
      // The writer's refusals name the path and why; anything else (making the document) is said here.
      const why = e instanceof CliError ? e.message : `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
      if (!warned) log(`warning: ${why} (stats stay available on SIGUSR1)`);
      warned = true;
    }
  };
}

/** Who writes a stats document, for the messages of a `stats` command that cannot read it. */
export interface StatsWriter {
  /** `receiver`, `console receiver`. */
  who: string;
  /** `lantern netconsole listen`. */
  command: string;
  /** `a stats document`, `a console stats document`. */
  doc: string;
}

/** The stats document at `path`; `isDoc` says whether the parsed JSON has its shape (a data error otherwise, never a crash later). */
export function readStatsFile<T extends StatsHead>(path: string, writer: StatsWriter, isDoc: (v: Record<string, unknown>) => boolean): T {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CliError(`no stats at ${path} (${(e as NodeJS.ErrnoException).code ?? String(e as Error)}): is the ${writer.who} running? (${writer.command}, or --state-dir)`, EXIT.NOINPUT);
  }
  let doc: unknown = null;
  try {
    doc = JSON.parse(text);
  } catch {
    // not JSON: refused below
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc) || !isDoc(doc as Record<string, unknown>)) throw new CliError(`${path}: not ${writer.doc}`, EXIT.DATAERR);
  return doc as T;
}

/** `stats --refresh`: ask the running receiver (SIGUSR1) for fresh counters and wait up to 2 s for them. */
export async function refreshedStats<T extends StatsHead>(read: () => T): Promise<T> {
  let s = read();
  if (!isAlive(s.pid)) return s;
  const before = s.writtenAt;
  process.kill(s.pid, 'SIGUSR1');
  for (let i = 0; i < 40 && s.writtenAt === before; i++) {
    await new Promise((r) => setTimeout(r, 50));
    s = read();
  }
  return s;
}

/** A `stats` command's counter table, `bad` ones above 0 in yellow, then the `extra` figures (not counters) aligned with them. */
export function printCounters(counters: Record<string, number | null>, bad: ReadonlySet<string>, p: { yellow(s: string): string }, extra: Record<string, number>): void {
  const width = Math.max(...Object.keys(counters).map((k) => k.length));
  for (const [k, v] of Object.entries(counters)) console.log(`  ${k.padEnd(width)}  ${bad.has(k) && typeof v === 'number' && v > 0 ? p.yellow(String(v)) : String(v ?? 'unknown')}`);
  for (const [k, v] of Object.entries(extra)) console.log(`  ${k.padEnd(width)}  ${v}`);
}

/** The `output trouble:` lines of a `stats` command. */
export function printOutputTroubles(troubles: OutputTrouble[], p: { yellow(s: string): string }): void {
  for (const t of troubles) console.log(p.yellow(`  output trouble: ${t.stream}: ${t.error} since ${t.since}, ${t.queuedBytes} bytes queued, ${t.lostLines} lines lost`));
}
