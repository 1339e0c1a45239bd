/** Where snapshots live on disk: save (through src/common/output.ts), load (validated, regular files only, capped) and list. Thin edge. */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type EvidenceRead, formatBytes, readEvidence } from '../common/evidence.js';
import { CliError, EXIT } from '../common/exit.js';
import { ensureDirectory, writeOutput } from '../common/output.js';
import { type Snapshot, snapshotProblem } from './model.js';

export const DEFAULT_BASELINE_DIR = '/var/lib/lantern/baselines';

/** A file-name-safe form of a host name taken from host data (never trusted as a path). */
export function safeName(name: string | null): string {
  const s = (name ?? '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/\.{2,}/g, '.')
    .replace(/^[._-]+/, '')
    .slice(0, 64);
  return s || 'unknown-host';
}

/** 2026-11-26T18:20:22.123Z -> 20261126T182022Z */
export function compactUtc(iso: string): string {
  return iso.replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
}

export function defaultFileName(s: Snapshot): string {
  return `${safeName(s.host.name)}-${compactUtc(s.takenAt)}.json`;
}

/**
 * Write JSON to `path` (see src/common/output.ts): a reader never sees half a snapshot, nothing
 * planted beside it is followed, a device or FIFO is written straight and never replaced.
 */
export function writeJsonOutput(path: string, doc: unknown): void {
  writeOutput(path, JSON.stringify(doc, null, 2) + '\n', { mode: SNAPSHOT_MODE });
}

/** Snapshots describe the host in detail: readable by root's group, not by everyone. */
const SNAPSHOT_MODE = 0o640;

/**
 * The largest snapshot file read (list, show, diff, report). A real one is about 150 KiB; a host
 * with every package of a distribution installed stays under 10 MiB. A larger file is skipped
 * unread: it is not a snapshot Lantern wrote, and reading it would cost its size in memory.
 */
export const MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024;

export function saveSnapshot(s: Snapshot, out: string | undefined, dir = DEFAULT_BASELINE_DIR): string {
  let path = out;
  if (path === undefined) {
    ensureDirectory(dir, 0o750);
    path = join(dir, defaultFileName(s));
  }
  writeJsonOutput(path, s);
  return path;
}

/** Read and validate a snapshot file; a clear error (not a crash) when it is not one. */
export function loadSnapshot(path: string): Snapshot {
  const text = readSnapshotText(path);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new CliError(`${path}: not valid JSON (${(e as Error).message})`, EXIT.DATAERR);
  }
  const problem = snapshotProblem(doc);
  if (problem) throw new CliError(`${path}: ${problem}`, EXIT.DATAERR);
  return doc as Snapshot;
}

/**
 * A snapshot file's text, read through readEvidence: a regular file only (a FIFO, a device or a link
 * to one is refused unopened: `zero.json -> /dev/zero` must not fill memory, `fifo.json` must not
 * hang), at most MAX_SNAPSHOT_BYTES (the size is checked before any byte is read).
 */
function readSnapshotText(path: string): string {
  let size = 0;
  try {
    size = statSync(path).size;
  } catch {
    /* readEvidence gives the reason */
  }
  const r: EvidenceRead =
    size > MAX_SNAPSHOT_BYTES
      ? { ok: false, code: 'TOOBIG', reason: `${formatBytes(size)}, larger than ${formatBytes(MAX_SNAPSHOT_BYTES)} (not read)` }
      : readEvidence(path, { maxBytes: MAX_SNAPSHOT_BYTES, whenLonger: 'fail' });
  if (!r.ok) throw new CliError(`${path}: cannot read: ${r.reason}`, EXIT.NOINPUT);
  return r.bytes.toString('utf8');
}

export interface ListedSnapshot {
  file: string;
  host: string | null;
  takenAt: string;
  source: string;
  kernel: string | null;
  verdict: string | null;
}

/** Every snapshot in a directory, oldest first; files that are not snapshots are reported, not fatal. */
export function listSnapshots(dir: string): { snapshots: ListedSnapshot[]; skipped: { file: string; reason: string }[] } {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith('.json'))
      .sort();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { snapshots: [], skipped: [] };
    throw new CliError(`${dir}: cannot list (${code ?? String(e)})`, EXIT.NOINPUT);
  }
  const snapshots: ListedSnapshot[] = [];
  const skipped: { file: string; reason: string }[] = [];
  for (const n of names) {
    const file = join(dir, n);
    try {
      const s = loadSnapshot(file);
      const k = s.sections.kernel;
      const c = s.sections.check;
      snapshots.push({
        file,
        host: s.host.name,
        takenAt: s.takenAt,
        source: s.host.source.kind,
        kernel: k.status === 'ok' ? k.data.release : null,
        verdict: c.status === 'ok' && typeof c.data.summary?.verdict === 'string' ? c.data.summary.verdict : null,
      });
    } catch (e) {
      skipped.push({ file, reason: (e as Error).message.replace(file + ': ', '') });
    }
  }
  snapshots.sort((a, b) => a.takenAt.localeCompare(b.takenAt) || a.file.localeCompare(b.file));
  return { snapshots, skipped };
}

/**
 * A baseline named on the command line: a snapshot file, or a directory, meaning the newest
 * snapshot in it of the host being compared (by host name).
 */
export function resolveBaseline(path: string, hostName: string | null): { snapshot: Snapshot; file: string } {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    // The usual first diff: nothing saved yet. Say what to do rather than just ENOENT.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError(`${path}: does not exist: no baseline saved yet? Save one first with: lantern baseline save`, EXIT.NOINPUT);
    /* loadSnapshot gives the other errors */
  }
  if (!isDir) return { snapshot: loadSnapshot(path), file: path };
  const { snapshots } = listSnapshots(path);
  const mine = snapshots.filter((s) => s.host === hostName);
  const pick = mine[mine.length - 1];
  if (!pick) {
    const hosts = [...new Set(snapshots.map((s) => s.host ?? '?'))];
    throw new CliError(`${path}: no snapshot of host ${JSON.stringify(hostName)} (found: ${hosts.length ? hosts.join(', ') : 'none'}); save one first with: lantern baseline save`, EXIT.NOINPUT);
  }
  return { snapshot: loadSnapshot(pick.file), file: pick.file };
}

/**
 * Which snapshot files to delete to keep the newest `keep` of each host. Pure: works on the
 * listing, so only files that parsed as snapshots can ever be chosen.
 */
export function pruneChoice(snaps: ListedSnapshot[], keep: number): ListedSnapshot[] {
  const byHost = new Map<string, ListedSnapshot[]>();
  for (const s of snaps) {
    const k = s.host ?? '';
    (byHost.get(k) ?? byHost.set(k, []).get(k)!).push(s);
  }
  const out: ListedSnapshot[] = [];
  for (const list of byHost.values()) {
    // listSnapshots sorts oldest first: everything before the last `keep` goes.
    out.push(...list.slice(0, Math.max(0, list.length - keep)));
  }
  return out.sort((a, b) => a.file.localeCompare(b.file));
}

export function pruneSnapshots(dir: string, keep: number, dryRun = false): { removed: string[]; kept: number; skipped: { file: string; reason: string }[] } {
  const { snapshots, skipped } = listSnapshots(dir);
  const gone = pruneChoice(snapshots, keep);
  const removed: string[] = [];
  for (const s of gone) {
    if (!dryRun) {
      try {
        rmSync(s.file);
      } catch (e) {
        throw new CliError(`${s.file}: cannot remove (${(e as NodeJS.ErrnoException).code ?? String(e)})`, EXIT.IOERR);
      }
    }
    removed.push(s.file);
  }
  return { removed, kept: snapshots.length - gone.length, skipped };
}
