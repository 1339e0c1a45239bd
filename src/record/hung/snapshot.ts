/**
 * The snapshot taken once per hung-task incident: every task in D state (stack where readable,
 * wchan, status, cmdline, its process-history domain) and the memory / slab / dentry / load
 * files. Everything is read through the Host; a file that cannot be read is noted, never fatal.
 */
import type { Host } from '../../host/host.js';
import { statState } from './core.js';

export interface DTask {
  pid: number;
  tid: number;
  comm: string;
  stack: string | null;
  wchan: string | null;
  status: string | null;
  cmdline: string | null;
  domain: string | null;
}

export interface HungSnapshot {
  atUs: number;
  dTasks: DTask[];
  /** D tasks beyond maxTasks, counted and left out. */
  dTasksOmitted: number;
  files: Record<string, string | null>;
  /** Files or tasks that could not be read, with why. */
  unreadable: string[];
}

export const SNAPSHOT_FILES = ['/proc/meminfo', '/proc/slabinfo', '/proc/sys/fs/dentry-state', '/proc/loadavg'];

/** Cap per /proc/<pid>/… text: a stack or status is a few KiB; a cmdline can be long. */
const PER_FILE_CAP = 16 * 1024;

function capped(text: string): string {
  return text.length > PER_FILE_CAP ? text.slice(0, PER_FILE_CAP) + `\n[cut at ${PER_FILE_CAP} of ${text.length} characters]` : text;
}

export function takeSnapshot(host: Host, domainOf: (pid: number) => string | null, maxTasks = 200): HungSnapshot {
  const snap: HungSnapshot = { atUs: Date.now() * 1000, dTasks: [], dTasksOmitted: 0, files: {}, unreadable: [] };
  const procs = host.list('/proc');
  if (!procs.ok) snap.unreadable.push(procs.reason);
  for (const entry of procs.ok ? procs.entries : []) {
    if (!/^\d+$/.test(entry)) continue;
    const tasks = host.list(`/proc/${entry}/task`);
    if (!tasks.ok) continue; // gone meanwhile
    for (const t of tasks.entries) {
      if (!/^\d+$/.test(t)) continue;
      const base = `/proc/${entry}/task/${t}`;
      const stat = host.readText(`${base}/stat`);
      if (!stat.ok || statState(stat.text) !== 'D') continue;
      if (snap.dTasks.length >= maxTasks) {
        snap.dTasksOmitted++;
        continue;
      }
      const read = (name: string): string | null => {
        const r = host.readText(`${base}/${name}`);
        if (!r.ok) {
          snap.unreadable.push(r.reason);
          return null;
        }
        return capped(r.text);
      };
      const comm = /\((.*)\)/s.exec(stat.text)?.[1] ?? '?';
      const cmd = read('cmdline');
      snap.dTasks.push({
        pid: Number(entry),
        tid: Number(t),
        comm,
        stack: read('stack'),
        wchan: read('wchan'),
        status: read('status'),
        cmdline: cmd === null ? null : cmd.replace(/\0+$/, '').replace(/\0/g, ' '),
        domain: domainOf(Number(entry)),
      });
    }
  }
  for (const f of SNAPSHOT_FILES) {
    const r = host.readText(f);
    snap.files[f] = r.ok ? r.text : null;
    if (!r.ok) snap.unreadable.push(r.reason);
  }
  return snap;
}
