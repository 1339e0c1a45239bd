/**
 * Sosreports arrive as tarballs (`sosreport-<host>-<date>.tar.xz`, .tar.gz, .tar.bz2, .tar.zst).
 * `unpackSosreport` extracts one into a private temporary directory with the system's tar (a fixed
 * argv: the archive path is one argument, never shell text) and returns the report's root, removed
 * again when the process exits. GNU tar strips leading '/' and refuses '..' members by default.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostError, looksLikeSosreport } from './roots.js';

export const SOS_ARCHIVE_RE = /\.(tar|tar\.(xz|gz|bz2|zst)|tgz|txz)$/;

const unpacked: string[] = [];
let cleanupRegistered = false;

function removeUnpacked(): void {
  for (const dir of unpacked.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Extract a sosreport tarball; returns the directory that holds sos_commands/ etc. */
export function unpackSosreport(archive: string, tmpParent: string = tmpdir()): string {
  if (!SOS_ARCHIVE_RE.test(archive)) throw new HostError(`${archive}: not a sosreport directory or tarball (.tar, .tar.xz, .tar.gz, .tar.bz2, .tar.zst)`);
  const dir = mkdtempSync(join(tmpParent, 'lantern-sos-'));
  unpacked.push(dir);
  if (!cleanupRegistered) {
    cleanupRegistered = true;
    process.once('exit', removeUnpacked);
  }
  try {
    // -a is not needed on extraction: GNU tar detects the compression itself (xz, gzip, bzip2, zstd).
    execFileSync('tar', ['-x', '-f', archive, '-C', dir, '--no-same-owner', '--no-same-permissions'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 10 * 60_000,
      maxBuffer: 1 << 20,
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === 'ENOENT') throw new HostError('tar is not installed (apt-get install tar / dnf install tar)');
    const why = err.stderr?.toString().trim().split('\n').slice(-2).join('; ') || err.message;
    // sos collects /proc and /sys copies whose odd entries can make tar complain; keep what was extracted.
    if (!findSosRoot(dir)) throw new HostError(`${archive}: cannot extract (${why})`);
  }
  const root = findSosRoot(dir);
  if (!root) throw new HostError(`${archive}: extracted, but it holds no sosreport (no sos_commands/, sos_reports/ or sos_logs/)`);
  return root;
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
