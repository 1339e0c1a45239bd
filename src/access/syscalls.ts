/**
 * Syscall exits as access lines (pure): the bpftrace program of the `syscalls` backend and the
 * decoding of what it prints.
 *
 * Why exits only: the syscall's arguments are read from the saved user registers (pt_regs at the
 * top of the task's kernel stack) at sys_exit_*, so no enter probe and no map are needed, and the
 * path string is read after the kernel copied it (its page is resident: no empty strings). The
 * program prints only failures (ret < 0) and the rare successes fanotify cannot tell apart
 * (O_APPEND and O_TRUNC opens, chmod, truncate, ioctl once per (pid, fd, cmd)): plain successful
 * opens, the bulk of all file traffic, cost a filter and no output.
 *
 * x86_64 only (syscall numbers and argument registers); other architectures run fanotify alone.
 */
import { absolutePath, linePath } from './path.js';
import type { AccessEvent } from './event.js';

/** x86_64 syscall numbers and which register holds what (di si dx r10 = arguments 1-4). */
interface SyscallDef {
  nr: number;
  name: string;
  /** Register of the dfd (relative paths start there), or null (AT_FDCWD). */
  dfd: string | null;
  /** Register of the path pointer, or of the fd for f* calls. */
  path: string;
  /** Register of the flags or mode argument, or null. */
  arg: string | null;
  /** For renames: the register of the new name and of its dfd. */
  path2?: string;
  dfd2?: string | null;
  /** fd calls (fchmod, ftruncate, ioctl): `path` holds an fd. */
  byFd?: boolean;
  /** A second value (ioctl cmd), register. */
  arg2?: string;
  /** Successes printed too (rare calls); otherwise failures only (opens: O_APPEND/O_TRUNC too). */
  successes?: 'all' | 'open-flags' | 'once' | 'once-path';
  /** Only with [access] getattr = true: stat calls are most of all file traffic. */
  getattr?: boolean;
}

export const SYSCALLS: SyscallDef[] = [
  { nr: 2, name: 'open', dfd: null, path: 'di', arg: 'si', successes: 'open-flags' },
  { nr: 257, name: 'openat', dfd: 'di', path: 'si', arg: 'dx', successes: 'open-flags' },
  { nr: 437, name: 'openat2', dfd: 'di', path: 'si', arg: null },
  { nr: 85, name: 'creat', dfd: null, path: 'di', arg: 'si' },
  { nr: 59, name: 'execve', dfd: null, path: 'di', arg: null },
  { nr: 322, name: 'execveat', dfd: 'di', path: 'si', arg: null },
  { nr: 87, name: 'unlink', dfd: null, path: 'di', arg: null },
  { nr: 263, name: 'unlinkat', dfd: 'di', path: 'si', arg: 'dx' },
  { nr: 84, name: 'rmdir', dfd: null, path: 'di', arg: null },
  { nr: 82, name: 'rename', dfd: null, path: 'di', arg: null, path2: 'si', dfd2: null },
  { nr: 264, name: 'renameat', dfd: 'di', path: 'si', arg: null, path2: 'r10', dfd2: 'dx' },
  { nr: 316, name: 'renameat2', dfd: 'di', path: 'si', arg: null, path2: 'r10', dfd2: 'dx' },
  { nr: 83, name: 'mkdir', dfd: null, path: 'di', arg: 'si' },
  { nr: 258, name: 'mkdirat', dfd: 'di', path: 'si', arg: 'dx' },
  { nr: 90, name: 'chmod', dfd: null, path: 'di', arg: 'si', successes: 'all' },
  { nr: 268, name: 'fchmodat', dfd: 'di', path: 'si', arg: 'dx', successes: 'all' },
  { nr: 91, name: 'fchmod', dfd: null, path: 'di', arg: 'si', byFd: true, successes: 'all' },
  { nr: 76, name: 'truncate', dfd: null, path: 'di', arg: null, successes: 'all' },
  { nr: 77, name: 'ftruncate', dfd: null, path: 'di', arg: null, byFd: true, successes: 'all' },
  { nr: 16, name: 'ioctl', dfd: null, path: 'di', arg: null, byFd: true, arg2: 'si', successes: 'once' },
  { nr: 262, name: 'newfstatat', dfd: 'di', path: 'si', arg: 'r10', successes: 'once-path', getattr: true },
  { nr: 332, name: 'statx', dfd: 'di', path: 'si', arg: 'dx', successes: 'once-path', getattr: true },
  { nr: 4, name: 'newstat', dfd: null, path: 'di', arg: null, successes: 'once-path', getattr: true },
  { nr: 6, name: 'newlstat', dfd: null, path: 'di', arg: null, successes: 'once-path', getattr: true },
];

const O_WRONLY = 0o1;
const O_RDWR = 0o2;
const O_CREAT = 0o100;
const O_TRUNC = 0o1000;
const O_APPEND = 0o2000;
const AT_FDCWD = -100;
const AT_REMOVEDIR = 0x200;

/** Longest string bpftrace 0.17 copies (BPFTRACE_STRLEN at most 200, NUL included). */
export const STRLEN = 200;

/**
 * The bpftrace program. `exclude` are pids whose calls are not traced (the recorder itself): numbers
 * only, validated here, never event data. Each printf is `R nr pid tid ret dfd arg arg2 nsecs path`, a
 * rename's new name follows as `N pid tid dfd2 path`.
 */
export function syscallProgram(exclude: number[], opts: { getattr?: boolean } = {}): string {
  for (const p of exclude) if (!Number.isInteger(p) || p < 0) throw new Error(`bad pid ${p}`);
  const notMe = exclude.length ? exclude.map((p) => `pid != ${p}`).join(' && ') : '1';
  const regs = '$r = (struct pt_regs *)((uint64)curtask->stack + 16384 - sizeof(struct pt_regs));';
  const probes = SYSCALLS.filter((s) => !s.getattr || opts.getattr).map((s) => {
    const dfd = s.dfd ? `(int32)$r->${s.dfd}` : String(AT_FDCWD);
    const arg = s.arg ? `$r->${s.arg}` : '0';
    const arg2 = s.arg2 ? `$r->${s.arg2}` : '0';
    const pathFmt = s.byFd ? '%d' : '%s';
    const pathVal = s.byFd ? `(int32)$r->${s.path}` : `str(uptr($r->${s.path}))`;
    let cond = 'args->ret < 0';
    if (s.successes === 'all') cond = '1';
    if (s.successes === 'open-flags') cond = `args->ret < 0 || (${arg} & ${O_APPEND | O_TRUNC})`;
    const print = `printf("R ${s.nr} %d %d %d %d %d %d %llu ${pathFmt}", pid, tid, args->ret, ${dfd}, ${arg}, ${arg2}, nsecs, ${pathVal});`;
    const second = s.path2 ? ` printf("N %d %d %d %s", pid, tid, ${s.dfd2 ? `(int32)$r->${s.dfd2}` : AT_FDCWD}, str(uptr($r->${s.path2})));` : '';
    if (s.successes === 'once-path') {
      // getattr: once per (pid, path as passed) every 10 s, failures too (PATH lookups fail by the thousand).
      return `tracepoint:syscalls:sys_exit_${s.name} /${notMe}/ { ${regs} $p = str(uptr($r->${s.path})); if (@ga[pid, $p] == 0) { @ga[pid, $p] = 1; printf("R ${s.nr} %d %d %d %d %d %d %llu %s", pid, tid, args->ret, ${dfd}, ${arg}, 0, nsecs, $p); } }`;
    }
    if (s.successes === 'once') {
      // Reported once per (pid, fd, cmd) by the kernel side; forgotten every 10 s (an fd is reused).
      return `tracepoint:syscalls:sys_exit_${s.name} /${notMe}/ { ${regs} $k = ((uint64)pid << 32) | ((uint64)$r->${s.path} & 0xffff) | (((uint64)$r->${s.arg2} & 0xffff) << 16); if (args->ret < 0 || @once[$k] == 0) { @once[$k] = 1; ${print} } }`;
    }
    return `tracepoint:syscalls:sys_exit_${s.name} /${notMe}/ { ${regs} if (${cond}) { ${print}${second} } }`;
  });
  // END clears the map so bpftrace does not print it at exit.
  const maps = opts.getattr ? '@once); clear(@ga' : '@once';
  // BEGIN runs once every probe is attached (bpftrace says "attached" before it attaches them).
  return [`BEGIN { printf("${SYSCALLS_READY}"); }`, ...probes, `interval:s:10 { clear(${maps}); }`, `END { clear(${maps}); }`].join('\n');
}

/** The BEGIN record that says every probe is attached (see Bpftrace's readyPrintf). */
export const SYSCALLS_READY = 'lantern-syscalls-ready';

/** One decoded printf of the program. */
export interface SyscallExit {
  nr: number;
  pid: number;
  tid: number;
  ret: number;
  dfd: number;
  arg: number;
  arg2: number;
  /** CLOCK_MONOTONIC ns at the syscall's exit (bpftrace's nsecs). */
  monoNs: number;
  /** The path as passed (or the fd, as a decimal string, for f* calls). */
  path: string;
  /** A rename's new name and its dfd, once its `N` line arrived. */
  path2?: string;
  dfd2?: number;
}

/** Decode an `R …` or `N …` printf; null when it is neither (counted by the caller). */
export function decodeExit(text: string): { kind: 'R'; exit: SyscallExit } | { kind: 'N'; pid: number; tid: number; dfd: number; path: string } | null {
  if (text.startsWith('R ')) {
    const m = /^R (\d+) (\d+) (\d+) (-?\d+) (-?\d+) (-?\d+) (-?\d+) (\d+) ([\s\S]*)$/.exec(text);
    if (!m) return null;
    return { kind: 'R', exit: { nr: +m[1]!, pid: +m[2]!, tid: +m[3]!, ret: +m[4]!, dfd: +m[5]!, arg: +m[6]!, arg2: +m[7]!, monoNs: +m[8]!, path: m[9]! } };
  }
  if (text.startsWith('N ')) {
    const m = /^N (\d+) (\d+) (-?\d+) ([\s\S]*)$/.exec(text);
    if (!m) return null;
    return { kind: 'N', pid: +m[1]!, tid: +m[2]!, dfd: +m[3]!, path: m[4]! };
  }
  return null;
}

const BY_NR = new Map(SYSCALLS.map((s) => [s.nr, s]));

export function hasSecondName(nr: number): boolean {
  return BY_NR.get(nr)?.path2 !== undefined;
}

/** What the process's directories were when its call was seen (from /proc, by the edge). */
export interface ProcDirs {
  /** The process's working directory, or null when it could not be read (it has gone). */
  cwd: string | null;
  /** The process's root (`/` unless chrooted), or null when unknown. */
  root: string | null;
  /** The path an fd of the process names, or null. */
  fd(fd: number): string | null;
}

export interface ErrnoNames {
  (n: number): string;
}

/**
 * The access a syscall exit describes, or null when it is not one we list (e.g. a successful
 * plain open that slipped through). `unresolved` is set when a relative path had no directory:
 * the line then keeps the path as passed, prefixed `?/`, so it is visible, not lost.
 */
export function toAccess(e: SyscallExit, dirs: ProcDirs, errnoName: ErrnoNames, timeUs: number): (AccessEvent & { unresolved?: boolean }) | null {
  const def = BY_NR.get(e.nr);
  if (!def) return null;
  let unresolved = false;
  const resolve = (p: string, dfd: number): string => {
    if (p.startsWith('/')) {
      const abs = absolutePath(p, null, dirs.root ?? '/');
      return linePath(abs!, e.pid);
    }
    const base = dfd === AT_FDCWD ? dirs.cwd : dirs.fd(dfd);
    const abs = absolutePath(p, base);
    if (abs === null) {
      unresolved = true;
      return `?/${linePath(p, e.pid)}`;
    }
    return linePath(abs, e.pid);
  };
  const fdPath = (): string => {
    const p = dirs.fd(Number(e.path));
    if (p === null) {
      unresolved = true;
      return `?/fd:${e.path}`;
    }
    return linePath(p, e.pid);
  };
  const mode = (m: number) => (m & 0o7777).toString(8).padStart(4, '0');
  let op: string;
  switch (def.name) {
    case 'open':
    case 'openat':
    case 'openat2': {
      const fl = def.name === 'openat2' ? 0 : e.arg;
      const acc = fl & 3;
      const path = resolve(e.path, e.dfd);
      // fanotify reports the write and the create of a successful open; what it cannot tell is
      // whether it appended or truncated, so those successes come from here (and every failure).
      if (fl & O_APPEND) op = `append ${path}`;
      else if (fl & O_TRUNC && acc !== 0 && e.ret >= 0) op = `truncate ${path}`;
      else if (fl & O_CREAT && e.ret < 0) op = `create ${path}`;
      else if (acc === O_WRONLY || acc === O_RDWR) op = `write ${path}`;
      else op = `read ${path}`;
      break;
    }
    case 'creat':
      op = `create ${resolve(e.path, e.dfd)} ${mode(e.arg)}`;
      break;
    case 'execve':
    case 'execveat':
      op = `execute ${resolve(e.path, e.dfd)}`;
      break;
    case 'unlink':
      op = `unlink ${resolve(e.path, e.dfd)}`;
      break;
    case 'unlinkat':
      op = `${e.arg & AT_REMOVEDIR ? 'rmdir' : 'unlink'} ${resolve(e.path, e.dfd)}`;
      break;
    case 'rmdir':
      op = `rmdir ${resolve(e.path, e.dfd)}`;
      break;
    case 'rename':
    case 'renameat':
    case 'renameat2':
      op = `rename ${resolve(e.path, e.dfd)} ${e.path2 !== undefined ? resolve(e.path2, e.dfd2 ?? AT_FDCWD) : '?'}`;
      break;
    case 'mkdir':
    case 'mkdirat':
      op = `mkdir ${resolve(e.path, e.dfd)} ${mode(e.arg)}`;
      break;
    case 'chmod':
    case 'fchmodat':
      op = `chmod ${resolve(e.path, e.dfd)} ${mode(e.arg)}`;
      break;
    case 'fchmod':
      op = `chmod ${fdPath()} ${mode(e.arg)}`;
      break;
    case 'truncate':
      op = `truncate ${resolve(e.path, e.dfd)}`;
      break;
    case 'ftruncate':
      op = `truncate ${fdPath()}`;
      break;
    case 'newfstatat':
    case 'statx':
    case 'newstat':
    case 'newlstat':
      // AT_EMPTY_PATH with "": fstat of the dfd itself.
      if (e.path === '' && e.dfd !== AT_FDCWD) {
        const p = dirs.fd(e.dfd);
        if (p === null) unresolved = true;
        op = `getattr ${p === null ? `?/fd:${e.dfd}` : linePath(p, e.pid)}`;
      } else op = `getattr ${resolve(e.path, e.dfd)}`;
      break;
    case 'ioctl':
      op = `ioctl ${fdPath()} 0x${(e.arg2 >>> 0).toString(16).padStart(4, '0')}`;
      break;
    default:
      return null;
  }
  const ev: AccessEvent & { unresolved?: boolean } = { timeUs, pid: e.pid, tid: e.tid, category: 'file', operation: op };
  if (e.ret < 0) ev.errno = errnoName(-e.ret);
  if (unresolved) ev.unresolved = true;
  return ev;
}
