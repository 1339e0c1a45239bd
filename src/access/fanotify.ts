/**
 * The fanotify file backend (edge): native/fanotify marks whole local filesystems and reads the
 * queue in a C thread; this turns its batches into AccessEvents.
 *
 * Which filesystems: those that hold files programs read and write and that give fanotify file
 * handles — disk filesystems (ext2/3/4, xfs, btrfs, f2fs, jfs, reiserfs, vfat, exfat, ntfs3) and
 * memory ones holding real files (tmpfs: /tmp, /run, /dev/shm; devtmpfs: /dev). Pseudo filesystems
 * (proc, sysfs, cgroup, tracefs, debugfs, securityfs, bpf, devpts, mqueue, …) are out: their
 * "files" are kernel interfaces, most cannot be marked (no file handles), and reading them is the
 * recorder's own noise. Network filesystems (nfs, cifs) and overlay are out: remote changes are not
 * seen, and overlay needs its own file-handle support. Mounts that appear later are marked at the
 * next rescan (every few seconds).
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AccessEvent, AccessSource } from './event.js';
import { linePath } from './path.js';

export const LOCAL_FS_TYPES = ['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'f2fs', 'jfs', 'reiserfs', 'vfat', 'exfat', 'ntfs3', 'tmpfs', 'devtmpfs'];

interface NativeFanotify {
  start(onBatch: (batch: Buffer | null) => void): object;
  mark(h: object, path: string): string | null;
  run(h: object): void;
  ignore(h: object, pid: number): void;
  stop(h: object): void;
  stats(h: object): FanotifyStats;
  clockOffsetNs(): number;
}

export type FanotifyStats = {
  events: number;
  records: number;
  merged: number;
  overflows: number;
  unresolved: number;
  batches: number;
  ignored: number;
  dirEvents: number;
  readErrors: number;
  marks: number;
};

export const NATIVE_PATH = fileURLToPath(new URL('../../native/fanotify/build/Release/lantern_fanotify.node', import.meta.url));

let cached: { mod: NativeFanotify } | { error: string } | undefined;

/** The addon, or why it cannot be used. */
export function loadFanotify(): { mod: NativeFanotify } | { error: string } {
  if (cached) return cached;
  if (process.platform !== 'linux') return (cached = { error: `not Linux (${process.platform})` });
  if (!existsSync(NATIVE_PATH)) return (cached = { error: `native/fanotify is not built (${NATIVE_PATH} missing; npm install builds it, or run: node scripts/build-native.mjs)` });
  try {
    return (cached = { mod: createRequire(import.meta.url)(NATIVE_PATH) as NativeFanotify });
  } catch (e) {
    return (cached = { error: `cannot load ${NATIVE_PATH}: ${(e as Error).message.split('\n')[0]}` });
  }
}

/** One mount of /proc/self/mountinfo: mount point (unescaped), fs type, device. */
export interface MountEntry {
  mountPoint: string;
  fsType: string;
  dev: string;
}

/** Parse /proc/self/mountinfo (pure). */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (f.length < 10 || sep < 6) continue;
    out.push({ mountPoint: unescape(f[4]!), fsType: f[sep + 1]!, dev: f[2]! });
  }
  return out;
}

/** The mounts to mark: one per device (its shortest mount point), local file systems only. */
export function mountsToMark(mounts: MountEntry[]): MountEntry[] {
  const byDev = new Map<string, MountEntry>();
  for (const m of mounts) {
    if (!LOCAL_FS_TYPES.includes(m.fsType)) continue;
    const cur = byDev.get(m.dev);
    if (!cur || m.mountPoint.length < cur.mountPoint.length) byDev.set(m.dev, m);
  }
  return [...byDev.values()];
}

/** CLOCK_BOOTTIME − CLOCK_MONOTONIC in ns (0 when the addon is not built: no suspend assumed). */
export function bootMinusMonoNs(): number {
  const l = loadFanotify();
  return 'mod' in l ? l.mod.clockOffsetNs() : 0;
}

/** The op letters of native/fanotify's batches to TOMOYO operations. */
const OPS: Record<string, string> = { r: 'read', w: 'write', x: 'execute', c: 'create', m: 'mkdir', u: 'unlink', d: 'rmdir', n: 'rename' };

/** Decode one batch (pure): records of 5 NUL-terminated fields. */
export function decodeBatch(buf: Buffer, nowUs: number, out: (ev: AccessEvent) => void): { records: number; unresolved: number; malformed: number } {
  const f = buf.toString('utf8').split('\0');
  let records = 0;
  let unresolved = 0;
  let malformed = 0;
  for (let i = 0; i + 5 <= f.length; i += 5) {
    const op = OPS[f[i]!];
    const pid = Number(f[i + 1]);
    if (!op || !Number.isInteger(pid)) {
      malformed++;
      continue;
    }
    records++;
    const path = f[i + 3]!;
    const extra = f[i + 4]!;
    if (!path) {
      unresolved++; // the directory was gone before its handle could be resolved (counted by the caller)
      continue;
    }
    let operation = `${op} ${linePath(path, pid)}`;
    if ((op === 'create' || op === 'mkdir') && extra) operation += ` ${extra}`;
    if (op === 'rename') operation += ` ${linePath(extra, pid)}`;
    const bootUs = Number(f[i + 2]);
    out({ timeUs: nowUs, ...(bootUs > 0 ? { bootNs: bootUs * 1000 } : {}), pid, category: 'file', operation });
  }
  return { records, unresolved, malformed };
}

export class FanotifySource implements AccessSource {
  readonly name = 'fanotify';
  readonly blind: string[] = [
    'whether a write appended or truncated, and the mode of chmod (from the syscalls backend when it runs)',
    'failed operations (from the syscalls backend when it runs)',
    'pseudo, network and overlay filesystems; directories gone before their events were read',
  ];
  readonly marked: string[] = [];
  readonly notMarked: string[] = [];
  unresolved = 0;
  malformed = 0;
  private ended = false;
  private endedP: Promise<void>;
  private timer: NodeJS.Timeout | null = null;
  private lastMountinfo = '';

  private constructor(
    private readonly mod: NativeFanotify,
    private readonly handle: object,
    endedP: Promise<void>,
  ) {
    this.endedP = endedP;
  }

  get lost(): number {
    return this.mod.stats(this.handle).overflows;
  }

  /** The reader thread's counters, and the directories unresolved and records malformed here. */
  stats(): FanotifyStats & { unresolvedPaths: number; malformed: number } {
    return { ...this.mod.stats(this.handle), unresolvedPaths: this.unresolved, malformed: this.malformed };
  }

  /** Start: a fanotify group, the local filesystems marked, the reader thread running. */
  static start(emit: (ev: AccessEvent) => void, opts: { ignorePids?: number[]; mountinfo?: string } = {}): FanotifySource {
    const loaded = loadFanotify();
    if ('error' in loaded) throw new Error(loaded.error);
    const mod = loaded.mod;
    let src: FanotifySource | null = null;
    let resolveEnd!: () => void;
    const endedP = new Promise<void>((r) => (resolveEnd = r));
    const handle = mod.start((batch) => {
      if (batch === null) {
        src!.ended = true;
        resolveEnd();
        return;
      }
      try {
        const r = decodeBatch(batch, Date.now() * 1000, emit);
        src!.unresolved += r.unresolved;
        src!.malformed += r.malformed;
      } catch {
        src!.malformed++; // counted (status fanotify.malformed), never a crash of the recorder
      }
    });
    src = new FanotifySource(mod, handle, endedP);
    for (const p of opts.ignorePids ?? []) mod.ignore(handle, p);
    src.markMounts(opts.mountinfo);
    if (src.marked.length === 0) {
      mod.stop(handle);
      throw new Error(`fanotify could mark no filesystem (${src.notMarked.join('; ') || 'no local filesystem mounted'})`);
    }
    mod.run(handle);
    if (!opts.mountinfo) {
      src.timer = setInterval(() => src!.markMounts(), 5000);
      src.timer.unref();
    }
    return src;
  }

  /** Mark the local filesystems not marked yet (a mount made after the start, at the next rescan). */
  markMounts(mountinfo?: string): void {
    let text = mountinfo;
    if (text === undefined) {
      try {
        text = readFileSync('/proc/self/mountinfo', 'utf8');
      } catch {
        return;
      }
      if (text === this.lastMountinfo) return;
      this.lastMountinfo = text;
    }
    const done = new Set([...this.marked, ...this.notMarked.map((s) => s.slice(0, s.lastIndexOf(' (')))]);
    for (const m of mountsToMark(parseMountinfo(text))) {
      if (done.has(m.mountPoint) || this.marked.length + this.notMarked.length > 200) continue;
      const err = this.mod.mark(this.handle, m.mountPoint);
      if (err === null) this.marked.push(m.mountPoint);
      else this.notMarked.push(`${m.mountPoint} (${m.fsType}: ${err})`);
    }
  }

  ignore(pid: number): void {
    this.mod.ignore(this.handle, pid);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (!this.ended) this.mod.stop(this.handle);
    await this.endedP;
  }
}
