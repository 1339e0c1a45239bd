/**
 * "Leave the line as found", also after a SIGKILL or a crash: before a tty source changes a line's
 * termios, the settings it had are written to STATE_DIR/tty-settings.json (one entry per line, the
 * raw `struct termios` as hex, with the device number it was read from); the entry goes when the
 * source puts them back (stop, hang-up). A receiver that dies with a line configured leaves its
 * entry behind, and the next start on the same state directory puts those settings back before
 * any source opens a line again, saying so once on stderr.
 *
 * The file is read through common/evidence (a regular file only, a link is never followed) and
 * written through common/output (temporary file, then moved into place; a link there is refused,
 * never written through). A symbolic link, a directory or garbage at that name is never used:
 * garbage is said and replaced, anything that is not a regular file is said and left alone (and
 * no crash record is kept while it is there). An entry is put back only on the device it was read
 * from (same device number: a path that names another device now is left alone).
 */
import { closeSync, constants as fsc, fstatSync, lstatSync, openSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { readEvidence } from '../common/evidence.js';
import { ensureDirectory, writeOutput } from '../common/output.js';
import type { Termios } from './termios.js';

export const TTY_STATE_FILE = 'tty-settings.json';
/** A state document is a few hundred bytes a line; anything this large is not one. */
const MAX_STATE_BYTES = 256 * 1024;

export interface SavedLine {
  /** The source that changed the line. */
  source: string;
  /** The configured path (a /dev/serial/by-id link stays a link: the device is matched by `rdev`). */
  path: string;
  /** Device number of the character device the settings were read from. */
  rdev: number;
  /** The line's `struct termios` before it was changed, as hex. */
  termios: string;
  savedAt: string;
}

export interface TtyStateDoc {
  version: 1;
  /** The receiver that wrote it. */
  pid: number;
  lines: SavedLine[];
}

const isLine = (v: unknown): v is SavedLine => {
  const l = v as SavedLine;
  return (
    !!l &&
    typeof l === 'object' &&
    typeof l.source === 'string' &&
    typeof l.path === 'string' &&
    l.path.startsWith('/') &&
    !l.path.includes('\0') &&
    Number.isSafeInteger(l.rdev) &&
    l.rdev >= 0 &&
    typeof l.termios === 'string' &&
    /^(?:[0-9a-f]{2}){1,1024}$/.test(l.termios) &&
    typeof l.savedAt === 'string'
  );
};

/** The document in `text`, or why it is not one. Pure. */
export function parseTtyState(text: string): { ok: true; doc: TtyStateDoc } | { ok: false; reason: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const d = v as TtyStateDoc;
  if (!d || typeof d !== 'object' || d.version !== 1 || !Number.isSafeInteger(d.pid) || !Array.isArray(d.lines)) return { ok: false, reason: 'not a tty settings document (version 1)' };
  const bad = d.lines.findIndex((l) => !isLine(l));
  if (bad >= 0) return { ok: false, reason: `entry ${bad + 1} is not a saved line (source, absolute path, rdev, termios hex, savedAt)` };
  return { ok: true, doc: { version: 1, pid: d.pid, lines: d.lines } };
}

const code = (e: unknown): string => (e as NodeJS.ErrnoException)?.code ?? (e as Error)?.message ?? String(e);

/** Put one saved line back on its device; null when done, else why not. */
function putBack(termios: Termios, line: SavedLine): string | null {
  let fd: number;
  try {
    const st = statSync(line.path);
    if (!st.isCharacterDevice()) return 'no longer a character device';
    if (st.rdev !== line.rdev) return 'names another device now';
    fd = openSync(line.path, fsc.O_RDWR | fsc.O_NOCTTY | fsc.O_NONBLOCK);
  } catch (e) {
    return code(e) === 'ENOENT' ? 'gone (unplugged? its settings went with it)' : code(e);
  }
  try {
    // The entry swapped between stat and open is caught on the descriptor.
    if (fstatSync(fd).rdev !== line.rdev) return 'names another device now';
    termios.restore(fd, Buffer.from(line.termios, 'hex'));
    return null;
  } catch (e) {
    return code(e);
  } finally {
    closeSync(fd);
  }
}

/**
 * The state of one receiver's lines. `usable` is false when the file cannot be kept (something
 * that is not a regular file at its name, the directory not writable): the sources still run,
 * and that was said once.
 */
export class TtyState {
  readonly path: string;
  private lines = new Map<string, SavedLine>();
  private usable = true;
  private warnedWrite = false;
  /** Entries found at start (a predecessor's), until restoreStale puts them back. */
  private stale: { pid: number; lines: SavedLine[] } | null = null;

  constructor(
    readonly stateDir: string,
    private readonly log: (line: string) => void,
  ) {
    this.path = join(stateDir, TTY_STATE_FILE);
    const r = readEvidence(this.path, { maxBytes: MAX_STATE_BYTES, whenLonger: 'fail', noFollow: true });
    if (r.ok) {
      const p = parseTtyState(r.bytes.toString('utf8'));
      if (p.ok) this.stale = p.doc.lines.length ? { pid: p.doc.pid, lines: p.doc.lines } : null;
      else log(`${this.path}: ${p.reason}: ignored (no tty settings restored from it; it is replaced when a tty line is next configured)`);
    } else if (r.code !== 'ENOENT') {
      this.usable = r.code === 'TOOBIG' || r.code === 'EIO';
      log(
        this.usable
          ? `${this.path}: ${r.reason}: ignored (no tty settings restored from it; it is replaced when a tty line is next configured)`
          : `${this.path}: ${r.reason}: not read nor replaced; no tty settings are restored from it, and none are kept for a crash until it is removed`,
      );
    }
  }

  /** Lines a predecessor left configured (for the start-up message and the tests). */
  get staleLines(): readonly SavedLine[] {
    return this.stale?.lines ?? [];
  }

  /**
   * A predecessor's entries: each put back on its device (once, before any source opens a line);
   * one stderr line says what was done. Entries that cannot be put back are said and dropped (a
   * device that is gone took its settings with it). Without the termios addon they are kept.
   */
  restoreStale(termios: Termios | null): void {
    const stale = this.stale;
    if (!stale) return;
    if (!termios) {
      this.log(`${this.path}: tty settings left by receiver pid ${stale.pid} are not put back: the termios addon is missing (kept for a later start)`);
      return;
    }
    this.stale = null;
    const done: string[] = [];
    const notDone: string[] = [];
    for (const l of stale.lines) {
      const why = putBack(termios, l);
      if (why === null) done.push(`${l.path} (source ${l.source})`);
      else notDone.push(`${l.path} (source ${l.source}): ${why}`);
    }
    const parts = [done.length ? `put back the settings found on ${done.join(', ')}` : '', notDone.length ? `not put back on ${notDone.join(', ')}` : ''].filter(Boolean);
    this.log(`tty settings left by receiver pid ${stale.pid}, which stopped without restoring them (SIGKILL or crash): ${parts.join('; ')}`);
    this.save();
  }

  /** Before a line is changed: its settings now (`before`, from termios.current), kept on disk. */
  remember(source: string, path: string, rdev: number, before: Buffer): void {
    this.lines.set(path, { source, path, rdev, termios: before.toString('hex'), savedAt: new Date().toISOString() });
    this.save();
  }

  /** After the line's settings were put back (or the line went away). */
  forget(path: string): void {
    if (this.lines.delete(path)) this.save();
  }

  private save(): void {
    if (!this.usable) return;
    try {
      if (this.lines.size === 0) {
        // Only our own regular file is removed (a name swapped for something else is left).
        let st;
        try {
          st = lstatSync(this.path);
        } catch {
          return;
        }
        if (st.isFile()) unlinkSync(this.path);
        return;
      }
      ensureDirectory(this.stateDir, 0o755);
      const doc: TtyStateDoc = { version: 1, pid: process.pid, lines: [...this.lines.values()] };
      // Only our own regular file or nothing: a device node, FIFO or link at the name is refused.
      writeOutput(this.path, JSON.stringify(doc, null, 2) + '\n', { mode: 0o600, regularFileOnly: true });
    } catch (e) {
      if (!this.warnedWrite) this.log(`warning: cannot keep ${this.path} (${(e as Error).message}): tty settings changed now are not put back after a crash`);
      this.warnedWrite = true;
    }
  }
}
