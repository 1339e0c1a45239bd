/**
 * One receiver per directory. Two `netconsole listen` or `console listen` on one output or state
 * directory would write each other's per-sender files, replace each other's stats.json and undo each
 * other's tty settings, silently: a receiver therefore claims its directories before it starts, by
 * creating OWNER_FILE in each with O_EXCL (which never follows a link planted at that name), and
 * refuses to start where a running receiver holds one (exit 69, the file and the owner named).
 *
 * The file says which process holds the directory: its pid as /proc shows it and its start time
 * (field 22 of /proc/<pid>/stat), so a pid reused by another process after a crash is not taken for
 * the owner. A file left by a receiver that no longer runs (SIGKILL, a crash, a power loss) is
 * replaced, and the start says so once. Something other than a regular file at that name (a link, a
 * FIFO, a device) is left alone, as is a directory that cannot be made or written: the receiver
 * starts without that claim and says so (its writes report their own failures as before), since
 * refusing to start would lose every line. Only a running owner stops the start. The claim is
 * released at exit, whatever the path to it.
 */
import { closeSync, constants as fsc, lstatSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Host } from '../host/host.js';
import { parsePidStat } from '../host/proctable.js';
import { entryKind, readEvidence } from './evidence.js';
import { CliError, EXIT } from './exit.js';
import { ensureDirectory } from './output.js';
import { procPid } from './proc-pid.js';

export const OWNER_FILE = '.lantern-receiver';

/** What OWNER_FILE holds (one JSON line). */
interface Owner {
  pid: number;
  startTicks: number;
  command: string;
}

export interface ClaimRequest {
  dir: string;
  /** The option that names it, for the error (`--state-dir`, `dir =` ...). */
  option: string;
  /** Mode for a directory that does not exist yet. */
  mode?: number;
}

/** The start time of a running process, or null when no such process runs (or /proc cannot say). */
function startTicksOf(host: Host, pid: number): number | null {
  const text = host.readSmallValue(`/proc/${pid}/stat`);
  const st = text === null ? null : parsePidStat(text);
  return st && Number.isFinite(st.startTicks) ? st.startTicks : null;
}

function parseOwner(text: string): Owner | null {
  try {
    const o = JSON.parse(text) as Partial<Owner>;
    return Number.isInteger(o.pid) && Number.isFinite(o.startTicks) ? { pid: o.pid!, startTicks: o.startTicks!, command: typeof o.command === 'string' ? o.command.slice(0, 200) : '?' } : null;
  } catch {
    return null;
  }
}

/**
 * Claim each directory for this process (created when missing; one claim per real directory, so
 * `--dir` and `--state-dir` naming the same one are claimed once). Returns the release; it also runs
 * at process exit. `host` is the live host (whose /proc says whether an owner still runs); a type-only
 * import, so that `lantern analyze`, which skips OWNER_FILE in a directory walk, does not load it.
 * Throws CliError (exit 69) when a directory is held by a running receiver; claims
 * already taken are released first.
 */
export function claimDirectories(requests: ClaimRequest[], command: string, log: (line: string) => void, host: Host): () => void {
  // -1: a start /proc could not give (the file still names the pid).
  const pid = procPid();
  const self: Owner = { pid, startTicks: startTicksOf(host, pid) ?? -1, command };
  const taken: string[] = [];
  const release = () => {
    for (const path of taken.splice(0)) {
      // Only our own file: a successor may already hold the directory (this one was declared dead).
      const r = readEvidence(path, { maxBytes: 4096, noFollow: true });
      const o = r.ok ? parseOwner(r.bytes.toString('utf8')) : null;
      if (o && o.pid === self.pid && o.startTicks === self.startTicks) {
        try {
          unlinkSync(path);
        } catch {
          /* already gone */
        }
      }
    }
    process.off('exit', release);
  };
  process.on('exit', release);
  try {
    const seen = new Set<string>();
    for (const req of requests) {
      const dir = resolve(req.dir);
      if (seen.has(dir)) continue;
      seen.add(dir);
      const path = join(dir, OWNER_FILE);
      try {
        ensureDirectory(dir, req.mode ?? 0o755);
        claimOne(path, req, self, host, log);
        taken.push(path);
      } catch (e) {
        if (e instanceof CliError && e.exitCode === EXIT.UNAVAILABLE) throw e;
        log(`${req.dir}: not claimed (${(e as Error).message}); a second receiver on it would not be noticed`);
      }
    }
  } catch (e) {
    release();
    throw e;
  }
  return release;
}

function claimOne(path: string, req: ClaimRequest, self: Owner, host: Host, log: (line: string) => void): void {
  // Three tries: a stale file removed here may be claimed by another receiver starting at the same time.
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW | fsc.O_NONBLOCK, 0o644);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new CliError(`${path}: cannot create the receiver's owner file (${code ?? String(e)})`, EXIT.IOERR);
      const st = lstatSync(path, { throwIfNoEntry: false });
      if (!st) continue;
      if (!st.isFile()) throw new CliError(`${path}: a ${entryKind(st)} stands where the receiver's owner file goes; not touched (remove it if it is not meant to be there)`, EXIT.IOERR);
      const r = readEvidence(path, { maxBytes: 4096, noFollow: true });
      const owner = r.ok ? parseOwner(r.bytes.toString('utf8')) : null;
      if (owner && owner.pid !== self.pid && startTicksOf(host, owner.pid) === owner.startTicks) {
        throw new CliError(`${req.dir}: in use by another receiver (${owner.command}, pid ${owner.pid}, ${path}); give each receiver its own ${req.option}`, EXIT.UNAVAILABLE);
      }
      log(`${req.dir}: ${owner ? `the receiver that held it (pid ${owner.pid}) no longer runs` : `${OWNER_FILE} unreadable or not Lantern's`}; taken over`);
      try {
        unlinkSync(path);
      } catch {
        /* removed by another starting receiver: try again */
      }
      continue;
    }
    try {
      writeSync(fd, `${JSON.stringify(self)}\n`);
    } finally {
      closeSync(fd);
    }
    return;
  }
  throw new CliError(`${path}: could not be claimed in 3 tries (another receiver starting on ${req.dir} at the same time?)`, EXIT.IOERR);
}

/**
 * A receiver's run (`netconsole listen`, `console listen`) with its output and state directories
 * claimed: refused (exit 69) when a running receiver holds either, released when `serve` ends.
 */
export async function serveClaimed(dirs: { dir: string; stateDir: string }, command: string, log: (line: string) => void, host: Host, serve: () => Promise<void>): Promise<void> {
  const release = claimDirectories(
    [
      { dir: dirs.dir, option: '--dir (dir =)', mode: 0o750 },
      { dir: dirs.stateDir, option: '--state-dir (state_dir =)' },
    ],
    command,
    log,
    host,
  );
  try {
    await serve();
  } finally {
    release();
  }
}
