// Helpers shared by the benchmarks (plain ESM, no build step).
import { spawnSync } from 'node:child_process';

/** Run argv `n` times; wall-clock median/min/max in ms, and the last run's result. */
export function timeCommand(label, argv, n) {
  const times = [];
  let last = null;
  for (let i = 0; i < n; i++) {
    const s = process.hrtime.bigint();
    last = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    times.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { label, median: times[Math.floor(times.length / 2)], min: times[0], max: times[times.length - 1], last };
}
