/**
 * Which access backends run (edge): the registry of AccessSources and the automatic choice.
 *
 * `auto` runs every registered source that can start here: for files fanotify (successful
 * accesses, resolved paths) plus the syscalls backend (failures, append/truncate/chmod/ioctl);
 * other families (the network side, src/access/net/) register themselves with one call to
 * registerAccessSource() and run beside them. A source that cannot start is said, with why, in
 * `lantern record status`; an explicit `--access-backend` that cannot start is an error.
 */
import type { AccessEvent, AccessSource } from './event.js';
import { FanotifySource } from './fanotify.js';
import { SyscallSource } from './syscall-source.js';
import { startNetworkSource } from './net/source.js';

export interface SourceContext {
  /** Hand one access to the lists. */
  emit: (ev: AccessEvent) => void;
  /** Pids whose accesses are not recorded (the recorder and its helpers). */
  excludePids: number[];
  /** Record `file getattr` too ([access] getattr = true; off by default: most of the volume). */
  getattr?: boolean;
}

export interface SourceDef {
  /** Name used by --access-backend and shown in status. */
  name: string;
  /** What it records, for --help and status. */
  covers: string;
  start(ctx: SourceContext): Promise<AccessSource>;
}

const REGISTRY: SourceDef[] = [
  {
    name: 'fanotify',
    covers: 'successful file accesses (read, write, create, unlink, rename, mkdir, rmdir, execute)',
    start: (ctx) => Promise.resolve(FanotifySource.start(ctx.emit, { ignorePids: ctx.excludePids })),
  },
  {
    name: 'syscalls',
    covers: 'failed file operations with errno; append, truncate, chmod, ioctl (bpftrace on syscall exits)',
    start: (ctx) => SyscallSource.start(ctx.emit, { excludePids: ctx.excludePids, getattr: ctx.getattr }),
  },
  {
    name: 'network',
    covers: 'inet and unix bind, listen, connect, accept, datagram sends, with errno on failures (bpftrace on syscall and sock tracepoints)',
    start: (ctx) => startNetworkSource({ excludePids: ctx.excludePids }, ctx.emit),
  },
];

/** Add a backend (e.g. the network side): `registerAccessSource({ name: 'net', covers: …, start })`. */
export function registerAccessSource(def: SourceDef): void {
  if (!REGISTRY.some((d) => d.name === def.name)) REGISTRY.push(def);
}

export function accessSources(): readonly SourceDef[] {
  return REGISTRY;
}

export interface BackendReport {
  name: string;
  running: boolean;
  /** Why it is not running (it could not start). */
  error?: string;
}

/**
 * Start the chosen backends: `auto` (every registered one that starts) or a comma-separated list
 * of names (each must start). Returns what runs, and what did not with why.
 */
export async function startSources(choice: string, ctx: SourceContext): Promise<{ sources: AccessSource[]; report: BackendReport[] }> {
  const names =
    choice === 'auto'
      ? REGISTRY.map((d) => d.name)
      : choice
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  const unknown = names.filter((n) => !REGISTRY.some((d) => d.name === n));
  if (unknown.length) throw new Error(`unknown access backend ${unknown.join(', ')} (one of: auto, ${REGISTRY.map((d) => d.name).join(', ')})`);
  const sources: AccessSource[] = [];
  const report: BackendReport[] = [];
  for (const n of names) {
    const def = REGISTRY.find((d) => d.name === n)!;
    try {
      const s = await def.start(ctx);
      sources.push(s);
      // A later source's helper (bpftrace) must not be recorded by an earlier one (fanotify).
      const helper = (s as { pid?: number }).pid;
      if (typeof helper === 'number' && helper > 0) for (const o of sources) (o as { ignore?: (pid: number) => void }).ignore?.(helper);
      report.push({ name: n, running: true });
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0]!;
      if (choice !== 'auto') {
        await Promise.all(sources.map((s) => s.stop()));
        throw new Error(`access backend ${n} cannot start: ${msg}`);
      }
      report.push({ name: n, running: false, error: msg });
    }
  }
  return { sources, report };
}
