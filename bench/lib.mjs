// Helpers shared by the benchmarks (plain ESM, no build step).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Run argv `n` times; wall-clock median/min/max in ms, and the last run's result. */
export function timeCommand(label, argv, n) {
  return timeInterleaved([{ label, argv }], n)[0];
}

/**
 * Run each command n times, taking turns (A B C A B C ...), so that a machine whose speed drifts
 * during the run weighs on every row alike; `env` adds variables to one command's environment.
 */
export function timeInterleaved(commands, n) {
  const runs = commands.map(() => ({ times: [], last: null }));
  for (let i = 0; i < n; i++) {
    commands.forEach((c, j) => {
      const s = process.hrtime.bigint();
      runs[j].last = spawnSync(c.argv[0], c.argv.slice(1), { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: c.env ? { ...process.env, ...c.env } : process.env });
      runs[j].times.push(Number(process.hrtime.bigint() - s) / 1e6);
    });
  }
  return commands.map((c, j) => {
    const times = runs[j].times.sort((a, b) => a - b);
    return { label: c.label, median: times[Math.floor(times.length / 2)], min: times[0], max: times[times.length - 1], last: runs[j].last };
  });
}

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ; 100 on Linux unless getconf says otherwise). */
const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** CPU seconds a process has used, all threads (utime + stime of /proc/<pid>/stat); null once it is gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the comm, which may hold spaces and parentheses: the last ')' ends it.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS;
  } catch {
    return null;
  }
}

/** CPU seconds of several processes together (one gone counts 0). */
export const cpuSecondsOf = (pids) => pids.reduce((a, p) => a + (cpuSeconds(p) ?? 0), 0);
