/** This process's pid as /proc (and so every other process) sees it. */
import { readlinkSync } from 'node:fs';

/**
 * In a pid namespace `process.pid` is the namespace's number: a name or an owner file written with
 * it looks, to a process outside, like that of a dead process (or of a live stranger).
 */
export function procPid(): number {
  try {
    const n = Number(readlinkSync('/proc/self'));
    return Number.isInteger(n) && n > 0 ? n : process.pid;
  } catch {
    return process.pid;
  }
}
