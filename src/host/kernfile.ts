/**
 * The optional kernfile addon (native/kernfile, built by scripts/build-native.mjs at install): a
 * small live /proc or /sys file read in one call (open, fstat, read, close in C) with the same
 * guarantees as the JavaScript path of host.ts readKernelFile, which stays the fallback. `lantern
 * check` reads two files of every process; on a host with 10,000 processes Node's four calls per
 * file (and a Stats object and an exception per process gone meanwhile) cost about as much as
 * the kernel's own work.
 */
import { createRequire } from 'node:module';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getSystemErrorMap } from 'node:util';
import { entryKind, evidenceFailure, type EvidenceErrorCode } from '../common/evidence.js';

/** One file's result from the addon (see native/kernfile/kernfile.c). */
export type KernfileResult = string | [string, number] | number;

export interface KernfileAddon {
  read(path: string, cap: number, wholeInOneRead: boolean): KernfileResult;
  /** read() of each path, by up to `threads` threads; results in order. */
  readMany(paths: string[], cap: number, wholeInOneRead: boolean, threads: number): KernfileResult[];
  /** readMany on a thread of libuv's pool. */
  readManyAsync(paths: string[], cap: number, wholeInOneRead: boolean, threads: number): Promise<KernfileResult[]>;
  /** `dir` listed and `dir/<pid>/<file>` of each all-digit entry read, on libuv's pool: [pids sorted, results file by file]. */
  readPidsAsync(dir: string, files: string[], cap: number, wholeInOneRead: boolean, threads: number): Promise<[string[], KernfileResult[]]>;
}

export type KernelRead = { ok: true; text: string; cut: number | null } | { ok: false; code: EvidenceErrorCode; reason: string };

export const KERNFILE_PATH = fileURLToPath(new URL('../../native/kernfile/build/Release/kernfile.node', import.meta.url));

/** Read errors are returned as -(errno + READ_PHASE) by the addon, open and fstat errors as -errno. */
const READ_PHASE = 4096;

const S_IFMT = 0o170000;
const KIND_OF_MODE: Record<number, string> = { 0o010000: 'FIFO', 0o020000: 'character device', 0o040000: 'directory', 0o060000: 'block device', 0o120000: 'symbolic link', 0o140000: 'socket' };

let loaded: { addon: KernfileAddon } | { error: string } | undefined;

function load(): { addon: KernfileAddon } | { error: string } {
  if (loaded) return loaded;
  if (process.env.LANTERN_NO_KERNFILE === '1') return (loaded = { error: 'LANTERN_NO_KERNFILE=1 (the JavaScript path is used)' });
  if (process.platform !== 'linux') return (loaded = { error: `not Linux (${process.platform})` });
  if (!existsSync(KERNFILE_PATH)) return (loaded = { error: `${KERNFILE_PATH} missing (npm install builds it, or run: node scripts/build-native.mjs)` });
  try {
    return (loaded = { addon: createRequire(import.meta.url)(KERNFILE_PATH) as KernfileAddon });
  } catch (e) {
    return (loaded = { error: `cannot load ${KERNFILE_PATH}: ${(e as Error).message.split('\n')[0]}` });
  }
}

/** The addon, or null when it is not built or cannot load (the caller reads in JavaScript). */
export function kernfile(): KernfileAddon | null {
  const l = load();
  return 'addon' in l ? l.addon : null;
}

/** Why the addon is not used, or undefined when it is (for tests and their skip reasons). */
export function kernfileMissing(): string | undefined {
  const l = load();
  return 'error' in l ? `kernfile addon not used: ${l.error}` : undefined;
}

let errnoNames: Map<number, [string, string]> | undefined;

/** An error as Node would make it, from a negative errno (-2 → ENOENT). */
function errnoError(negativeErrno: number): { code: string; message: string } {
  errnoNames ??= getSystemErrorMap();
  const [code, text] = errnoNames.get(negativeErrno) ?? ['EIO', `errno ${-negativeErrno}`];
  return { code, message: `${code}: ${text}` };
}

/** What the addon's result means, in readKernelFile's terms (its reasons and codes). */
export function kernelReadResult(path: string, r: KernfileResult): KernelRead {
  if (typeof r === 'string') return { ok: true, text: r, cut: null };
  if (typeof r !== 'number') return { ok: true, text: r[0], cut: r[1] };
  if (r >= 0) {
    // Not a regular file: say what it is, as entryKind does (device numbers from a stat of the path).
    let kind = KIND_OF_MODE[r & S_IFMT] ?? 'special file';
    try {
      const st = statSync(path);
      if ((st.mode & S_IFMT) === (r & S_IFMT)) kind = entryKind(st);
    } catch {
      /* gone meanwhile: the kind from the open descriptor stands */
    }
    return { ok: false, code: 'NOTREGULAR', reason: `is a ${kind}, not a regular file (not read)` };
  }
  if (-r > READ_PHASE) {
    // As readKernelFile: a failed read is EACCES, ENOENT or EISDIR as such, anything else EIO.
    const e = errnoError(r + READ_PHASE);
    const code = e.code === 'EACCES' || e.code === 'ENOENT' || e.code === 'EISDIR' ? e.code : 'EIO';
    return { ok: false, code, reason: e.message };
  }
  return evidenceFailure(errnoError(r));
}
