/** Small /proc files and the `uptime` command: uptime, loadavg, /proc/stat btime. */

/** /proc/uptime first field, in seconds. */
export function parseProcUptime(text: string): number | null {
  const n = Number(text.trim().split(/\s+/)[0]);
  return Number.isFinite(n) && n >= 0 ? n : null;
}

/** `uptime` command output (" 10:00:00 up 210 days,  3:04,  2 users, ..."), in seconds. */
export function parseUptimeCommand(text: string): number | null {
  const m = /\bup\s+(.*?),\s+\d+\s+users?|\bup\s+(.*?),\s+load average/.exec(text);
  const span = (m?.[1] ?? m?.[2])?.trim();
  if (!span) return null;
  let s = 0;
  let matched = false;
  const days = /(\d+)\s+days?/.exec(span);
  if (days) {
    s += Number(days[1]) * 86400;
    matched = true;
  }
  const hm = /(\d+):(\d+)/.exec(span);
  if (hm) {
    s += Number(hm[1]) * 3600 + Number(hm[2]) * 60;
    matched = true;
  }
  const min = /(\d+)\s+min/.exec(span);
  if (min) {
    s += Number(min[1]) * 60;
    matched = true;
  }
  return matched ? s : null;
}

/** Total number of threads from /proc/loadavg ("0.1 0.2 0.3 5/200 1234": 200). */
export function parseLoadavgThreads(text: string): number | null {
  const m = /\s\d+\/(\d+)\s/.exec(text);
  return m ? Number(m[1]) : null;
}

/** /proc/stat btime (boot time, seconds since the epoch). */
export function parseBtime(text: string): number | null {
  const m = /^btime\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : null;
}
