/**
 * Sosreports arrive as tarballs (`sosreport-<host>-<date>.tar.xz`, .tar.gz, .tar.bz2, .tar.zst).
 * `unpackSosreport` extracts one into a private temporary directory (0700) and returns the
 * report's root. The extraction runs in a child process (unpack-child.ts, node-tar) that writes
 * only regular files, directories and links, no owner or permission bits from the archive, and
 * stops at a size, member-count and compression-ratio limit: a customer's tarball can neither
 * plant a device node nor fill the disk. The directory is removed on exit, on SIGINT, SIGTERM
 * and SIGHUP, and at once when the extraction fails.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compressionOf, MAGIC_BYTES, type Compression } from '../common/compression.js';
import { formatBytes } from '../common/evidence.js';
import { HostError, looksLikeSosreport } from './roots.js';

export const SOS_ARCHIVE_RE = /\.(tar|tar\.(xz|gz|bz2|zst)|tgz|txz)$/;

export interface UnpackLimits {
  /** Most bytes the members may add up to. */
  maxBytes: number;
  /** Most members. */
  maxFiles: number;
  /** Most unpacked bytes per archive byte past 256 MiB; 0 turns the check off. */
  maxRatio: number;
}

/**
 * Real sosreports unpack to tens of MiB up to a few GiB (sos cuts each log at 25 MiB by default)
 * with tens of thousands of members, at ratios of 5-20 (xz). A bomb is thousands to one.
 */
export const DEFAULT_UNPACK_LIMITS: UnpackLimits = { maxBytes: 8 * 1024 ** 3, maxFiles: 1_000_000, maxRatio: 100 };

const CHILD = fileURLToPath(new URL('./unpack-child.js', import.meta.url));

const unpacked: string[] = [];
let cleanupRegistered = false;

function removeUnpacked(): void {
  for (const dir of unpacked.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Remove the extraction directories, then die of the signal as if it had not been caught. */
function onSignal(sig: NodeJS.Signals): void {
  removeUnpacked();
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeListener(s, onSignal);
  process.kill(process.pid, sig);
}

function registerCleanup(): void {
  if (cleanupRegistered) return;
  cleanupRegistered = true;
  process.once('exit', removeUnpacked);
  // Only where nobody else handles the signal: a daemon's own handlers exit through 'exit'.
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) if (process.listenerCount(s) === 0) process.once(s, onSignal);
}

/** The compression of an archive by its magic bytes (its name may lie). */
function archiveCompression(archive: string): Compression {
  const head = Buffer.alloc(MAGIC_BYTES);
  let fd: number | null = null;
  try {
    fd = openSync(archive, 'r');
    return compressionOf(head.subarray(0, readSync(fd, head, 0, MAGIC_BYTES, 0)));
  } catch {
    return 'none';
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

export interface Unpacked {
  root: string;
  /** What the extraction left out or could not finish, for the report's notes. */
  notes: string[];
}

/** Extract a sosreport tarball; returns the directory that holds sos_commands/ etc. */
export function unpackSosreport(archive: string, limits: Partial<UnpackLimits> = {}, tmpParent: string = tmpdir()): Unpacked {
  if (!SOS_ARCHIVE_RE.test(archive)) throw new HostError(`${archive}: not a sosreport directory or tarball (.tar, .tar.xz, .tar.gz, .tar.bz2, .tar.zst)`);
  const lim = { ...DEFAULT_UNPACK_LIMITS, ...limits };
  let st;
  try {
    st = statSync(archive);
  } catch (e) {
    throw new HostError(`${archive}: cannot open (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (!st.isFile()) throw new HostError(`${archive}: not a regular file`);
  registerCleanup();
  const dir = mkdtempSync(join(tmpParent, 'lantern-sos-'));
  unpacked.push(dir);
  const fail = (msg: string): never => {
    rmSync(dir, { recursive: true, force: true });
    throw new HostError(msg);
  };
  const r = spawnSync(process.execPath, [CHILD, archive, dir, String(lim.maxBytes), String(lim.maxFiles), String(lim.maxRatio), archiveCompression(archive)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    timeout: 30 * 60_000,
    maxBuffer: 1 << 20,
  });
  if (r.signal) {
    // Interrupted (Ctrl-C reaches the whole process group): the directory goes, then the signal is ours.
    rmSync(dir, { recursive: true, force: true });
    if (r.signal === 'SIGINT' || r.signal === 'SIGTERM' || r.signal === 'SIGHUP') onSignal(r.signal);
    fail(`${archive}: extraction stopped by ${r.signal}`);
  }
  let outcome: { ok: boolean; error?: string; kind?: string; files: number; bytes: number; skipped: Record<string, number>; warnings: string[] };
  try {
    outcome = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
  } catch {
    return fail(`${archive}: cannot extract (${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop()})`);
  }
  if (!outcome.ok && outcome.kind === 'limit') {
    fail(
      `${archive}: not unpacked: ${outcome.error}; limits: ${formatBytes(lim.maxBytes)}, ${lim.maxFiles.toLocaleString('en-US')} members, ratio ${lim.maxRatio || 'off'} (raise with --max-unpacked SIZE)`,
    );
  }
  const root = findSosRoot(dir);
  // A truncated or odd archive: keep what was extracted when it is a sosreport, and say so.
  if (!outcome.ok && !root) fail(`${archive}: cannot extract (${outcome.error})`);
  if (!root) fail(`${archive}: extracted, but it holds no sosreport (no sos_commands/, sos_reports/ or sos_logs/)`);
  const notes: string[] = [];
  const skipped = Object.entries(outcome.skipped);
  if (skipped.length) notes.push(`${archive}: ${skipped.map(([t, n]) => `${n} ${t}`).join(', ')} member(s) not unpacked (only regular files, directories and links are)`);
  if (!outcome.ok) notes.push(`${archive}: extraction incomplete (${outcome.error}); ${outcome.files} member(s) read`);
  return { root: root!, notes };
}

/** The report root is the archive's top directory (sosreport-host-date/), or the extraction dir itself. */
function findSosRoot(dir: string): string | null {
  if (looksLikeSosreport(dir)) return dir;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    try {
      if (statSync(p).isDirectory() && looksLikeSosreport(p)) return p;
    } catch {
      /* skip */
    }
  }
  return null;
}
