/**
 * Input edges: expands paths (files, directories recursively, `-` for stdin), recognises
 * compression by magic bytes and opens a byte stream. gzip is read with node:zlib; xz, zstd and
 * bzip2 with the system decompressor, run with a fixed argv (`xz -dc`) and the input as its
 * standard input: never a shell, never a path on its command line.
 *
 * What is read: regular files (opened through common/evidence.ts), FIFOs and pipes named as
 * inputs (`<(cat log)`, /dev/stdin), and stdin. Pipes are read as streams, front to back: no
 * positioned read, the compression is sniffed from the first bytes that arrive. Devices and
 * sockets named as inputs are refused before they are opened (opening /dev/watchdog arms it); in
 * a directory only regular files (and links to them) are read, the rest is listed as skipped.
 * Unreadable inputs are reported and skipped, never fatal on their own.
 */
import { close, closeSync, constants as fsc, createReadStream, fstatSync, openSync, promises as fsp, read, readlinkSync, readSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { Socket } from 'node:net';
import { isatty } from 'node:tty';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { entryKind, openEvidence } from '../common/evidence.js';

import { compressionOf, type Compression } from '../common/compression.js';
import { OWNER_FILE } from '../common/dir-claim.js';

export { compressionOf, type Compression };

export interface InputFile {
  /** The name shown in reports (the path as given, or a path under a directory given). */
  name: string;
  /** Filesystem path, or null for stdin. */
  path: string | null;
  /** A regular file (positioned reads), a FIFO or pipe named as input, or stdin (streams). */
  kind: 'file' | 'fifo' | 'stdin';
  mtime?: Date;
  /** Size on disk, for regular files (compressed ones: of the compressed bytes). */
  size?: number;
}

export interface SkippedInput {
  name: string;
  reason: string;
}

const MAX_DEPTH = 32;
/** How long a FIFO that nobody has opened for writing is given to get a writer. */
export const FIFO_WRITER_GRACE_MS = 2000;

/** Expands the user's paths into inputs; directories are walked (sorted, symlinked dirs not followed). */
export async function expandInputs(paths: string[]): Promise<{ files: InputFile[]; skipped: SkippedInput[] }> {
  const files: InputFile[] = [];
  const skipped: SkippedInput[] = [];
  const walk = async (dir: string, depth: number) => {
    if (depth > MAX_DEPTH) {
      skipped.push({ name: dir, reason: 'directory nesting too deep' });
      return;
    }
    let entries;
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (e) {
      skipped.push({ name: dir, reason: errText(e) });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const ent of entries) {
      const p = join(dir, ent.name);
      // A receiver's claim on its directory (common/dir-claim) is not a log.
      if (ent.name === OWNER_FILE) continue;
      if (ent.isDirectory()) await walk(p, depth + 1);
      else if (ent.isFile() || ent.isSymbolicLink()) {
        let st;
        try {
          st = await fsp.stat(p);
        } catch (e) {
          skipped.push({ name: p, reason: ent.isSymbolicLink() ? 'dangling symbolic link' : errText(e) });
          continue;
        }
        if (st.isFile()) files.push({ name: p, path: p, kind: 'file', mtime: st.mtime, size: st.size });
        else if (st.isDirectory()) skipped.push({ name: p, reason: 'symbolic link to a directory (not followed)' });
        else skipped.push({ name: p, reason: `symbolic link to a ${entryKind(st)} (not read: in a directory only regular files are read)` });
      } else {
        // FIFO, socket, device: never opened in a walk (a FIFO would block, a device may act).
        let kind = 'special file';
        try {
          kind = entryKind(await fsp.lstat(p));
        } catch {
          /* gone meanwhile: still a special file by its directory entry */
        }
        skipped.push({ name: p, reason: `is a ${kind} (not read: in a directory only regular files are read)` });
      }
    }
  };
  for (const p of paths) {
    if (p === '-') {
      files.push({ name: '-', path: null, kind: 'stdin' });
      continue;
    }
    let st;
    try {
      st = await fsp.stat(p);
    } catch (e) {
      skipped.push({ name: p, reason: errText(e) });
      continue;
    }
    if (st.isDirectory()) await walk(p, 0);
    else if (st.isFile()) files.push({ name: p, path: p, kind: 'file', mtime: st.mtime, size: st.size });
    // /dev/stdin, /dev/fd/0: the descriptor this process already holds, read as stdin.
    else if (isOurStdin(st)) files.push({ name: p, path: null, kind: 'stdin' });
    else if (st.isFIFO()) files.push({ name: p, path: p, kind: 'fifo' });
    else skipped.push({ name: p, reason: `is a ${entryKind(st)} (not opened: only regular files, FIFOs and pipes are read)` });
  }
  return { files, skipped };
}

function isOurStdin(st: Stats): boolean {
  try {
    const s0 = fstatSync(0);
    return s0.dev === st.dev && s0.ino === st.ino;
  } catch {
    return false;
  }
}

export function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOENT') return 'no such file or directory';
  if (err?.code === 'EACCES') return 'permission denied';
  if (err?.code === 'EISDIR') return 'is a directory';
  return err?.message ?? String(e);
}

/** How a decompressor (or the read under it) ended; null when it read to the end. */
export interface InputFailure {
  message: string;
  /** Content was delivered up to the failure (a cut or corrupt archive, a read error part way). */
  truncated: boolean;
}

export interface OpenedInput {
  stream: AsyncIterable<Buffer>;
  compression: Compression;
  /** Resolves when the input is done with: null, or why it did not reach its end. */
  done: Promise<InputFailure | null>;
  /** Stops reading (the content was refused): ends the streams, the decompressor and the descriptor. */
  close(): void;
}

const DECOMPRESSORS: Record<'xz' | 'zstd' | 'bzip2', { cmd: string; pkg: string }> = {
  xz: { cmd: 'xz', pkg: 'xz-utils' },
  zstd: { cmd: 'zstd', pkg: 'zstd' },
  bzip2: { cmd: 'bzip2', pkg: 'bzip2' },
};

const READ_CHUNK = 1 << 20;
/** Enough for every magic number compressionOf knows. */
const SNIFF_BYTES = 8;

/** Opens an input (decompressing as needed); throws an Error with a one-line reason when it cannot. */
export async function openInput(file: InputFile): Promise<OpenedInput> {
  if (file.kind === 'file') return openRegular(file.path!);
  if (file.kind === 'fifo') {
    const { fd, head } = await openFifo(file.path!);
    // libuv reads a pipe descriptor through epoll: no positioned read, EAGAIN handled.
    const sock = new Socket({ fd, readable: true, writable: false });
    return fromStream(sock, head);
  }
  checkStdin();
  return fromStream(process.stdin, Buffer.alloc(0));
}

/** A regular file: sniffed with a positioned read, then streamed from its descriptor. */
function openRegular(path: string): OpenedInput {
  const ev = openEvidence(path);
  if (!ev.ok) throw new Error(ev.reason);
  const fd = ev.fd;
  let compression: Compression;
  try {
    const head = Buffer.alloc(SNIFF_BYTES);
    compression = compressionOf(head.subarray(0, readSync(fd, head, 0, SNIFF_BYTES, 0)));
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  if (compression === 'xz' || compression === 'zstd' || compression === 'bzip2') {
    // The decompressor reads the descriptor we opened and checked, not the path again.
    const opened = decompress(compression, fd);
    closeSync(fd);
    return opened;
  }
  if (compression === 'none') {
    const r = reusedReads(fd);
    return plain(r.chunks, compression, r.stop);
  }
  const src = createReadStream('', { fd, start: 0, highWaterMark: READ_CHUNK, autoClose: true });
  if (compression === 'gzip') return gunzip(src);
  return plain(src, compression, () => src.destroy());
}

/**
 * A plain regular file, read front to back into two buffers used in turn: the next chunk is read
 * into one while the consumer (scan.ts) works on the other, so the main thread does not wait for
 * the copy from the page cache (~90 ms per 256 MiB here, a fifth of the run with the native
 * trigger search); a large file makes no garbage per MiB. The consumer copies what it keeps of a
 * chunk before it asks for the next (the one after it reuses the buffer). The descriptor is closed
 * at the end, on an error, or when stopped, once no read is in flight.
 */
function reusedReads(fd: number): { chunks: AsyncGenerator<Buffer>; stop: () => void } {
  let started = false;
  let stopped = false;
  let closed = false;
  const closeFd = () => {
    if (closed) return;
    closed = true;
    close(fd, () => {
      /* nothing more to do with it */
    });
  };
  const readAt = (buf: Buffer, pos: number) => {
    const p = new Promise<number>((resolve, reject) => read(fd, buf, 0, READ_CHUNK, pos, (e, got) => (e ? reject(e) : resolve(got))));
    // Its failure is seen when awaited, after the consumer is done with the chunk before it.
    p.catch(() => {});
    return p;
  };
  async function* chunks(): AsyncGenerator<Buffer> {
    started = true;
    const bufs = [Buffer.allocUnsafeSlow(READ_CHUNK), Buffer.allocUnsafeSlow(READ_CHUNK)];
    let pos = 0;
    let k = 0;
    let next = readAt(bufs[0]!, 0);
    try {
      while (!stopped) {
        const n = await next;
        if (n === 0 || stopped) return;
        pos += n;
        const chunk = bufs[k]!.subarray(0, n);
        k ^= 1;
        next = readAt(bufs[k]!, pos);
        yield chunk;
      }
    } finally {
      await next.catch(() => 0);
      closeFd();
    }
  }
  return {
    chunks: chunks(),
    stop: () => {
      stopped = true;
      // A read in flight closes it when it returns; a generator never started has nothing in flight.
      if (!started) closeFd();
    },
  };
}

/** A stream (pipe, FIFO, stdin): its first bytes decide the compression, then are read again. */
async function fromStream(src: Readable, first: Buffer): Promise<OpenedInput> {
  const it = src[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const held: Buffer[] = first.length ? [first] : [];
  let heldBytes = first.length;
  let ended = false;
  try {
    while (heldBytes < SNIFF_BYTES) {
      const r = await it.next();
      if (r.done) {
        ended = true;
        break;
      }
      const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      held.push(b);
      heldBytes += b.length;
    }
  } catch (e) {
    src.destroy();
    throw e;
  }
  const head = Buffer.concat(held);
  const compression = compressionOf(head);
  async function* replay(): AsyncGenerator<Buffer> {
    if (head.length) yield head;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    }
  }
  if (compression === 'none') return plain(replay(), compression, () => src.destroy());
  const bytes = Readable.from(replay(), { objectMode: false });
  if (compression === 'gzip') return gunzip(bytes, () => src.destroy());
  const opened = decompress(compression, bytes);
  const close = opened.close.bind(opened);
  return {
    ...opened,
    close: () => {
      close();
      src.destroy();
    },
  };
}

function plain(src: AsyncIterable<Buffer | string>, compression: Compression, destroy: () => void): OpenedInput {
  let settle!: (f: InputFailure | null) => void;
  const done = new Promise<InputFailure | null>((r) => (settle = r));
  let failure: InputFailure | null = null;
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for await (const c of src) yield typeof c === 'string' ? Buffer.from(c) : c;
    } catch (e) {
      failure = { message: `read failed part way: ${errText(e)}`, truncated: true };
    } finally {
      settle(failure);
    }
  }
  return {
    stream: chunks(),
    compression,
    done,
    close: () => {
      destroy();
      settle(failure);
    },
  };
}

function gunzip(src: Readable, alsoClose?: () => void): OpenedInput {
  const z = createGunzip({ chunkSize: READ_CHUNK });
  let failure: InputFailure | null = null;
  let settle!: (f: InputFailure | null) => void;
  const done = new Promise<InputFailure | null>((r) => (settle = r));
  src.on('error', (e) => {
    failure ??= { message: `read failed part way: ${errText(e)}`, truncated: true };
    z.destroy();
  });
  src.pipe(z);
  // A cut or corrupt archive: zlib has delivered what it could decompress before the error; the
  // scan keeps it and the input is marked truncated.
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for await (const c of z) yield c as Buffer;
    } catch (e) {
      failure ??= { message: `gzip: ${(e as Error).message}`, truncated: true };
    } finally {
      settle(failure);
    }
  }
  return {
    stream: chunks(),
    compression: 'gzip',
    done,
    close: () => {
      src.destroy();
      z.destroy();
      alsoClose?.();
      settle(failure);
    },
  };
}

/** Runs the system decompressor on a descriptor or a stream given as its standard input. */
function decompress(compression: 'xz' | 'zstd' | 'bzip2', input: number | Readable): OpenedInput {
  const d = DECOMPRESSORS[compression];
  // Fixed argv; the data arrives on stdin: nothing from the input reaches the command line.
  const child = spawn(d.cmd, ['-dc'], { stdio: [typeof input === 'number' ? input : 'pipe', 'pipe', 'pipe'] });
  if (typeof input !== 'number') {
    child.stdin!.on('error', () => {
      /* the decompressor stopped reading: its exit status says why */
    });
    input.on('error', () => child.stdin!.destroy());
    input.pipe(child.stdin!);
  }
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    if (stderr.length < 4000) stderr += s;
  });
  let closedByUs = false;
  const done = new Promise<InputFailure | null>((resolve) => {
    child.on('error', (e: NodeJS.ErrnoException) => {
      resolve(
        e.code === 'ENOENT'
          ? { message: `${compression}-compressed, but ${d.cmd} is not installed (apt-get install ${d.pkg})`, truncated: false }
          : { message: `${d.cmd}: ${e.message}`, truncated: false },
      );
    });
    child.on('close', (code, signal) => {
      if (code === 0 || closedByUs) resolve(null);
      else resolve({ message: `${d.cmd} -dc failed (${code === null ? `signal ${signal}` : `exit ${code}`}): ${decompressorMessage(d.cmd, stderr)}`, truncated: true });
    });
  });
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for await (const c of child.stdout!) yield c as Buffer;
    } catch {
      /* the exit status says what happened */
    }
  }
  return {
    stream: chunks(),
    compression,
    done,
    close: () => {
      closedByUs = true;
      child.stdout!.destroy();
      child.kill();
    },
  };
}

/**
 * The decompressor's own words: its first non-empty stderr line, without the program and
 * stream names. (bzip2's last line is advice about bzip2recover, its "*Possible* reason" line
 * an unrelated errno: the first line is the diagnosis.)
 */
export function decompressorMessage(cmd: string, stderr: string): string {
  const line =
    stderr
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? 'no message';
  return line
    .replace(new RegExp(`^${cmd}: `), '')
    .replace(/^\(stdin\): /, '')
    .replace(/^\/\*stdin\*\\ : /, '')
    .replace(/;$/, '')
    .replace(/[\x00-\x1f\x7f]/g, '?')
    .slice(0, 300);
}

/** O_PATH (Linux, the same value on every architecture Node runs on): a handle that opens nothing. */
const O_PATH = 0o10000000;

/**
 * Opens a FIFO or pipe without blocking; gives a FIFO nobody writes to a short grace, then
 * refuses it. The name is resolved once, to an O_PATH handle (which opens nothing, so no device
 * acts); only when that handle is a FIFO is the same inode opened for reading, through it.
 */
async function openFifo(path: string): Promise<{ fd: number; head: Buffer }> {
  let fd: number;
  try {
    const handle = openSync(path, O_PATH);
    try {
      const st = fstatSync(handle);
      if (!st.isFIFO()) throw new Error(`is a ${entryKind(st)} (not opened: only regular files, FIFOs and pipes are read)`);
      fd = openSync(`/proc/self/fd/${handle}`, fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOCTTY);
    } finally {
      closeSync(handle);
    }
  } catch (e) {
    throw new Error(errText(e));
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFIFO()) throw new Error(`is a ${entryKind(st)} (not read)`);
    // A pipe (`<(cmd)`) whose writer is gone will never get another: EOF is the end. A named
    // FIFO may still be opened by its writer (it blocks in open until we opened ours).
    const anonymous = readlinkSync(`/proc/self/fd/${fd}`).startsWith('pipe:');
    const buf = Buffer.allocUnsafe(1 << 16);
    const deadline = Date.now() + FIFO_WRITER_GRACE_MS;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        // A writer is there, it has not written yet: the stream reader waits for it.
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return { fd, head: Buffer.alloc(0) };
        throw e;
      }
      if (n > 0) return { fd, head: Buffer.from(buf.subarray(0, n)) };
      // n === 0: no writer has the FIFO open.
      if (anonymous) return { fd, head: Buffer.alloc(0) };
      if (Date.now() >= deadline) throw new Error(`FIFO without a writer: nobody opened it for writing within ${FIFO_WRITER_GRACE_MS / 1000} s (nothing read)`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch (e) {
    closeSync(fd);
    throw e instanceof Error ? new Error(errText(e)) : e;
  }
}

/** stdin is read whatever it is (the shell opened it), except a device that would never end. */
function checkStdin(): void {
  let st: Stats;
  try {
    st = fstatSync(0);
  } catch (e) {
    throw new Error(`stdin: ${errText(e)}`);
  }
  if (isatty(0) || !(st.isCharacterDevice() || st.isBlockDevice())) return;
  // /dev/null (1:3) is an empty input; /dev/zero, /dev/urandom, a disk are not logs.
  if (st.isCharacterDevice() && st.rdev === 0x103) return;
  throw new Error(`stdin is a ${entryKind(st)} (not read: redirect a file or a pipe)`);
}
