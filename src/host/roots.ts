/**
 * What a root given on the command line is: a sosreport, a host root tree, or neither.
 * Shared by the Host and the sosreport-archive unpacker.
 */
import { statSync } from 'node:fs';
import { posix } from 'node:path';

export class HostError extends Error {}

/** Recognise a sosreport root by the markers `sos` always leaves. */
export function looksLikeSosreport(root: string): boolean {
  for (const marker of ['sos_commands', 'sos_reports', 'sos_logs']) {
    try {
      if (statSync(posix.join(root, marker)).isDirectory()) return true;
    } catch {
      /* not this marker */
    }
  }
  return false;
}

/** Recognise something that can serve as a host root: it has at least one of proc, etc, sys. */
export function looksLikeHostRoot(root: string): boolean {
  for (const d of ['proc', 'etc', 'sys']) {
    try {
      if (statSync(posix.join(root, d)).isDirectory()) return true;
    } catch {
      /* keep looking */
    }
  }
  return false;
}
