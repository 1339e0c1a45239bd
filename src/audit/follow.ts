/**
 * Edge: reading audit text from files, stdin, or a followed log across rotation.
 *
 * Following (`tail -F` semantics, from the start of the current file): the path is read to its
 * end, then polled. When the path names a new file (auditd's rotation renames audit.log to
 * audit.log.1 and creates a new audit.log; logrotate does the same), what was still appended
 * to the old file is read to its end first, then the new file from its start: nothing is lost
 * or read twice. A file truncated in place (copytruncate) is read again from its start, and
 * counted. Files are opened with openEvidence (regular files only, O_NONBLOCK).
 */
import { closeSync, fstatSync, readSync, statSync } from 'node:fs';
import { openEvidence } from '../common/evidence.js';
import { CliError, EXIT } from '../common/exit.js';

const CHUNK = 256 * 1024;

export function openOrThrow(path: string): number {
  const o = openEvidence(path);
  if (!o.ok) throw new CliError(`cannot read ${path}: ${o.reason}`, EXIT.NOINPUT);
  return o.fd;
}

/** Every chunk of an fd from its current offset to its end (latin1). */
export function* drain(fd: number): Generator<string> {
  const buf = Buffer.allocUnsafe(CHUNK);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, CHUNK, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return;
      throw e;
    }
    if (n <= 0) return;
    yield buf.toString('latin1', 0, n);
  }
}

export interface FollowEvents {
  /** A rotation: the old file ended, the new one starts. */
  rotations: number;
  /** Truncations in place: the file was read again from its start. */
  truncations: number;
}

export interface Follower {
  readonly events: FollowEvents;
  /** Next output of the followed file: chunks, 'rotated' at a file boundary; waits while idle. */
  next(): Promise<{ chunk: string } | { boundary: 'rotated' } | { stopped: true }>;
  stop(): void;
}

/** Follows `path` across rotation, polling every `pollMs`. */
export function follow(path: string, pollMs = 200): Follower {
  let fd = openOrThrow(path);
  let ino = fstatSync(fd).ino;
  let offset = 0;
  let stopped = false;
  let wake: (() => void) | null = null;
  const events: FollowEvents = { rotations: 0, truncations: 0 };
  const queue: Array<{ chunk: string } | { boundary: 'rotated' }> = [];

  const readAll = () => {
    for (const c of drain(fd)) {
      offset += Buffer.byteLength(c, 'latin1');
      queue.push({ chunk: c });
    }
  };
  const poll = () => {
    readAll();
    if (fstatSync(fd).size < offset) {
      // Truncated in place: what is there now is new.
      events.truncations++;
      offset = 0;
      closeSync(fd);
      fd = openOrThrow(path);
      ino = fstatSync(fd).ino;
      queue.push({ boundary: 'rotated' });
      readAll();
      return;
    }
    let now: number | null = null;
    try {
      now = statSync(path).ino;
    } catch {
      return; // renamed away, the new file not there yet: keep reading the old one
    }
    if (now !== ino) {
      readAll(); // the rest of the old file, written before its writer moved on
      closeSync(fd);
      fd = openOrThrow(path);
      ino = fstatSync(fd).ino;
      offset = 0;
      events.rotations++;
      queue.push({ boundary: 'rotated' });
      readAll();
    }
  };

  return {
    events,
    async next() {
      for (;;) {
        if (queue.length) return queue.shift()!;
        if (stopped) return { stopped: true };
        poll();
        if (queue.length) continue;
        await new Promise<void>((r) => {
          const t = setTimeout(r, pollMs);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
        wake = null;
      }
    },
    stop() {
      stopped = true;
      wake?.();
      // A final read happens in next() before it reports stopped: nothing written so far is lost.
      try {
        poll();
      } catch {
        /* the file went away at the very end */
      }
    },
  };
}
