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
import { closeSync, constants as fsc, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, readSync, realpathSync, statSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { posix } from 'node:path';
import { descriptorPath, entryKind, type EvidenceRead, isInside, openEvidence, readEvidence } from '../common/evidence.js';
import { unpackSosreport, type UnpackLimits } from './archive.js';
import { cutNote, readCapFor } from './caps.js';
import { kernelReadResult, kernfile, type KernelRead, type KernfileAddon, type KernfileResult } from './kernfile.js';
import { HostError, looksLikeHostRoot, looksLikeSosreport } from './roots.js';

export { HostError, looksLikeHostRoot, looksLikeSosreport };

export type HostKind = 'live' | 'tree' | 'sosreport';

export type ReadResult =
  | { ok: true; text: string; path: string; livePath: string; /** the file's size when it was longer than its cap (text holds the first cap bytes) */ cut?: number }
  | { ok: false; reason: string; code: ReadErrorCode; path: string | null; livePath: string };

export type ReadErrorCode = 'ENOENT' | 'EACCES' | 'NOTCOLLECTED' | 'EISDIR' | 'EIO' | 'TOOBIG' | 'INVALID' | 'NOTREGULAR' | 'ELOOP' | 'ESCAPE';

/** The most symbolic links one resolution follows, as the kernel's MAXSYMLINKS. */
export const MAX_SYMLINK_HOPS = 40;

export type ListResult = { ok: true; entries: string[]; path: string; livePath: string } | { ok: false; reason: string; code: ReadErrorCode; path: string | null; livePath: string };

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
  /**
   * Largest file read by readText (bytes), over every per-datum cap of caps.ts. /proc files
   * report size 0, so this caps reads; tests lower it.
   */
  maxReadBytes?: number;
  /** Limits for unpacking a sosreport tarball (Host.open). */
  unpackLimits?: Partial<UnpackLimits>;
}

/** Keys SysRq accepts that Lantern may ever send; anything else is refused. */
export const SYSRQ_KEYS = new Set(['t', 'w', 'm', 'l', 'd', 'p', 'q', 's', 'u', 'c', 'b', 'o', 'f']);

const DEFAULT_MAX_READ = 64 * 1024 * 1024;
/** Shared buffer of readHead (single-threaded: never used concurrently). */
let headBuf = Buffer.allocUnsafe(4096);

/**
 * Live kernel files opened without the check before open (fstat after still runs): /sys, and
 * /proc files one level below /proc or a pid (status, stat, io, ...). Not /proc/<pid>/fd/N,
 * root/, cwd/: those are magic links into the real file system, where FIFOs and devices live.
 */
const KERNEL_FS_FILE = /^\/sys\/|^\/proc\/sys\/|^\/proc\/(?:\d+\/|self\/|thread-self\/)?[a-z_]+$/;

/** Shared read buffer of readKernelFile (single-threaded: never used concurrently); grows to the largest cap used. */
let kernelBuf = Buffer.allocUnsafe(64 * 1024);

/**
 * readEvidence for a live /proc or /sys file (KERNEL_FS_FILE): the same guarantees (regular file
 * by fstat after open, O_NONBLOCK, at most `cap` bytes, cut noted), read into one reused buffer
 * and decoded from there. The per-process scans read tens of thousands of these files per run,
 * and a fresh 64 KiB buffer each (plus its copies) cost more than the reads themselves in
 * garbage collection.
 */
export function readKernelFile(path: string, cap: number, wholeInOneRead = false, native: KernfileAddon | null = kernfile()): KernelRead {
  // The addon does the same in one call; this is the fallback where it is not built (and, with native = null, the tests' reference).
  if (native) return kernelReadResult(path, native.read(path, cap, wholeInOneRead));
  const opened = openEvidence(path, { kernelFs: true });
  if (!opened.ok) return opened;
  const { fd } = opened;
  try {
    if (kernelBuf.length < cap + 1) kernelBuf = Buffer.allocUnsafe(cap + 1);
    let total = 0;
    for (;;) {
      const n = readSync(fd, kernelBuf, total, cap + 1 - total, null);
      if (n === 0) break;
      total += n;
      // A read shorter than asked was the whole file: no second read to be told so.
      if (wholeInOneRead && total <= cap) break;
      if (total > cap) {
        let size = total;
        try {
          size = Math.max(total, fstatSync(fd).size);
        } catch {
          /* keep what was counted */
        }
        return { ok: true, text: kernelBuf.toString('utf8', 0, cap), cut: size };
      }
    }
    return { ok: true, text: kernelBuf.toString('utf8', 0, total), cut: null };
  } catch (e) {
    const code = errCode(e);
    return { ok: false, code: code === 'EACCES' || code === 'ENOENT' || code === 'EISDIR' ? code : 'EIO', reason: describe(code, e) };
  } finally {
    closeSync(fd);
  }
}

/** A file directly below a live /proc/<pid>: the per-process scans' files, already in normal form. */
const LIVE_PID_FILE = /^\/proc\/\d+\/([a-z_]+)$/;
const PID = /^\d+$/;
const PID_FILE_NAME = /^[a-z_]+$/;

/** One batch of readPidValues: files of one cap and read mode, each file's paths in pid order, file after file. */
interface PidBatch {
  cap: number;
  whole: boolean;
  files: string[];
  paths: string[];
}

/** Threads of a batch read of /proc (readPidValues): two cores halve it; more contend in the kernel. */
const SCAN_THREADS = Math.min(2, availableParallelism());

/**
 * /proc/<pid> files the kernel gives whole to one read large enough (seq_file single_open: stat,
 * status, comm; a formatted buffer: oom_score_adj, oom_adj), so a shorter read is their end. Not
 * cmdline or environ: those come a page per read.
 */
const WHOLE_IN_ONE_READ = new Set(['stat', 'status', 'comm', 'oom_score_adj', 'oom_adj']);

/** The only places writeSetting() may write. */
const WRITABLE_PREFIXES = ['/proc/sys/', '/sys/kernel/config/'];

export class Host {
  readonly root: string;
  readonly kind: HostKind;
  readonly sysrqTriggerPath: string;
  private readonly maxReadBytes: number;
  /** Optional per-live-path alternates (e.g. sosreport historic locations), consulted in order. */
  private readonly alternates = new Map<string, string[]>();
  /** Data read only in part because they were longer than their cap (caps.ts): one note each. */
  readonly cuts: string[] = [];
  /** Files refused as evidence (FIFOs, devices, link chains, paths leading outside): one note each. */
  readonly refused: string[] = [];
  /** Notes about the root itself (e.g. what unpacking a sosreport tarball left out). */
  readonly notes: string[] = [];

  constructor(opts: HostOptions = {}) {
    // The root's own real name: a root given through a symlink is still one directory, and the
    // check that an opened file lies inside it compares real names.
    const root = realRoot(posix.resolve(opts.root ?? '/'));
    this.root = root;
    this.kind = opts.kind ?? (root === '/' ? 'live' : looksLikeSosreport(root) ? 'sosreport' : 'tree');
    this.sysrqTriggerPath = opts.sysrqTrigger ?? (this.kind === 'live' ? '/proc/sysrq-trigger' : this.mapPath('/proc/sysrq-trigger'));
    this.maxReadBytes = opts.maxReadBytes ?? DEFAULT_MAX_READ;
  }

  /** Open a root given on the command line, with one clear error when it is not a host root. */
  static open(opts: HostOptions & { requireSosreport?: boolean }): Host {
    const root = posix.resolve(opts.root ?? '/');
    return Host.openRoot(root, opts, []);
  }

  private static openRoot(root: string, opts: HostOptions & { requireSosreport?: boolean }, notes: string[]): Host {
    let st;
    try {
      st = statSync(root);
    } catch (e) {
      throw new HostError(`${root}: cannot open (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    if (!st.isDirectory()) {
      // A sosreport tarball is extracted to a private temporary directory first.
      if (opts.requireSosreport && st.isFile()) {
        const u = unpackSosreport(root, opts.unpackLimits);
        return Host.openRoot(u.root, opts, u.notes);
      }
      throw new HostError(`${root}: not a directory`);
    }
    if (opts.requireSosreport && !looksLikeSosreport(root)) {
      throw new HostError(`${root}: not a sosreport (no sos_commands/, sos_reports/ or sos_logs/ inside)`);
    }
    if (root !== '/' && !looksLikeSosreport(root) && !looksLikeHostRoot(root)) {
      throw new HostError(`${root}: not a host root or sosreport (no proc/, etc/ or sys/ inside)`);
    }
    const { requireSosreport, ...hostOpts } = opts;
    const host = new Host({ ...hostOpts, root, kind: requireSosreport ? 'sosreport' : opts.kind });
    host.notes.push(...notes);
    return host;
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
    const r = this.resolve(clean);
    // A path that cannot be resolved (a link loop) is shown under the root as given; nothing opens it.
    return r.ok ? r.path : posix.join(this.root, clean);
  }

  /**
   * Resolve a live path to a real one under the root, following links inside it (re-rooted, as
   * chroot would), at most MAX_SYMLINK_HOPS of them. On the live host the kernel resolves.
   */
  resolve(livePath: string, followLast = true): { ok: true; path: string } | { ok: false; code: 'ELOOP'; reason: string; path: string } {
    const clean = normaliseLive(livePath);
    if (this.root === '/') return { ok: true, path: clean };
    const hops = { n: 0 };
    const path = this.resolveInside(clean, followLast, hops);
    if (path === null) return { ok: false, code: 'ELOOP', reason: `${clean}: more than ${MAX_SYMLINK_HOPS} symbolic links on the way (not followed)`, path: posix.join(this.root, clean) };
    return { ok: true, path };
  }

  /** A live path and its registered alternates (live-path form), primary first. */
  private withAlternates(clean: string): string[] {
    return [clean, ...(this.alternates.get(clean) ?? [])];
  }

  /** Read a whole (small) file as UTF-8 text. */
  readText(livePath: string): ReadResult {
    const clean = normaliseLive(livePath);
    let first: ReadResult | null = null;
    for (const live of this.withAlternates(clean)) {
      const r = this.readOne(live, clean);
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
    const clean = normaliseLive(livePath);
    // The hot path (the recorder, per exec) reads the live /proc, whose files are all regular:
    // no checks to pay there. Anything else gets the full treatment.
    if (!(this.root === '/' && clean.startsWith('/proc/'))) {
      const r = this.readOne(clean, clean, maxBytes);
      return r.ok ? r.text : null;
    }
    const real = clean;
    if (headBuf.length < maxBytes) headBuf = Buffer.allocUnsafe(maxBytes);
    // existsSync reports absence without building an exception: the common case for a
    // /proc/<pid> that is already gone.
    if (!existsSync(real)) return null;
    let fd: number | null = null;
    try {
      fd = openSync(real, fsc.O_RDONLY | fsc.O_NONBLOCK);
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

  /**
   * readValue's text, or null when the file cannot be read: for the per-process scans, tens of
   * thousands of small files per run. The same guarantees, caps and notes as readValue; a file
   * directly below a live /proc/<pid> skips the path handling (it is a kernel file in normal
   * form, no alternates) and the result objects.
   */
  readSmallValue(livePath: string): string | null {
    const pidFile = this.root === '/' ? LIVE_PID_FILE.exec(livePath) : null;
    if (pidFile) {
      const cap = Math.min(readCapFor(livePath).maxBytes, this.maxReadBytes);
      return this.smallValueOf(livePath, readKernelFile(livePath, cap, WHOLE_IN_ONE_READ.has(pidFile[1]!)), cap);
    }
    const r = this.readText(livePath);
    return r.ok ? r.text.trim() : null;
  }

  /**
   * readSmallValue of `/proc/<pid>/<file>` for each pid and file, all at once: the native addon
   * reads them with both cores (the scan is the kernel building each file). Null where that does
   * not apply (not the live host, the addon not built, a name that is not a plain /proc/<pid>
   * file): the caller then reads them one by one. The same guarantees, caps and notes as
   * readSmallValue. Files of one cap and read mode go in one batch.
   */
  readPidValues(pids: readonly string[], files: readonly string[]): Map<string, (string | null)[]> | null {
    const plan = this.pidBatches(pids, files);
    if (!plan) return null;
    const out = new Map<string, (string | null)[]>();
    for (const b of plan.batches) this.takeBatch(b, plan.native.readMany(b.paths, b.cap, b.whole, SCAN_THREADS), pids.length, out);
    return out;
  }

  /** readPidValues on a thread of libuv's pool: the caller starts other work (the check's commands) meanwhile. */
  async readPidValuesAsync(pids: readonly string[], files: readonly string[]): Promise<Map<string, (string | null)[]> | null> {
    const plan = this.pidBatches(pids, files);
    if (!plan) return null;
    const out = new Map<string, (string | null)[]>();
    for (const b of plan.batches) this.takeBatch(b, await plan.native.readManyAsync(b.paths, b.cap, b.whole, SCAN_THREADS), pids.length, out);
    return out;
  }

  /**
   * The live process table in one call: /proc listed and these files of every process read, both
   * on libuv's pool, so this thread neither lists /proc nor builds the paths (`lantern check`
   * starts it before its modules load). The pids as list('/proc') gives its all-digit entries,
   * the values as readPidValues. Null where readPidValues would be null, or where the files do not
   * share one cap and read mode (one batch): the caller then lists and reads as before.
   */
  async readProcTableAsync(files: readonly string[]): Promise<{ pids: string[]; values: Map<string, (string | null)[]> } | null> {
    const plan = this.pidBatches([], files);
    if (!plan || plan.batches.length !== 1 || typeof plan.native.readPidsAsync !== 'function') return null;
    const b = plan.batches[0]!;
    const [pids, raw] = await plan.native.readPidsAsync('/proc', b.files, b.cap, b.whole, SCAN_THREADS);
    const out = new Map<string, (string | null)[]>();
    this.takeBatch(b, raw, pids.length, out, (j, i) => `/proc/${pids[i]}/${b.files[j]}`);
    return { pids, values: out };
  }

  private pidBatches(pids: readonly string[], files: readonly string[]) {
    const native = this.root === '/' ? kernfile() : null;
    if (!native || !files.every((f) => PID_FILE_NAME.test(f)) || !pids.every((p) => PID.test(p))) return null;
    const batches = new Map<string, PidBatch>();
    for (const file of files) {
      const cap = Math.min(readCapFor(`/proc/1/${file}`).maxBytes, this.maxReadBytes);
      const whole = WHOLE_IN_ONE_READ.has(file);
      const key = `${cap}/${whole}`;
      const b = batches.get(key) ?? batches.set(key, { cap, whole, files: [], paths: [] }).get(key)!;
      b.files.push(file);
      for (const p of pids) b.paths.push(`/proc/${p}/${file}`);
    }
    return { native, batches: [...batches.values()] };
  }

  private takeBatch(b: PidBatch, raw: KernfileResult[], perFile: number, out: Map<string, (string | null)[]>, pathOf = (j: number, i: number) => b.paths[j * perFile + i]!): void {
    b.files.forEach((file, j) => {
      const values: (string | null)[] = new Array(perFile);
      for (let i = 0; i < perFile; i++) {
        const path = pathOf(j, i);
        values[i] = this.smallValueOf(path, kernelReadResult(path, raw[j * perFile + i]!), b.cap);
      }
      out.set(file, values);
    });
  }

  /** A per-process file's read as readSmallValue returns it, its refusal or cut noted. */
  private smallValueOf(livePath: string, r: KernelRead, cap: number): string | null {
    if (!r.ok) {
      if (r.code === 'NOTREGULAR' || r.code === 'ELOOP' || r.code === 'ESCAPE') this.refuse({ ok: false, code: r.code, reason: `${livePath}: ${r.reason}` });
      return null;
    }
    if (r.cut !== null) this.noteCut(livePath, r.cut, cap);
    return r.text.trim();
  }

  exists(livePath: string): boolean {
    const clean = normaliseLive(livePath);
    return this.withAlternates(clean).some((p) => this.statInside(p) !== null);
  }

  isDirectory(livePath: string): boolean {
    return this.statInside(livePath)?.isDirectory() ?? false;
  }

  /** stat of what a live path resolves to, null when absent or unresolvable; never follows a link out of the root. */
  private statInside(livePath: string) {
    const r = this.resolve(livePath);
    if (!r.ok) return null;
    try {
      return this.root === '/' ? statSync(r.path) : lstatSync(r.path);
    } catch {
      return null;
    }
  }

  /** List a directory's entries (names only, sorted). */
  list(livePath: string): ListResult {
    const clean = normaliseLive(livePath);
    const res = this.resolve(clean);
    const real = res.path;
    if (!res.ok) return this.refuse({ ok: false, code: 'ELOOP', reason: res.reason, path: real, livePath: clean });
    try {
      if (this.root !== '/') {
        // The directory actually listed must be inside the root, whatever changed meanwhile.
        const st = lstatSync(real);
        if (!st.isDirectory()) return { ok: false, code: st.isFile() ? 'EIO' : 'NOTREGULAR', reason: `${clean}: is a ${entryKind(st)}, not a directory`, path: real, livePath: clean };
        if (!isInside(realpathSync(real), this.root)) return this.refuse({ ok: false, code: 'ESCAPE', reason: `${clean}: resolves outside ${this.root} (not listed)`, path: real, livePath: clean });
      }
      return { ok: true, entries: readdirSync(real).sort(), path: real, livePath: clean };
    } catch (e) {
      const code = errCode(e);
      return { ok: false, code, reason: `${clean}: ${describe(code, e)}`, path: real, livePath: clean };
    }
  }

  /** Read a symlink's target as the host sees it (e.g. /proc/<pid>/exe). */
  readLink(livePath: string): string | null {
    try {
      const r = this.resolve(livePath, false);
      return r.ok ? readlinkSync(r.path) : null;
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
    // The trigger of a copied tree (tests) is inside the root: written like a setting there.
    const inRoot = this.root !== '/' && isInside(path, this.root);
    return writeNoFollow(path, key, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT, inRoot ? this.root : null);
  }

  /**
   * Write a value to a kernel settings file: only under /proc/sys/ (sysctls) and
   * /sys/kernel/config/ (configfs, e.g. netconsole targets). The path is a fixed, configured
   * one, never taken from event content. Tests point a tree Host at a temp dir; there the write
   * never follows a link out of the root and never opens anything but a regular file.
   */
  writeSetting(livePath: string, value: string): { ok: true; path: string } | { ok: false; path: string; reason: string } {
    const clean = normaliseLive(livePath);
    const res = this.resolve(clean);
    if (!WRITABLE_PREFIXES.some((p) => clean.startsWith(p))) return { ok: false, path: res.path, reason: `refusing to write ${clean}` };
    if (!res.ok) return { ok: false, path: res.path, reason: res.reason };
    const r = writeNoFollow(res.path, value, fsc.O_WRONLY | fsc.O_TRUNC | fsc.O_CREAT, this.root === '/' ? null : this.root);
    return r.ok ? r : { ...r, reason: r.reason.replace(res.path, clean) };
  }

  /** mkdir under /sys/kernel/config/ (creating a configfs item, e.g. a netconsole target). */
  makeSettingDir(livePath: string): { ok: true; path: string } | { ok: false; path: string; reason: string } {
    const clean = normaliseLive(livePath);
    const res = this.resolve(clean);
    const path = res.path;
    if (!clean.startsWith('/sys/kernel/config/')) return { ok: false, path, reason: `refusing to create ${clean}` };
    if (!res.ok) return { ok: false, path, reason: res.reason };
    if (this.root !== '/') {
      // The parent must really be inside the root (mkdir itself never follows a last-component link).
      try {
        if (!isInside(realpathSync(posix.dirname(path)), this.root)) return { ok: false, path, reason: `${clean}: resolves outside ${this.root} (not created)` };
      } catch (e) {
        return { ok: false, path, reason: `${clean}: ${describe(errCode(e), e)}` };
      }
    }
    try {
      mkdirSync(path);
      return { ok: true, path };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
        try {
          if (lstatSync(path).isDirectory()) return { ok: true, path };
        } catch {
          /* fall through */
        }
        return { ok: false, path, reason: `${clean}: exists and is not a directory` };
      }
      return { ok: false, path, reason: `${clean}: ${describe(errCode(e), e)}` };
    }
  }

  /** Read one live path (no alternates) under its cap; the cut, if any, is noted once. */
  private readOne(live: string, shown: string, maxBytes?: number): ReadResult {
    const res = this.resolve(live);
    const real = res.path;
    if (!res.ok) return this.refuse({ ok: false, code: 'ELOOP', reason: res.reason, path: real, livePath: shown });
    const cap = Math.min(maxBytes ?? readCapFor(live).maxBytes, this.maxReadBytes);
    const kernelFs = this.root === '/' && KERNEL_FS_FILE.test(real);
    const r = kernelFs ? readKernelFile(real, cap) : textOf(readEvidence(real, this.root === '/' ? { maxBytes: cap } : { maxBytes: cap, noFollow: true, within: this.root }));
    if (!r.ok) {
      const code: ReadErrorCode = r.code;
      return this.refuse({ ok: false, code, reason: `${shown}: ${code === 'ENOENT' ? 'does not exist' : r.reason}`, path: real, livePath: shown });
    }
    const { text } = r;
    if (r.cut === null) return { ok: true, text, path: real, livePath: shown };
    if (maxBytes === undefined) this.noteCut(live, r.cut, cap);
    return { ok: true, text, path: real, livePath: shown, cut: r.cut };
  }

  private noteCut(live: string, size: number, cap: number): void {
    const note = cutNote(live, size, cap);
    if (!this.cuts.includes(note)) this.cuts.push(note);
  }

  /** Note a refusal that says something about the root (not a plain absence), once per path. */
  private refuse<T extends { ok: false; code: ReadErrorCode; reason: string }>(r: T): T {
    if ((r.code === 'NOTREGULAR' || r.code === 'ELOOP' || r.code === 'ESCAPE') && !this.refused.includes(r.reason)) this.refused.push(r.reason);
    return r;
  }

  /**
   * Walk `clean` component by component under the root, re-rooting absolute symlinks and
   * clamping '..' at the root. Null when more than MAX_SYMLINK_HOPS links were met (a loop or a
   * long chain): the caller reports ELOOP and opens nothing.
   */
  private resolveInside(clean: string, followLast: boolean, hops: { n: number }): string | null {
    const parts = clean.split('/').filter(Boolean);
    let cur = this.root;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (part === '..') {
        if (cur !== this.root) cur = posix.dirname(cur);
        continue;
      }
      if (part === '.') continue;
      const next = posix.join(cur, part);
      const isLast = i === parts.length - 1;
      if (isLast && !followLast) return next;
      let target: string | null = null;
      try {
        if (lstatSync(next).isSymbolicLink()) target = readlinkSync(next);
      } catch {
        /* missing: the rest is joined as-is */
      }
      if (target !== null) {
        if (++hops.n > MAX_SYMLINK_HOPS) return null;
        const rest = parts.slice(i + 1);
        // A relative target is relative to the link's directory, in the host's own terms.
        const base = target.startsWith('/') ? target : posix.join('/' + posix.relative(this.root, cur), target);
        return this.resolveInside(posix.join(posix.normalize(base), ...rest), followLast, hops);
      }
      cur = next;
    }
    return cur;
  }
}

/** readEvidence's bytes as UTF-8 text. */
function textOf(r: EvidenceRead): KernelRead {
  return r.ok ? { ok: true, text: r.bytes.toString('utf8'), cut: r.cut } : r;
}

function normaliseLive(p: string): string {
  if (!p.startsWith('/')) throw new HostError(`live paths are absolute: ${p}`);
  // normalize() leaves leading '..' at root as '/'; that is the chroot semantics we want.
  return posix.normalize(p);
}

/** The real name of a root directory (a root given through links); as given when it does not exist. */
function realRoot(root: string): string {
  if (root === '/') return root;
  try {
    return realpathSync(root);
  } catch {
    return root;
  }
}

/**
 * Open for writing without following a link as the last component and without opening anything
 * but a regular file (a FIFO planted there would block, a device would be written to); with
 * `within`, the opened file must lie inside it.
 */
function writeNoFollow(path: string, value: string, flags: number, within: string | null): { ok: true; path: string } | { ok: false; path: string; reason: string } {
  let fd: number | null = null;
  try {
    if (within !== null) {
      let st = null;
      try {
        st = lstatSync(path);
      } catch {
        /* absent: created below */
      }
      if (st && !st.isFile()) return { ok: false, path, reason: `${path}: is a ${entryKind(st)}, not a regular file (not written)` };
      fd = openSync(path, flags | fsc.O_NOFOLLOW | fsc.O_NONBLOCK, 0o644);
      if (!fstatSync(fd).isFile() || !isInside(descriptorPath(fd), within)) return { ok: false, path, reason: `${path}: not a regular file inside ${within} (not written)` };
    } else {
      fd = openSync(path, flags);
    }
    writeSync(fd, value);
    return { ok: true, path };
  } catch (e) {
    return { ok: false, path, reason: `${path}: ${describe(errCode(e), e)}` };
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

function errCode(e: unknown): ReadErrorCode {
  const c = (e as NodeJS.ErrnoException)?.code;
  if (c === 'ENOENT' || c === 'ENOTDIR') return 'ENOENT';
  if (c === 'EACCES' || c === 'EPERM') return 'EACCES';
  if (c === 'EISDIR') return 'EISDIR';
  if (c === 'ELOOP') return 'ELOOP';
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
    case 'ELOOP':
      return 'is a symbolic link (not followed)';
    default:
      return (e as Error)?.message ?? String(e);
  }
}
