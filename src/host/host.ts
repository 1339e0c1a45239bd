/**
 * The one place where Lantern touches a host's files.
 *
 * Every read of /proc, /sys, /etc, /var, /boot (and every write to /proc/sysrq-trigger)
 * goes through a `Host`, which is rooted somewhere: `/` for the live machine, a copied
 * root tree, or a sosreport (whose copied files keep their absolute paths under its root).
 * Callers always speak in *live* paths ("/proc/cmdline"); the Host maps them.
 *
 * Reads never throw: they return a `ReadResult` saying what was read from where, or why
 * nothing could be, so a missing datum becomes an "unknown" finding instead of a crash.
 */
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, readSync, statSync, writeSync } from 'node:fs';
import { posix } from 'node:path';
import { unpackSosreport } from './archive.js';
import { HostError, looksLikeHostRoot, looksLikeSosreport } from './roots.js';

export { HostError, looksLikeHostRoot, looksLikeSosreport };

export type HostKind = 'live' | 'tree' | 'sosreport';

export type ReadResult =
  | { ok: true; text: string; path: string; livePath: string }
  | { ok: false; reason: string; code: ReadErrorCode; path: string | null; livePath: string };

export type ReadErrorCode = 'ENOENT' | 'EACCES' | 'NOTCOLLECTED' | 'EISDIR' | 'EIO' | 'TOOBIG' | 'INVALID';

export type ListResult =
  | { ok: true; entries: string[]; path: string; livePath: string }
  | { ok: false; reason: string; code: ReadErrorCode; path: string | null; livePath: string };

export interface HostOptions {
  /** Where the host's `/` is. Default `/`. */
  root?: string;
  /** What kind of root it is; detected when absent. */
  kind?: HostKind;
  /**
   * Live path of the SysRq trigger. Tests (and hosts without SysRq) point this at a plain file.
   * Relative to nothing: this is a real path on the machine running Lantern.
   */
  sysrqTrigger?: string;
  /** Largest file read in one go by readText (bytes). /proc files report size 0, so this caps reads. */
  maxReadBytes?: number;
}

/** Keys SysRq accepts that Lantern may ever send; anything else is refused. */
export const SYSRQ_KEYS = new Set(['t', 'w', 'm', 'l', 'd', 'p', 'q', 's', 'u', 'c', 'b', 'o', 'f']);

const DEFAULT_MAX_READ = 64 * 1024 * 1024;
/** Shared buffer of readHead (single-threaded: never used concurrently). */
let headBuf = Buffer.allocUnsafe(4096);

/** The only places writeSetting() may write. */
const WRITABLE_PREFIXES = ['/proc/sys/', '/sys/kernel/config/'];

export class Host {
  readonly root: string;
  readonly kind: HostKind;
  readonly sysrqTriggerPath: string;
  private readonly maxReadBytes: number;
  /** Optional per-live-path alternates (e.g. sosreport historic locations), consulted in order. */
  private readonly alternates = new Map<string, string[]>();

  constructor(opts: HostOptions = {}) {
    const root = posix.resolve(opts.root ?? '/');
    this.root = root;
    this.kind = opts.kind ?? (root === '/' ? 'live' : looksLikeSosreport(root) ? 'sosreport' : 'tree');
    this.sysrqTriggerPath = opts.sysrqTrigger ?? (this.kind === 'live' ? '/proc/sysrq-trigger' : this.mapPath('/proc/sysrq-trigger'));
    this.maxReadBytes = opts.maxReadBytes ?? DEFAULT_MAX_READ;
  }

  /** Open a root given on the command line, with one clear error when it is not a host root. */
  static open(opts: HostOptions & { requireSosreport?: boolean }): Host {
    const root = posix.resolve(opts.root ?? '/');
    let st;
    try {
      st = statSync(root);
    } catch (e) {
      throw new HostError(`${root}: cannot open (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    if (!st.isDirectory()) {
      // A sosreport tarball is extracted to a private temporary directory first.
      if (opts.requireSosreport && st.isFile()) return Host.open({ ...opts, root: unpackSosreport(root) });
      throw new HostError(`${root}: not a directory`);
    }
    if (opts.requireSosreport && !looksLikeSosreport(root)) {
      throw new HostError(`${root}: not a sosreport (no sos_commands/, sos_reports/ or sos_logs/ inside)`);
    }
    if (root !== '/' && !looksLikeSosreport(root) && !looksLikeHostRoot(root)) {
      throw new HostError(`${root}: not a host root or sosreport (no proc/, etc/ or sys/ inside)`);
    }
    const { requireSosreport, ...hostOpts } = opts;
    return new Host({ ...hostOpts, root, kind: requireSosreport ? 'sosreport' : opts.kind });
  }

  get isLive(): boolean {
    return this.kind === 'live';
  }

  /** Register historic/alternate locations (live-path form, mapped under the root) for a live path. */
  addAlternates(livePath: string, paths: string[]): void {
    this.alternates.set(normaliseLive(livePath), paths.map(normaliseLive));
  }

  /**
   * Map a live absolute path to the path on this machine. Absolute symlinks met on the way
   * inside a non-live root are re-rooted (as chroot would), so a copied tree never leads
   * back into the machine running Lantern.
   */
  mapPath(livePath: string): string {
    const clean = normaliseLive(livePath);
    if (this.root === '/') return clean;
    return this.resolveInside(clean);
  }

  /** All candidate real paths for a live path, primary first. */
  candidates(livePath: string): string[] {
    const clean = normaliseLive(livePath);
    const out = [this.mapPath(clean)];
    for (const alt of this.alternates.get(clean) ?? []) out.push(this.mapPath(alt));
    return out;
  }

  /** Read a whole (small) file as UTF-8 text. */
  readText(livePath: string): ReadResult {
    const clean = normaliseLive(livePath);
    let first: ReadResult | null = null;
    for (const real of this.candidates(clean)) {
      const r = readOne(real, clean, this.maxReadBytes);
      if (r.ok) return r;
      if (!first || (first.code === 'ENOENT' && r.code !== 'ENOENT')) first = r;
    }
    const miss = first!;
    // In a snapshot, a file that is absent was simply not collected: say so.
    if (!miss.ok && miss.code === 'ENOENT' && this.kind !== 'live') {
      return { ...miss, code: 'NOTCOLLECTED', reason: `${clean} not collected in this ${this.kind === 'sosreport' ? 'sosreport' : 'tree'}` };
    }
    return miss;
  }

  /**
   * Read at most the first `maxBytes` of a file with one read into a reused buffer: for hot
   * paths that need only a file's head (e.g. the Uid: line of /proc/<pid>/status per exec).
   * Null when it cannot be read. No alternates, no snapshot semantics.
   */
  readHead(livePath: string, maxBytes = 1024): string | null {
    const real = this.mapPath(livePath);
    if (headBuf.length < maxBytes) headBuf = Buffer.allocUnsafe(maxBytes);
    // existsSync reports absence without building an exception: the common case for a
    // /proc/<pid> that is already gone.
    if (!existsSync(real)) return null;
    let fd: number | null = null;
    try {
      fd = openSync(real, 'r');
      const n = readSync(fd, headBuf, 0, maxBytes, 0);
      return headBuf.toString('utf8', 0, n);
    } catch {
      return null;
    } finally {
      if (fd !== null) closeSync(fd);
    }
  }

  /** Read a file and trim trailing whitespace: the usual shape of /proc/sys and /sys values. */
  readValue(livePath: string): ReadResult {
    const r = this.readText(livePath);
    return r.ok ? { ...r, text: r.text.trim() } : r;
  }

  exists(livePath: string): boolean {
    return this.candidates(livePath).some((p) => {
      try {
        statSync(p);
        return true;
      } catch {
        return false;
      }
    });
  }

  isDirectory(livePath: string): boolean {
    try {
      return statSync(this.mapPath(livePath)).isDirectory();
    } catch {
      return false;
    }
  }

  /** List a directory's entries (names only, sorted). */
  list(livePath: string): ListResult {
    const clean = normaliseLive(livePath);
    const real = this.mapPath(clean);
    try {
      return { ok: true, entries: readdirSync(real).sort(), path: real, livePath: clean };
    } catch (e) {
      const code = errCode(e);
      return { ok: false, code, reason: `${clean}: ${describe(code, e)}`, path: real, livePath: clean };
    }
  }

  /** Read a symlink's target as the host sees it (e.g. /proc/<pid>/exe). */
  readLink(livePath: string): string | null {
    try {
      return readlinkSync(this.root === '/' ? normaliseLive(livePath) : this.resolveInside(normaliseLive(livePath), false));
    } catch {
      return null;
    }
  }

  /**
   * Write one SysRq key to the trigger. Only keys from SYSRQ_KEYS are accepted: the key is a
   * fixed, configured action, never something taken from event content.
   */
  triggerSysrq(key: string): { ok: true; path: string } | { ok: false; path: string; reason: string } {
    const path = this.sysrqTriggerPath;
    if (key.length !== 1 || !SYSRQ_KEYS.has(key)) return { ok: false, path, reason: `refusing SysRq key ${JSON.stringify(key)}` };
    let fd: number | null = null;
    try {
      fd = openSync(path, 'a');
      writeSync(fd, key);
      return { ok: true, path };
    } catch (e) {
      return { ok: false, path, reason: `${path}: ${describe(errCode(e), e)}` };
    } finally {
      if (fd !== null) closeSync(fd);
    }
  }

  /**
   * Write a value to a kernel settings file: only under /proc/sys/ (sysctls) and
   * /sys/kernel/config/ (configfs, e.g. netconsole targets). The path is a fixed, configured
   * one, never taken from event content. Tests point a tree Host at a temp dir.
   */
  writeSetting(livePath: string, value: string): { ok: true; path: string } | { ok: false; path: string; reason: string } {
    const clean = normaliseLive(livePath);
    const path = this.mapPath(clean);
    if (!WRITABLE_PREFIXES.some((p) => clean.startsWith(p))) return { ok: false, path, reason: `refusing to write ${clean}` };
    let fd: number | null = null;
    try {
      fd = openSync(path, 'w');
      writeSync(fd, value);
      return { ok: true, path };
    } catch (e) {
      return { ok: false, path, reason: `${clean}: ${describe(errCode(e), e)}` };
    } finally {
      if (fd !== null) closeSync(fd);
    }
  }

  /** mkdir under /sys/kernel/config/ (creating a configfs item, e.g. a netconsole target). */
  makeSettingDir(livePath: string): { ok: true; path: string } | { ok: false; path: string; reason: string } {
    const clean = normaliseLive(livePath);
    const path = this.mapPath(clean);
    if (!clean.startsWith('/sys/kernel/config/')) return { ok: false, path, reason: `refusing to create ${clean}` };
    try {
      mkdirSync(path);
      return { ok: true, path };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return { ok: true, path };
      return { ok: false, path, reason: `${clean}: ${describe(errCode(e), e)}` };
    }
  }

  /** Walk `clean` component by component under the root, re-rooting absolute symlinks. */
  private resolveInside(clean: string, followLast = true, hops = 0): string {
    const parts = clean.split('/').filter(Boolean);
    let cur = this.root;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (part === '..') {
        if (cur !== this.root) cur = posix.dirname(cur);
        continue;
      }
      const next = posix.join(cur, part);
      const isLast = i === parts.length - 1;
      if (isLast && !followLast) return next;
      let target: string | null = null;
      try {
        if (lstatSync(next).isSymbolicLink()) target = readlinkSync(next);
      } catch {
        /* missing: the rest is joined as-is */
      }
      // The hop count travels through the recursion so a symlink loop ends (ELOOP on open).
      if (target !== null && hops < 40) {
        const rest = parts.slice(i + 1);
        // A relative target is relative to the link's directory, in the host's own terms.
        const base = target.startsWith('/') ? target : posix.join('/' + posix.relative(this.root, cur), target);
        return this.resolveInside(posix.join(posix.normalize(base), ...rest), followLast, hops + 1);
      }
      cur = next;
    }
    return cur;
  }
}

function normaliseLive(p: string): string {
  if (!p.startsWith('/')) throw new HostError(`live paths are absolute: ${p}`);
  // normalize() leaves leading '..' at root as '/'; that is the chroot semantics we want.
  return posix.normalize(p);
}

function readOne(real: string, livePath: string, max: number): ReadResult {
  let fd: number | null = null;
  try {
    fd = openSync(real, 'r');
    // /proc and /sys report st_size 0 or 4096, so read in chunks until EOF, capped.
    const chunks: Buffer[] = [];
    let total = 0;
    const buf = Buffer.allocUnsafe(64 * 1024);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
      total += n;
      if (total > max) return { ok: false, code: 'TOOBIG', reason: `${livePath}: larger than ${max} bytes`, path: real, livePath };
    }
    return { ok: true, text: Buffer.concat(chunks, total).toString('utf8'), path: real, livePath };
  } catch (e) {
    const code = errCode(e);
    return { ok: false, code, reason: `${livePath}: ${describe(code, e)}`, path: real, livePath };
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

function errCode(e: unknown): ReadErrorCode {
  const c = (e as NodeJS.ErrnoException)?.code;
  if (c === 'ENOENT' || c === 'ENOTDIR') return 'ENOENT';
  if (c === 'EACCES' || c === 'EPERM') return 'EACCES';
  if (c === 'EISDIR') return 'EISDIR';
  return 'EIO';
}

function describe(code: ReadErrorCode, e: unknown): string {
  switch (code) {
    case 'ENOENT':
      return 'does not exist';
    case 'EACCES':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    default:
      return (e as Error)?.message ?? String(e);
  }
}

