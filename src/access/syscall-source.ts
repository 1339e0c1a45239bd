/**
 * The `syscalls` backend (edge): bpftrace on syscall exit tracepoints (src/access/syscalls.ts has
 * the program and the decoding), through the one bpftrace runner (src/common/bpftrace.ts: -f json,
 * pdeathsig, lost events counted).
 *
 * Relative paths are resolved against /proc/<pid>/cwd (and absolute ones below /proc/<pid>/root)
 * read when the line arrives, a few milliseconds after the call. Why not the BTF walk of
 * curtask->fs->pwd: it would print a bounded chain of dentry names per event without mount
 * crossings (a cwd on another filesystem comes out wrong); /proc gives the kernel's own d_path.
 * A process gone before its line is read leaves the path as passed, written `?/…`, and counted.
 */
import { readlinkSync } from 'node:fs';
import { constants } from 'node:os';
import { Bpftrace } from '../common/bpftrace.js';
import type { AccessEvent, AccessSource } from './event.js';
import { bootMinusMonoNs } from './fanotify.js';
import { decodeExit, hasSecondName, STRLEN, SYSCALLS_READY, syscallProgram, toAccess, type ProcDirs, type SyscallExit } from './syscalls.js';

const ERRNO_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(constants.errno)) if (!ERRNO_NAMES.has(n)) ERRNO_NAMES.set(n, name);
/** Names Node does not list (kernel-internal or rare). */
const EXTRA_ERRNO: Record<number, string> = { 49: 'EUNATCH' };

export function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? EXTRA_ERRNO[n] ?? `E${n}`;
}

function link(p: string): string | null {
  try {
    return readlinkSync(p);
  } catch {
    return null;
  }
}

/** The directories of a live process from /proc (null fields when it has gone). */
export function procDirs(pid: number): ProcDirs {
  return {
    cwd: link(`/proc/${pid}/cwd`),
    root: link(`/proc/${pid}/root`),
    fd: (fd: number) => (Number.isInteger(fd) && fd >= 0 ? link(`/proc/${pid}/fd/${fd}`) : null),
  };
}

export class SyscallSource implements AccessSource {
  readonly name = 'syscalls';
  readonly blind: string[] = [
    'successful plain reads and writes (fanotify reports them)',
    'relative paths of processes gone before their line was read (kept as passed, ?/…)',
    `paths longer than ${STRLEN - 1} bytes (cut by bpftrace)`,
  ];
  unresolved = 0;
  malformed = 0;
  private pendingRename = new Map<number, SyscallExit>();
  private readonly bootOffsetNs = bootMinusMonoNs();

  private constructor(private readonly bt: Bpftrace) {}

  stats(): { unresolvedPaths: number; malformed: number } {
    return { unresolvedPaths: this.unresolved, malformed: this.malformed };
  }

  get lost(): number {
    return this.bt.status.lost;
  }

  get pid(): number {
    return this.bt.pid;
  }

  static async start(emit: (ev: AccessEvent) => void, opts: { excludePids?: number[]; getattr?: boolean } = {}): Promise<SyscallSource> {
    let src: SyscallSource | null = null;
    const early: string[] = [];
    const bt = await Bpftrace.start({
      program: syscallProgram([process.pid, ...(opts.excludePids ?? [])], { getattr: opts.getattr }),
      strlen: STRLEN,
      readyPrintf: SYSCALLS_READY,
      onPrintf: (text) => (src ? src.safeLine(text, emit) : early.push(text)),
    });
    src = new SyscallSource(bt);
    for (const t of early) src.safeLine(t, emit);
    return src;
  }

  /** A line that cannot be turned into an access is counted (status syscalls.malformed), never a crash of the recorder. */
  private safeLine(text: string, emit: (ev: AccessEvent) => void): void {
    try {
      this.onLine(text, emit);
    } catch {
      this.malformed++;
    }
  }

  private onLine(text: string, emit: (ev: AccessEvent) => void): void {
    const d = decodeExit(text);
    if (!d) {
      this.malformed++;
      return;
    }
    if ((d.kind === 'R' ? d.exit.pid : d.pid) === this.bt.pid) return; // bpftrace's own calls
    let e: SyscallExit;
    if (d.kind === 'N') {
      const first = this.pendingRename.get(d.tid);
      if (!first) {
        this.malformed++;
        return;
      }
      this.pendingRename.delete(d.tid);
      e = { ...first, path2: d.path, dfd2: d.dfd };
    } else {
      e = d.exit;
      if (hasSecondName(e.nr)) {
        if (this.pendingRename.size > 10_000) this.pendingRename.clear();
        this.pendingRename.set(e.tid, e);
        return;
      }
    }
    const ev = toAccess(e, procDirs(e.pid), errnoName, Date.now() * 1000);
    if (!ev) return;
    ev.bootNs = e.monoNs + this.bootOffsetNs;
    if (ev.unresolved) this.unresolved++;
    delete ev.unresolved;
    emit(ev);
  }

  async stop(): Promise<void> {
    await this.bt.stop();
  }
}
