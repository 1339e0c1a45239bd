#!/usr/bin/env node
// Benchmark for `lantern check`: a full run on a live host with ~10,000 processes, against a shell
// loop that reads the same per-process files. Prints figures; asserts nothing (bench/README.md).
//   npm run bench -- check            (root not required; LANTERN_BENCH_PROCS=N to change the count)
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { timeCommand, timeInterleaved } from '../lib.mjs';

const BIN = fileURLToPath(new URL('../../bin/lantern.js', import.meta.url));
const WAIVERS = fileURLToPath(new URL('../../test/data/check/waivers/fleet.toml', import.meta.url));
const want = Number(process.env.LANTERN_BENCH_PROCS ?? 10000);
const runs = Number(process.env.LANTERN_BENCH_RUNS ?? 5);

const pidCount = () => readdirSync('/proc').filter((e) => /^\d+$/.test(e)).length;
const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
// ulimit -u, as this process sees it (dash has no `ulimit -u`).
const ulimitU = /^Max processes\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 'unlimited';
const before = pidCount();
// Other builds share the machine: the load is printed beside the figures (the end's includes the sleeps' start).
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`load average (1, 5, 15 min) before: ${loadavg()}`);
const room = Math.min(pidMax, ulimitU === 'unlimited' ? Infinity : Number(ulimitU)) - before - 2000;
const extra = Math.max(0, Math.min(want - before, room));
console.log(`processes now: ${before}; pid_max ${pidMax}; ulimit -u ${ulimitU}; starting ${extra} sleep processes`);

// One shell forks the sleeps (a fixed script, no data in it); its process group is killed at the end.
const group = spawn('sh', ['-c', `i=0; while [ $i -lt ${extra} ]; do sleep 900 & i=$((i+1)); done; wait`], { detached: true, stdio: 'ignore' });
let stopped = false;
const stop = () => {
  if (stopped) return;
  stopped = true;
  try {
    process.kill(-group.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
};
process.on('exit', stop);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

const t0 = Date.now();
while (pidCount() < before + extra - 50 && Date.now() - t0 < 180_000) await new Promise((r) => setTimeout(r, 500));
const procs = pidCount();
console.log(`processes during the benchmark: ${procs} (spawned in ${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);

const timeIt = (label, argv, n = runs) => timeCommand(label, argv, n);

const rows = [];
const checkCount = (await import('../../dist/check/checks/index.js')).CHECKS.length;
// The full run and the same without the native per-process reads (native/kernfile), taking turns.
const [full, noAddon] = timeInterleaved(
  [
    { label: `lantern check --json (all ${checkCount} checks)`, argv: [process.execPath, BIN, 'check', '--json'] },
    { label: '  same, without native/kernfile (LANTERN_NO_KERNFILE=1)', argv: [process.execPath, BIN, 'check', '--json'], env: { LANTERN_NO_KERNFILE: '1' } },
  ],
  runs,
);
rows.push(full, noAddon);
// Profiles and waivers are applied to the findings after the checks ran: this row should match the one above.
rows.push(
  timeIt('  same, --profile strict --waivers FILE --waive x2', [
    process.execPath,
    BIN,
    'check',
    '--json',
    '--profile',
    'strict',
    '--waivers',
    WAIVERS,
    '--waive',
    'kdump=bench',
    '--waive',
    'sysrq.mask=bench',
  ]),
);
rows.push(timeIt('lantern check --json --only oom.exempt', [process.execPath, BIN, 'check', '--json', '--only', 'oom.exempt']));
rows.push(timeIt('node -e 0 (Node start-up alone)', [process.execPath, '-e', '0']));
rows.push(timeIt('sh: cat /proc/*/oom_score_adj (one cat per process)', ['sh', '-c', 'for p in /proc/[0-9]*; do cat "$p/oom_score_adj"; done 2>/dev/null | grep -c -- -1000'], 1));
rows.push(timeIt('sh: read builtin per process (no fork)', ['sh', '-c', 'n=0; for p in /proc/[0-9]*; do read v < "$p/oom_score_adj" 2>/dev/null && [ "$v" = -1000 ] && n=$((n+1)); done; echo $n']));
rows.push(timeIt('grep -l -- -1000 /proc/*/oom_score_adj', ['sh', '-c', 'grep -l -x -- -1000 /proc/[0-9]*/oom_score_adj 2>/dev/null | wc -l']));

// In-process: the checks alone, without Node start-up. runChecksAhead is what the CLI runs (the live
// commands started first, all at once, the process table read while they run); an older build has only runChecks.
const { Host } = await import('../../dist/host/host.js');
const { runChecks, runChecksAhead } = await import('../../dist/check/run.js');
const inProcess = async (label, run) => {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const s = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  times.sort((a, b) => a - b);
  rows.push({ label, median: times[Math.floor(times.length / 2)], min: times[0], max: times[times.length - 1] });
};
await inProcess('runChecks() in-process (no Node start-up)', () => runChecks(new Host(), undefined, { version: 'bench' }));
if (runChecksAhead) await inProcess('runChecksAhead() in-process (as the CLI)', () => runChecksAhead(new Host(), undefined, { version: 'bench' }));

let scanned = '?';
try {
  const doc = JSON.parse(full.last.stdout);
  scanned = doc.findings.find((f) => f.id === 'oom.exempt')?.evidence?.[0]?.value ?? '?';
} catch {
  /* printed below as ? */
}
stop();
// Wait (up to 15 s) for the killed sleeps to be reaped, so the machine is left as it was found.
const t1 = Date.now();
while (pidCount() > before + 100 && Date.now() - t1 < 15_000) await new Promise((r) => setTimeout(r, 200));

const w = Math.max(...rows.map((r) => r.label.length));
console.log(`${'what'.padEnd(w)}  median ms   min ms   max ms`);
for (const r of rows) console.log(`${r.label.padEnd(w)}  ${r.median.toFixed(0).padStart(9)}  ${r.min.toFixed(0).padStart(7)}  ${r.max.toFixed(0).padStart(7)}`);
console.log(`\nload average (1, 5, 15 min) at the end: ${loadavg()}`);
console.log(`processes scanned by oom.exempt: ${scanned}; runs per row: ${runs} (cat loop: 1); peak RSS of this process: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
// Goal of issue 16: at most 0.3 s (it was under 1 s before).
console.log(`goal: full run on a live host with ${procs} processes in at most 0.3 s: ${(full.median / 1000).toFixed(2)} s median wall time (${full.median <= 300 ? 'met' : 'NOT met'})`);
