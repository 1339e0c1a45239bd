/**
 * Input edges: expands paths (files, directories recursively, `-` for stdin), recognises
 * compression by magic bytes and opens a byte stream. gzip is read with node:zlib; xz and
 * zstd with the system decompressor run with a fixed argv (`xz -dc -- FILE`), never a shell.
 * Unreadable inputs are reported and skipped, never fatal on their own.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';

export type Compression = 'none' | 'gzip' | 'xz' | 'zstd' | 'bzip2';

export interface InputFile {
  /** The name shown in reports (the path as given, or a path under a directory given). */
  name: string;
  /** Filesystem path, or null for stdin. */
  path: string | null;
  mtime?: Date;
}

export interface SkippedInput {
  name: string;
  reason: string;
}

const MAX_DEPTH = 32;

/** Expands the user's paths into files; directories are walked (sorted, symlinked dirs not followed). */
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
      if (ent.isDirectory()) await walk(p, depth + 1);
      else if (ent.isFile()) {
        try {
          const st = await fsp.stat(p);
          files.push({ name: p, path: p, mtime: st.mtime });
        } catch (e) {
          skipped.push({ name: p, reason: errText(e) });
        }
      } else if (ent.isSymbolicLink()) {
        try {
          const st = await fsp.stat(p);
          if (st.isFile()) files.push({ name: p, path: p, mtime: st.mtime });
        } catch {
          skipped.push({ name: p, reason: 'dangling symbolic link' });
        }
      }
    }
  };
  for (const p of paths) {
    if (p === '-') {
      files.push({ name: '-', path: null });
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
    else files.push({ name: p, path: p, mtime: st.mtime });
  }
  return { files, skipped };
}

export function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOENT') return 'no such file or directory';
  if (err?.code === 'EACCES') return 'permission denied';
  if (err?.code === 'EISDIR') return 'is a directory';
  return err?.message ?? String(e);
}

export function compressionOf(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  return 'none';
}

/** True when the first bytes look like a binary file (NUL bytes): a journal file, wtmp, an image. */
export function looksBinary(head: Buffer): boolean {
  return head.subarray(0, 4096).includes(0);
}

export interface OpenedInput {
  stream: Readable;
  compression: Compression;
  /** Resolves with an error text when a decompressor failed (exit status, missing program). */
  done: Promise<string | null>;
}

const DECOMPRESSORS: Record<'xz' | 'zstd' | 'bzip2', { cmd: string; pkg: string }> = {
  xz: { cmd: 'xz', pkg: 'xz-utils' },
  zstd: { cmd: 'zstd', pkg: 'zstd' },
  bzip2: { cmd: 'bzip2', pkg: 'bzip2' },
};

async function readHead(path: string): Promise<Buffer> {
  const fh = await fsp.open(path, 'r');
  try {
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(buf, 0, 4096, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Opens a file (decompressing as needed); throws an Error with a one-line reason when it cannot. */
export async function openInput(file: InputFile): Promise<OpenedInput> {
  if (file.path === null) return { stream: process.stdin, compression: 'none', done: Promise.resolve(null) };
  const path = file.path;
  const head = await readHead(path);
  const compression = compressionOf(head);
  const readOpts = { highWaterMark: 1 << 20 };
  if (compression === 'none') {
    if (looksBinary(head)) throw new Error('binary file (not a text log; for a journal file use journalctl --file FILE -o json)');
    return { stream: createReadStream(path, readOpts), compression, done: Promise.resolve(null) };
  }
  if (compression === 'gzip') {
    const gunzip = createGunzip({ chunkSize: 1 << 20 });
    const src = createReadStream(path, readOpts);
    let failure: string | null = null;
    const done = new Promise<string | null>((resolve) => {
      gunzip.on('error', (e) => {
        failure = `gzip: ${e.message}`;
        resolve(failure);
      });
      gunzip.on('end', () => resolve(failure));
      src.on('error', (e) => {
        failure = errText(e);
        gunzip.destroy();
        resolve(failure);
      });
    });
    src.pipe(gunzip);
    return { stream: gunzip, compression, done };
  }
  const d = DECOMPRESSORS[compression];
  // Fixed argv, the path is one argument after `--`: never a shell, never interpolated.
  const child = spawn(d.cmd, ['-dc', '--', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    if (stderr.length < 2000) stderr += s;
  });
  const done = new Promise<string | null>((resolve) => {
    child.on('error', (e: NodeJS.ErrnoException) => {
      resolve(e.code === 'ENOENT' ? `${compression}-compressed, but ${d.cmd} is not installed (apt-get install ${d.pkg})` : `${d.cmd}: ${e.message}`);
    });
    child.on('close', (code) => {
      resolve(code === 0 ? null : `${d.cmd} -dc failed (exit ${code}): ${stderr.trim().split('\n').pop() ?? ''}`);
    });
  });
  return { stream: child.stdout, compression, done };
}
