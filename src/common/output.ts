/**
 * Writing output: the one primitive every Lantern command uses to put a file where the user named
 * it (`baseline save --out`, `report --out`, the snapshot directory). Lantern runs as root, often in
 * directories other people can write (/tmp, a shared case directory), so nothing planted there may
 * redirect a write, and no device node may ever be replaced by a regular file.
 *
 * What `writeOutput(path, data)` does, by what `path` is (decided by lstat, never by the name alone,
 * except the descriptor names of the first row):
 *
 *  - `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N`: the process's own descriptor N,
 *    written as it is (a shell's `>>` still appends, a pipe stays a pipe); nothing is opened;
 *  - nothing there, or a regular file: the data goes into a new temporary file in the same
 *    directory, created exclusively without following links (O_CREAT|O_EXCL|O_NOFOLLOW, a random
 *    name, mode 0600 until written, retried on EEXIST), fsync'd, then moved into place: by link()
 *    when nothing was there (so a file that appeared meanwhile is never replaced), by rename() over
 *    a regular file (which keeps its permission bits); the directory is fsync'd. A reader sees the
 *    old file or the whole new one, never half; on any error the temporary file is removed and the
 *    old file is untouched;
 *  - a character device or a FIFO: opened without O_CREAT/O_TRUNC, non-blocking, and written
 *    straight (no temporary file, no rename): `--out /dev/null` stays /dev/null. A FIFO without a
 *    reader is waited for a bounded time, then refused;
 *  - a symbolic link: written through only when it resolves to a character device or a FIFO;
 *    a link to a regular file, to nothing, or to a directory is refused (someone else may have
 *    planted it: give the target's own path);
 *  - a socket, a block device, a directory, or a path on a kernel pseudo file system (procfs,
 *    sysfs, cgroup, tracefs, debugfs, configfs, …): refused before anything is written.
 *
 * Every refusal and failure is a CliError with EXIT.IOERR; a reader that closed the pipe is a
 * ClosedPipeError (the command ends as a Unix filter killed by SIGPIPE would: quietly, EXIT.PIPE).
 * Only the last component is checked: a link among the directories of the path is followed, as
 * the user's own layout (/var/lib → /data/var/lib) must keep working.
 */
import { createRequire } from 'node:module';
import { closeSync, constants as fsc, fchmodSync, fstatSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, renameSync, statfsSync, statSync, type Stats, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, normalize, resolve } from 'node:path';
import { entryKind } from './evidence.js';
import { CliError, EXIT } from './exit.js';

/** The reader of a pipe (stdout, or a FIFO given as --out) went away before everything was written. */
export class ClosedPipeError extends Error {
  readonly code = 'EPIPE';
  constructor(where: string) {
    super(`${where}: the reader closed the pipe`);
  }
}

/** How a write reached its destination. */
export type OutputWay = 'created' | 'replaced' | 'device' | 'fifo' | 'descriptor';

export interface WriteOutputOptions {
  /** Permission bits of a newly created file (a replaced file keeps its own). Default 0640. */
  mode?: number;
  /** How long to wait for a reader to open a FIFO (default 10 s); then the write is refused. */
  fifoReaderWaitMs?: number;
  /** Test hook: the temporary names to try, in order (default: random ones). */
  tempNames?: () => string;
  /**
   * Only a regular file (or nothing) may be at `path`: a device node, a FIFO, a symbolic link or
   * one of the process's own descriptor names there is refused, not written into or through. For
   * the state files Lantern names itself (a crash record, a stats document), where anything but
   * its own file at that name was put there by someone else.
   */
  regularFileOnly?: boolean;
  /**
   * fsync the file and its directory before and after it is moved into place (default true). A
   * document rewritten every few seconds must be whole, not durable: false spares the disk.
   */
  sync?: boolean;
}

/** How many temporary names are tried before giving up (each taken one means someone plants them). */
const TEMP_ATTEMPTS = 100;
/** Longest file name on Linux file systems (NAME_MAX), in bytes. */
const NAME_MAX = 255;

/**
 * Kernel pseudo file systems (statfs f_type, from linux/magic.h): writing there either fails in
 * odd ways (procfs makes recursive mkdir spin), or does something (a directory in cgroupfs or
 * configfs creates a kernel object, a file in efivarfs is a firmware variable).
 */
const PSEUDO_FS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'procfs'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x74726163, 'tracefs'],
  [0x64626720, 'debugfs'],
  [0x62656570, 'configfs'],
  [0x73636673, 'securityfs'],
  [0xf97cff8c, 'selinuxfs'],
  [0xcafe4a11, 'bpf'],
  [0xde5e81e4, 'efivarfs'],
  [0x6165676c, 'pstore'],
  [0x1cd1, 'devpts'],
  [0x42494e4d, 'binfmt_misc'],
  [0x65735543, 'fusectl'],
  [0x19800202, 'mqueue'],
  [0x6e736673, 'nsfs'],
]);

/** The name of the kernel pseudo file system `path` lies on, or null (also when it cannot be told). */
export function pseudoFileSystem(path: string): string | null {
  try {
    return PSEUDO_FS.get(statfsSync(path).type >>> 0) ?? null;
  } catch {
    return null;
  }
}

/** The descriptor a path names when it is one of the process's own (`/dev/stdout`, `/dev/fd/3`, …). */
export function ownDescriptor(path: string): number | null {
  const p = normalize(path);
  if (p === '/dev/stdout') return 1;
  if (p === '/dev/stderr') return 2;
  const m = /^(?:\/dev\/fd|\/proc\/self\/fd|\/proc\/thread-self\/fd)\/(\d{1,9})$/.exec(p) ?? new RegExp(`^/proc/${process.pid}/fd/(\\d{1,9})$`).exec(p);
  return m ? Number(m[1]) : null;
}

/** Write `data` to the file, device, FIFO or descriptor `path` names, under the rules above. */
export function writeOutput(path: string, data: string | Uint8Array, opts: WriteOutputOptions = {}): OutputWay {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const fd = ownDescriptor(path);
  if (fd !== null) {
    if (opts.regularFileOnly) throw new CliError(`${path}: names a descriptor; only a regular file is written here (not written)`, EXIT.IOERR);
    writeToDescriptor(path, fd, bytes);
    return 'descriptor';
  }
  let st: Stats | null;
  try {
    st = lstatSync(path);
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw cannot(path, 'write', e);
    st = null;
  }
  if (st !== null && !st.isFile() && opts.regularFileOnly) throw new CliError(`${path}: is a ${entryKind(st)}; only a regular file is written here (not replaced)`, EXIT.IOERR);
  if (st !== null && st.isSymbolicLink()) {
    let target: Stats | null = null;
    try {
      target = statSync(path);
    } catch {
      /* a dangling link: refused below */
    }
    if (target && (target.isCharacterDevice() || target.isFIFO())) return writeToStream(path, bytes, { follow: true, waitMs: opts.fifoReaderWaitMs });
    throw new CliError(`${path}: is a symbolic link${target ? ` to a ${entryKind(target)}` : ' to nothing'}; not written through (it may have been planted: give the target's own path)`, EXIT.IOERR);
  }
  if (st !== null && (st.isCharacterDevice() || st.isFIFO())) return writeToStream(path, bytes, { follow: false, waitMs: opts.fifoReaderWaitMs });
  if (st !== null && !st.isFile()) throw new CliError(`${path}: is a ${entryKind(st)}; output goes only to a regular file, a FIFO or a character device (not written)`, EXIT.IOERR);
  const dir = dirname(resolve(path));
  const pseudo = pseudoFileSystem(dir);
  if (pseudo) throw new CliError(`${path}: lies on ${pseudo}, a kernel pseudo file system; output is not written there`, EXIT.IOERR);
  return writeViaTemporary(path, dir, bytes, st, opts);
}

/**
 * Make `dir` and its missing parents one component at a time (each new one with `mode`), refusing a
 * component that exists but is not a directory and a pseudo file system anywhere on the way. Bounded
 * by the number of components: no retry loop (recursive mkdir spins forever on procfs).
 */
export function ensureDirectory(dir: string, mode = 0o750): void {
  const abs = resolve(dir);
  let cur = '/';
  for (const part of abs.split('/').filter(Boolean)) {
    const next = join(cur, part);
    let st = statOrNull(next, dir);
    if (st === null) {
      const pseudo = pseudoFileSystem(cur);
      if (pseudo) throw new CliError(`${dir}: cannot create ${next}: ${cur} is on ${pseudo}, a kernel pseudo file system`, EXIT.IOERR);
      try {
        mkdirSync(next, { mode });
      } catch (e) {
        if (errno(e) !== 'EEXIST') throw new CliError(`${dir}: cannot create ${next} (${errno(e) ?? String(e)})`, EXIT.IOERR);
      }
      st = statOrNull(next, dir);
      if (st === null) throw new CliError(`${dir}: ${next} exists but cannot be entered (a dangling symbolic link?)`, EXIT.IOERR);
    }
    if (!st.isDirectory()) throw new CliError(`${dir}: ${next} is a ${entryKind(st)}, not a directory`, EXIT.IOERR);
    cur = next;
  }
  const pseudo = pseudoFileSystem(abs);
  if (pseudo) throw new CliError(`${dir}: is on ${pseudo}, a kernel pseudo file system; nothing is stored there`, EXIT.IOERR);
}

function statOrNull(path: string, dir: string): Stats | null {
  try {
    return statSync(path);
  } catch (e) {
    const code = errno(e);
    if (code === 'ENOENT') return null;
    throw new CliError(`${dir}: cannot use ${path} (${code === 'ENOTDIR' ? 'a component is not a directory' : (code ?? String(e))})`, EXIT.IOERR);
  }
}

function writeViaTemporary(path: string, dir: string, bytes: Uint8Array, old: Stats | null, opts: WriteOutputOptions): OutputWay {
  const { fd, tmp } = createTemporary(path, dir, opts.tempNames ?? randomTempName(basename(path)));
  let open = true;
  try {
    writeAll(fd, bytes, path);
    fchmodSync(fd, old !== null ? old.mode & 0o777 : (opts.mode ?? 0o640));
    if (opts.sync !== false) fsyncSync(fd);
    closeSync(fd);
    open = false;
    const way = old === null ? placeNew(tmp, path) : placeOver(tmp, path);
    if (opts.sync !== false) syncDirectory(dir);
    return way;
  } catch (e) {
    if (open) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already moved or gone */
    }
    if (e instanceof CliError || e instanceof ClosedPipeError) throw e;
    throw cannot(path, 'write', e);
  }
}

/** Nothing was at `path`: link() the finished file there, which fails rather than replace one that appeared. */
function placeNew(tmp: string, path: string): OutputWay {
  try {
    linkSync(tmp, path);
  } catch (e) {
    const code = errno(e);
    if (code === 'EEXIST') {
      // Something appeared while we wrote: decide again, as if it had been there from the start.
      const now = lstatSync(path);
      if (!now.isFile()) throw new CliError(`${path}: a ${entryKind(now)} appeared there while the output was written (not replaced)`, EXIT.IOERR);
      return placeOver(tmp, path);
    }
    // File systems without hard links (vfat, some FUSE): rename, after looking once more.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK') throw e;
    return placeOver(tmp, path, true);
  }
  unlinkSync(tmp);
  return 'created';
}

/** Rename the finished file over `path`, which must still be a regular file (or, for the fallback, nothing). */
function placeOver(tmp: string, path: string, mayBeAbsent = false): OutputWay {
  let now: Stats | null = null;
  try {
    now = lstatSync(path);
  } catch (e) {
    if (!(mayBeAbsent && errno(e) === 'ENOENT')) throw e;
  }
  if (now !== null && !now.isFile()) throw new CliError(`${path}: became a ${entryKind(now)} while the output was written (not replaced)`, EXIT.IOERR);
  renameSync(tmp, path);
  return now === null ? 'created' : 'replaced';
}

function createTemporary(path: string, dir: string, names: () => string): { fd: number; tmp: string } {
  const flags = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW | fsc.O_NOCTTY;
  for (let i = 0; i < TEMP_ATTEMPTS; i++) {
    const tmp = join(dir, names());
    try {
      return { fd: openSync(tmp, flags, 0o600), tmp };
    } catch (e) {
      if (errno(e) === 'EEXIST') continue;
      throw new CliError(`${path}: cannot create a temporary file in ${dir} (${errno(e) ?? String(e)})`, EXIT.IOERR);
    }
  }
  throw new CliError(`${path}: cannot create a temporary file in ${dir}: ${TEMP_ATTEMPTS} names in a row were taken (is someone planting files there?)`, EXIT.IOERR);
}

/** `.<name>.<12 random hex>.tmp`, the name cut so the whole fits NAME_MAX; never ends in `.json`. */
function randomTempName(name: string): () => string {
  let stem = name;
  while (Buffer.byteLength(stem) > NAME_MAX - 18) stem = stem.slice(0, -1);
  return () => `.${stem}.${randomHex(6)}.tmp`;
}

let randomBytes: ((n: number) => Buffer) | undefined;

/** node:crypto is loaded at the first temporary name: every command imports this module, few write through a temporary file (~5 ms of start-up). */
function randomHex(bytes: number): string {
  randomBytes ??= (createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')).randomBytes;
  return randomBytes(bytes).toString('hex');
}

function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* durability of the rename only; the file itself is synced */
  }
}

/** A device or FIFO: open it as it is (no O_CREAT, no O_TRUNC, never blocking) and write straight. */
function writeToStream(path: string, bytes: Uint8Array, how: { follow: boolean; waitMs: number | undefined }): OutputWay {
  const flags = fsc.O_WRONLY | fsc.O_NONBLOCK | fsc.O_NOCTTY | (how.follow ? 0 : fsc.O_NOFOLLOW);
  const deadline = Date.now() + (how.waitMs ?? 10_000);
  let fd: number;
  for (let pause = 5; ; pause = Math.min(pause * 2, 200)) {
    try {
      fd = openSync(path, flags);
      break;
    } catch (e) {
      // ENXIO: a FIFO nobody reads yet. Wait for the reader a bounded time, never forever.
      if (errno(e) !== 'ENXIO') throw cannot(path, 'open', e);
      if (Date.now() >= deadline) throw new CliError(`${path}: FIFO without a reader (waited ${how.waitMs ?? 10_000} ms; not written)`, EXIT.IOERR);
      sleep(pause);
    }
  }
  try {
    const st = fstatSync(fd);
    // The entry may have been swapped between lstat and open: only a device or FIFO is written this way.
    if (!st.isCharacterDevice() && !st.isFIFO()) throw new CliError(`${path}: became a ${entryKind(st)} before it was opened (not written)`, EXIT.IOERR);
    writeAll(fd, bytes, path);
    return st.isFIFO() ? 'fifo' : 'device';
  } finally {
    closeSync(fd);
  }
}

/** The process's own descriptor: write what it is; a directory or a closed descriptor is refused. */
function writeToDescriptor(path: string, fd: number, bytes: Uint8Array): void {
  let st: Stats;
  try {
    st = fstatSync(fd);
  } catch (e) {
    throw new CliError(`${path}: descriptor ${fd} is not open (${errno(e) ?? String(e)})`, EXIT.IOERR);
  }
  if (st.isDirectory()) throw new CliError(`${path}: descriptor ${fd} is a directory (not written)`, EXIT.IOERR);
  writeAll(fd, bytes, path);
}

/**
 * Write everything, whatever the descriptor: partial writes continue, EAGAIN (a non-blocking pipe or
 * FIFO that is full: its reader is slow) waits and retries, EPIPE is the reader gone.
 */
function writeAll(fd: number, bytes: Uint8Array, path: string): void {
  let off = 0;
  let pause = 1;
  while (off < bytes.length) {
    try {
      off += writeSync(fd, bytes, off, Math.min(bytes.length - off, 1 << 20));
      pause = 1;
    } catch (e) {
      const code = errno(e);
      if (code === 'EAGAIN') {
        sleep(pause);
        pause = Math.min(pause * 2, 50);
        continue;
      }
      if (code === 'EPIPE') throw new ClosedPipeError(path);
      throw cannot(path, 'write', e);
    }
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleep(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

function cannot(path: string, what: string, e: unknown): CliError {
  return new CliError(`${path}: cannot ${what} (${errno(e) ?? (e as Error)?.message ?? String(e)})`, EXIT.IOERR);
}
