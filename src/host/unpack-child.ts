/**
 * Child process of unpackSosreport: extracts one sosreport tarball into an empty directory with
 * node-tar, under limits, and prints one JSON line with what it did. A child, so that the Host
 * stays synchronous for its callers while a Ctrl-C or a limit can stop the extraction at once.
 *
 * argv: ARCHIVE DEST MAX_BYTES MAX_FILES RATIO COMPRESSION
 *  - only regular files, directories, symbolic and hard links are written; FIFOs, devices and
 *    anything else are counted and left out (GNU tar run as root would recreate them);
 *  - no owner, group or permission bits from the archive: files 0600, directories 0700;
 *  - members with absolute paths or '..' are refused by node-tar itself (preservePaths off);
 *  - the sum of member sizes and the member count are capped; past MIN_RATIO_BYTES, unpacked
 *    bytes above RATIO times the archive's size mean a decompression bomb (RATIO 0: no check).
 */
import { spawn } from 'node:child_process';
import { createReadStream, statSync } from 'node:fs';
import { Unpack } from 'tar';
import type { Readable } from 'node:stream';

/** Below this many unpacked bytes the ratio is not judged: small archives compress well. */
export const MIN_RATIO_BYTES = 256 * 1024 * 1024;

const WRITTEN_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'GNUDumpDir', 'SymbolicLink', 'Link']);

interface Outcome {
  ok: boolean;
  error?: string;
  /** 'limit' when a limit stopped the extraction. */
  kind?: 'limit' | 'format' | 'io';
  files: number;
  bytes: number;
  skipped: Record<string, number>;
  warnings: string[];
}

function main(): void {
  const [archive, dest, maxBytesS, maxFilesS, ratioS, compression] = process.argv.slice(2) as [string, string, string, string, string, string];
  const maxBytes = Number(maxBytesS);
  const maxFiles = Number(maxFilesS);
  const ratio = Number(ratioS);
  const archiveBytes = statSync(archive).size;
  const out: Outcome = { ok: true, files: 0, bytes: 0, skipped: {}, warnings: [] };
  let finished = false;
  const finish = (o: Partial<Outcome>) => {
    if (finished) return;
    finished = true;
    Object.assign(out, o);
    process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(out.ok ? 0 : 1));
  };

  let source: Readable;
  let decompressorError = '';
  let child: ReturnType<typeof spawn> | null = null;
  if (compression === 'xz' || compression === 'bzip2' || compression === 'zstd') {
    // Fixed argv; the archive path is one argument after '--'.
    child = spawn(compression, ['-dc', '--', archive], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      if (decompressorError.length < 2000) decompressorError += s;
    });
    child.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, kind: 'io', error: e.code === 'ENOENT' ? `${compression} is not installed` : e.message }));
    source = child.stdout!;
  } else {
    source = createReadStream(archive);
  }

  const stop = (error: string, kind: Outcome['kind']) => {
    child?.kill('SIGKILL');
    source.destroy();
    finish({ ok: false, error, kind });
  };

  const unpack = new Unpack({
    cwd: dest,
    strict: false,
    preserveOwner: false,
    noMtime: false,
    processUmask: 0o077,
    maxDepth: 256,
    filter: (_path, entry) => {
      const e = entry as unknown as { type: string; size: number; mode?: number };
      if (!WRITTEN_TYPES.has(e.type)) {
        out.skipped[e.type] = (out.skipped[e.type] ?? 0) + 1;
        return false;
      }
      // Permissions are ours, not the archive's: no setuid, no world-writable evidence.
      e.mode = e.type === 'Directory' || e.type === 'GNUDumpDir' ? 0o700 : 0o600;
      out.files++;
      out.bytes += e.size || 0;
      if (out.files > maxFiles) stop(`more than ${maxFiles.toLocaleString('en-US')} members`, 'limit');
      else if (out.bytes > maxBytes) stop(`more than ${maxBytes.toLocaleString('en-US')} bytes unpacked`, 'limit');
      else if (ratio > 0 && out.bytes > MIN_RATIO_BYTES && out.bytes > ratio * archiveBytes) {
        stop(`unpacks to more than ${ratio} times its ${archiveBytes.toLocaleString('en-US')} bytes (a decompression bomb?)`, 'limit');
      }
      return !finished;
    },
    onwarn: (code: string, message: string) => {
      // Unsupported types are counted by the filter already; keep other warnings (a few).
      if (code !== 'TAR_ENTRY_UNSUPPORTED' && out.warnings.length < 5) out.warnings.push(`${code}: ${message}`);
    },
  });
  unpack.on('error', (e: Error) => stop(e.message, 'format'));
  unpack.on('close', () => {
    if (finished) return;
    if (child && child.exitCode === null) {
      child.once('close', (code) => finish(code === 0 ? {} : { ok: false, kind: 'format', error: `${compression} -dc: ${decompressorError.trim().split('\n').pop() || `exit ${code}`}` }));
      return;
    }
    if (child && child.exitCode !== 0) finish({ ok: false, kind: 'format', error: `${compression} -dc: ${decompressorError.trim().split('\n').pop() || `exit ${child.exitCode}`}` });
    else finish({});
  });
  source.on('error', (e) => stop(e.message, 'io'));
  source.pipe(unpack);
}

main();
