/**
 * Reading evidence safely: the one primitive every Lantern command uses to read a file that
 * somebody else made (a copied tree, a sosreport, a baseline directory, a log given by name).
 *
 * Guarantees, in the order they are checked:
 *  - only a regular file is opened: a FIFO, socket, character or block device is refused
 *    *before* open (opening some devices has side effects: a watchdog arms, a tape rewinds),
 *    and again by fstat after open (the entry may have been swapped in between);
 *  - the open never blocks (O_NONBLOCK) and never becomes the controlling terminal (O_NOCTTY);
 *  - with `noFollow`, the last component is opened with O_NOFOLLOW (a link planted there is
 *    refused with ELOOP instead of followed);
 *  - with `within`, the file actually opened (the kernel's name for the descriptor,
 *    /proc/self/fd/N) must lie inside that directory: whatever happened to the path while it was
 *    resolved, nothing outside the root is ever returned;
 *  - at most `maxBytes` are read; a longer file is cut there and says so (`cut`), or is refused.
 */
import { closeSync, constants as fsc, fstatSync, lstatSync, openSync, readlinkSync, readSync, statSync, type Stats } from 'node:fs';

export type EvidenceErrorCode = 'ENOENT' | 'EACCES' | 'EISDIR' | 'NOTREGULAR' | 'TOOBIG' | 'ELOOP' | 'ESCAPE' | 'EIO';

export type EvidenceRead = { ok: true; bytes: Buffer; /** the file's size when it was longer than the cap and was cut */ cut: number | null } | { ok: false; code: EvidenceErrorCode; reason: string };

export interface EvidenceReadOptions {
  /** Largest number of bytes returned. */
  maxBytes: number;
  /** When the file is longer: 'cut' returns the first maxBytes with `cut` set; 'fail' returns TOOBIG. */
  whenLonger?: 'cut' | 'fail';
  /** Refuse a symbolic link as the last component (O_NOFOLLOW). */
  noFollow?: boolean;
  /** A real directory the opened file must lie inside (checked on the open descriptor). */
  within?: string;
  /** The path is on the live procfs or sysfs: skip the check before open (fstat after still runs). */
  kernelFs?: boolean;
}

/** What kind of file system entry a Stats describes, in words for a reason text. */
export function entryKind(st: Stats): string {
  if (st.isFile()) return 'regular file';
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return 'FIFO';
  if (st.isCharacterDevice()) return `character device ${major(st.rdev)}:${minor(st.rdev)}`;
  if (st.isBlockDevice()) return `block device ${major(st.rdev)}:${minor(st.rdev)}`;
  if (st.isSocket()) return 'socket';
  if (st.isSymbolicLink()) return 'symbolic link';
  return 'special file';
}

const major = (dev: number): number => ((dev >>> 8) & 0xfff) | ((dev / 2 ** 32) & ~0xfff);
const minor = (dev: number): number => (dev & 0xff) | ((dev >>> 12) & ~0xff);

const OPEN_FLAGS = fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOCTTY;

/** Open a regular file for reading under the guarantees above; the caller closes the descriptor. */
export function openEvidence(
  path: string,
  opts: { noFollow?: boolean; within?: string; kernelFs?: boolean } = {},
): { ok: true; fd: number; stat: Stats } | { ok: false; code: EvidenceErrorCode; reason: string } {
  // The live /proc and /sys hold no FIFOs or devices (their files open without side effects):
  // there the check after open is enough, and the hot per-process scans save a stat per file.
  if (!opts.kernelFs) {
    let pre: Stats;
    try {
      pre = opts.noFollow ? lstatSync(path) : statSync(path);
    } catch (e) {
      return evidenceFailure(e);
    }
    if (pre.isSymbolicLink()) return { ok: false, code: 'ELOOP', reason: 'is a symbolic link (not followed)' };
    if (pre.isDirectory()) return { ok: false, code: 'EISDIR', reason: 'is a directory' };
    if (!pre.isFile()) return { ok: false, code: 'NOTREGULAR', reason: `is a ${entryKind(pre)}, not a regular file (not read)` };
  }
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS | (opts.noFollow ? fsc.O_NOFOLLOW : 0));
  } catch (e) {
    return evidenceFailure(e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      closeSync(fd);
      return { ok: false, code: 'NOTREGULAR', reason: `is a ${entryKind(st)}, not a regular file (not read)` };
    }
    if (opts.within !== undefined && !isInside(descriptorPath(fd), opts.within)) {
      closeSync(fd);
      return { ok: false, code: 'ESCAPE', reason: `resolves outside ${opts.within} (not read)` };
    }
    return { ok: true, fd, stat: st };
  } catch (e) {
    closeSync(fd);
    return evidenceFailure(e);
  }
}

/** Read a regular file (see the module comment); never throws. */
export function readEvidence(path: string, opts: EvidenceReadOptions): EvidenceRead {
  const opened = openEvidence(path, opts);
  if (!opened.ok) return opened;
  const { fd } = opened;
  try {
    return readCapped(fd, opts.maxBytes, opts.whenLonger ?? 'cut');
  } catch (e) {
    return evidenceFailure(e);
  } finally {
    closeSync(fd);
  }
}

/**
 * Read from an open descriptor until EOF or one byte past the cap. /proc and /sys report a size
 * of 0 or 4096, so the size from fstat is a hint, never a bound.
 */
function readCapped(fd: number, max: number, whenLonger: 'cut' | 'fail'): EvidenceRead {
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.allocUnsafe(Math.min(64 * 1024, max + 1));
  for (;;) {
    const want = Math.min(buf.length, max + 1 - total);
    const n = readSync(fd, buf, 0, want, null);
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
    total += n;
    if (total > max) {
      if (whenLonger === 'fail') return { ok: false, code: 'TOOBIG', reason: `larger than ${formatBytes(max)} (not read)` };
      let size = total;
      try {
        size = Math.max(total, fstatSync(fd).size);
      } catch {
        /* keep what was counted */
      }
      return { ok: true, bytes: Buffer.concat(chunks, total).subarray(0, max), cut: size };
    }
  }
  return { ok: true, bytes: Buffer.concat(chunks, total), cut: null };
}

/** The kernel's name of what a descriptor refers to. */
export function descriptorPath(fd: number): string {
  return readlinkSync(`/proc/self/fd/${fd}`);
}

/** True when `path` is `dir` itself or lies below it (both absolute and normalised). */
export function isInside(path: string, dir: string): boolean {
  if (dir === '/') return path.startsWith('/');
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : dir + '/');
}

export function formatBytes(n: number): string {
  if (n >= 1 << 30 && n % (1 << 30) === 0) return `${n / (1 << 30)} GiB`;
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)} KiB`;
  return `${n} bytes`;
}

/** What a failed open or stat means as evidence (code and reason); also for errors from native reads. */
export function evidenceFailure(e: unknown): { ok: false; code: EvidenceErrorCode; reason: string } {
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return { ok: false, code: 'ENOENT', reason: 'does not exist' };
    case 'EACCES':
    case 'EPERM':
      return { ok: false, code: 'EACCES', reason: 'permission denied' };
    case 'EISDIR':
      return { ok: false, code: 'EISDIR', reason: 'is a directory' };
    case 'ELOOP':
      return { ok: false, code: 'ELOOP', reason: 'too many levels of symbolic links, or a link where none is followed' };
    case 'ENXIO':
    case 'EAGAIN':
      return { ok: false, code: 'NOTREGULAR', reason: 'not a regular file (not read)' };
    default:
      return { ok: false, code: 'EIO', reason: err?.message ?? String(e) };
  }
}
