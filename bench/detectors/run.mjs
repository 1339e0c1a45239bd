#!/usr/bin/env node
// bench/detectors: a stat storm (WORKERS processes, each calling fstatat() — the newfstatat system
// call — on one existing file) run four ways, interleaved round by round with the order rotating:
//   nothing   nothing attached
//   lantern   `lantern record --slow-stat 1s` (its tracefs recorder plus its slow-stat detector on
//             the raw_tp backend, native/bpfstat: two programs on the raw sys_enter/sys_exit
//             tracepoints watching stat, lstat, fstat, newfstatat and statx; enter stores (ts, di, si)
//             per thread, exit times the call into a per-CPU histogram; only a slow call reaches
//             the ring buffer)
//   lantern-bt  the same with LANTERN_SLOW_STAT_BACKEND=bpftrace (the fallback: one bpftrace
//             program on the syscalls:sys_enter_/sys_exit_ tracepoints of the five calls)
//   bpftrace  the usual bpftrace latency script on the same call: @ts[tid] at enter, a hist of
//             durations at exit (tracepoint:syscalls:sys_enter_newfstatat / sys_exit_newfstatat)
//   recorder  `lantern record` without the detector (its tracefs recorder alone: exec/exit/signal
//             and a few rare syscall events), to tell the detector's cost from the recorder's
//   floor     bpftrace with empty programs on the same two tracepoints: what attaching anything costs
// Figures: calls/s (wall), storm CPU per call (the workers' own utime+stime), overhead per call
// against the same round's baseline, tracer CPU, events lost. Medians over rounds (min–max).
// Then bench/detectors/exit-io.mjs (the I/O-at-exit detector's exit storm) when it exists.
// Not a test: it asserts nothing. Needs root, gcc and bpftrace.
//
//   npm run bench -- detectors                        3 rounds of 1,000,000 calls, 2 workers
//   LANTERN_BENCH_STATS=200000 LANTERN_BENCH_ROUNDS=2 npm run bench -- detectors
//   LANTERN_BENCH_MODES=nothing,lantern               only these modes
//   LANTERN_BENCH_EXIT=0                              without the exit storm (bench/detectors/exit-io.mjs)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, cpuSecondsOf } from '../lib.mjs';

const here = new URL('./', import.meta.url).pathname;
const root = new URL('../../', import.meta.url).pathname;
const bin = join(root, 'bin/lantern.js');
const CALLS = Number(process.env.LANTERN_BENCH_STATS ?? 1_000_000);
const WORKERS = Number(process.env.LANTERN_BENCH_WORKERS ?? 2);
const ROUNDS = Number(process.env.LANTERN_BENCH_ROUNDS ?? 3);
const MODES = (process.env.LANTERN_BENCH_MODES ?? 'nothing,lantern,lantern-bt,recorder,bpftrace,floor').split(',').map((m) => m.trim());
const perWorker = Math.ceil(CALLS / WORKERS);

if (process.geteuid?.() !== 0) {
  console.log('bench/detectors needs root (tracefs, bpftrace)');
  process.exit(77);
}
for (const tool of ['gcc', 'bpftrace']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    console.log(`bench/detectors needs ${tool} (apt-get install ${tool})`);
    process.exit(77);
  }
}
if (!existsSync(join(root, 'dist/record/recorder.js'))) {
  console.log('build first: npm run build');
  process.exit(70);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dir = mkdtempSync(join(tmpdir(), 'lantern-bench-detectors-'));
const target = join(dir, 'target');
writeFileSync(target, 'x');
const storm = join(dir, 'statstorm');
const cc = spawnSync('gcc', ['-O2', '-o', storm, join(here, 'statstorm.c')], { encoding: 'utf8' });
if (cc.status !== 0) {
  console.log(`cannot build the stat storm: ${cc.stderr}`);
  process.exit(70);
}

function childrenOf(pid) {
  const out = [];
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) out.push(...readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    /* gone */
  }
  return out;
}

async function runStorm() {
  const t0 = process.hrtime.bigint();
  const ws = [];
  for (let w = 0; w < WORKERS; w++) {
    const child = spawn(storm, [target, String(perWorker)], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    // 'close', not 'exit': the worker's one line may still be in the pipe when it has exited.
    ws.push({ done: new Promise((r) => child.on('close', r)), out: () => out });
  }
  await Promise.all(ws.map((w) => w.done));
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  let calls = 0;
  let cpu = 0;
  for (const w of ws) {
    const [n, c] = w.out().trim().split(' ').map(Number);
    if (!Number.isFinite(n) || !Number.isFinite(c)) throw new Error(`a storm worker printed ${JSON.stringify(w.out())}`);
    calls += n;
    cpu += c;
  }
  return { sec, calls, rate: calls / sec, cpuPerCallNs: (cpu / calls) * 1e9 };
}

/** A bpftrace started with -f json; ready when its BEGIN printf arrives (it attaches before BEGIN runs). */
async function startBpftrace(program) {
  const child = spawn('bpftrace', ['-f', 'json', '-e', `BEGIN { printf("ready\\n"); }\n${program}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const gone = new Promise((r) => child.on('exit', r));
  for (let i = 0; i < 2400 && !out.includes('"ready\\n"') && child.exitCode === null; i++) await sleep(25);
  if (!out.includes('"ready\\n"')) throw new Error('bpftrace did not start');
  return {
    pid: child.pid,
    async stop() {
      child.kill('SIGINT');
      await gone;
      return [...out.matchAll(/"lost_events", "data": \{"events": (\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
    },
  };
}

const BT_LATENCY = `tracepoint:syscalls:sys_enter_newfstatat { @ts[tid] = nsecs; }
tracepoint:syscalls:sys_exit_newfstatat /@ts[tid]/ { @us = hist((nsecs - @ts[tid]) / 1000); delete(@ts[tid]); }`;
const BT_FLOOR = `tracepoint:syscalls:sys_enter_newfstatat { }
tracepoint:syscalls:sys_exit_newfstatat { }`;

async function withNothing() {
  return { ...(await runStorm()), tracerCpu: null, lost: null };
}

async function withBt(program) {
  const bt = await startBpftrace(program);
  await sleep(300);
  const c0 = cpuSeconds(bt.pid);
  const s = await runStorm();
  const tracerCpu = cpuSeconds(bt.pid) - c0;
  const lost = await bt.stop();
  return { ...s, tracerCpu, lost };
}

async function withLantern(detector = true, backend = 'auto') {
  const store = join(dir, `record-${Date.now()}.db`);
  const args = ['record', '--store', store, '--name', `bench${process.pid}`, ...(detector ? ['--slow-stat', '1s'] : []), '--no-hung', '--no-slab'];
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LANTERN_SLOW_STAT_BACKEND: backend } });
  const gone = new Promise((r) => child.on('exit', r));
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  for (let i = 0; i < 2400 && !/recording into/.test(err) && child.exitCode === null; i++) await sleep(25);
  if (!/recording into/.test(err)) throw new Error(`lantern record did not start: ${err}`);
  await sleep(500);
  const pids = [child.pid, ...childrenOf(child.pid)];
  const c0 = cpuSecondsOf(pids);
  const s = await runStorm();
  await sleep(300);
  const tracerCpu = cpuSecondsOf(pids) - c0;
  child.kill('SIGTERM');
  await gone;
  const st = JSON.parse(spawnSync(process.execPath, [bin, 'record', 'status', '--store', store, '--json'], { encoding: 'utf8' }).stdout);
  if (detector) backends.add(st.latency?.statBackend ?? 'bpftrace');
  return { ...s, tracerCpu, lost: (st.latency?.lost ?? 0) + st.lost.stats, slow: st.latency?.stat?.slow ?? null };
}

const backends = new Set();
const RUN = {
  nothing: withNothing,
  lantern: () => withLantern(true, 'auto'),
  'lantern-bt': () => withLantern(true, 'bpftrace'),
  recorder: () => withLantern(false),
  bpftrace: () => withBt(BT_LATENCY),
  floor: () => withBt(BT_FLOOR),
};
const LABEL = {
  nothing: 'nothing attached',
  lantern: 'lantern --slow-stat 1s',
  'lantern-bt': 'lantern --slow-stat 1s (bpftrace)',
  recorder: 'lantern record (no detector)',
  bpftrace: 'bpftrace hist (same latency)',
  floor: 'bpftrace empty probes (floor)',
};
const results = Object.fromEntries(MODES.map((m) => [m, []]));

try {
  console.log(`bench/detectors: stat storm, ${WORKERS} workers x ${perWorker} fstatat() = ${perWorker * WORKERS} calls per run, ${ROUNDS} rounds, modes ${MODES.join(', ')}`);
  for (let r = 0; r < ROUNDS; r++) {
    const order = MODES.slice(r % MODES.length).concat(MODES.slice(0, r % MODES.length));
    const round = {};
    for (const m of order) round[m] = await RUN[m]();
    const base = round.nothing;
    for (const m of MODES) {
      const x = round[m];
      x.overheadNs = base ? x.cpuPerCallNs - base.cpuPerCallNs : null;
      x.overheadPct = base ? ((base.rate - x.rate) / base.rate) * 100 : null;
      results[m].push(x);
    }
    console.log(`round ${r + 1}: ${order.map((m) => `${m} ${Math.round(round[m].rate / 1000)}k/s`).join(', ')}`);
  }
  const med = (xs) => {
    const s = xs.filter((v) => v !== null && v !== undefined && !Number.isNaN(v)).sort((a, b) => a - b);
    return s.length ? s[Math.floor(s.length / 2)] : null;
  };
  const span = (xs, f) => {
    const s = xs.filter((v) => v !== null).sort((a, b) => a - b);
    return s.length > 1 ? ` (${f(s[0])}–${f(s.at(-1))})` : '';
  };
  const k = (v) => `${Math.round(v / 1000)}k`;
  const ns = (v) => `${Math.round(v)}`;
  console.log('');
  console.log(`${'mode'.padEnd(36)}${'calls/s'.padEnd(22)}${'CPU/call ns'.padEnd(20)}${'overhead ns/call'.padEnd(22)}${'slowdown'.padEnd(16)}${'tracer CPU s'.padEnd(14)}lost`);
  const summary = {};
  for (const m of MODES) {
    const xs = results[m];
    const rate = med(xs.map((x) => x.rate));
    const cpu = med(xs.map((x) => x.cpuPerCallNs));
    const ov = med(xs.map((x) => x.overheadNs));
    const pct = med(xs.map((x) => x.overheadPct));
    const tc = med(xs.map((x) => x.tracerCpu));
    const lost = xs.reduce((a, x) => a + (x.lost ?? 0), 0);
    summary[m] = { rate, cpu, ov, pct };
    console.log(
      `${LABEL[m].padEnd(36)}${(
        k(rate) +
        span(
          xs.map((x) => x.rate),
          k,
        )
      ).padEnd(22)}${(
        ns(cpu) +
        span(
          xs.map((x) => x.cpuPerCallNs),
          ns,
        )
      ).padEnd(20)}${(m === 'nothing' || ov === null
        ? '-'
        : ns(ov) +
          span(
            xs.map((x) => x.overheadNs),
            ns,
          )
      ).padEnd(22)}${(m === 'nothing' || pct === null ? '-' : `${pct.toFixed(1)}%`).padEnd(16)}${(tc === null ? '-' : tc.toFixed(2)).padEnd(14)}${m === 'nothing' ? '-' : lost}`,
    );
  }
  if (summary.lantern && summary.bpftrace && summary.nothing) {
    const ratio = summary.lantern.ov / summary.bpftrace.ov;
    console.log('');
    console.log(`lantern's slow-stat backend in these runs: ${[...backends].join(', ')}`);
    console.log(
      `goal: Lantern's overhead at most half of bpftrace's: lantern ${ns(summary.lantern.ov)} ns/call vs bpftrace ${ns(summary.bpftrace.ov)} ns/call = ${(ratio * 100).toFixed(0)}% (${ratio <= 0.5 ? 'met' : 'not met'})`,
    );
    // The same round's modes ran a few seconds apart: their ratio moves less with the machine's load than the medians do.
    const ratios = results.lantern.map((x, i) => x.overheadNs / results.bpftrace[i].overheadNs).filter((v) => Number.isFinite(v) && v > 0);
    if (ratios.length)
      console.log(
        `per round: lantern / bpftrace overhead ${ratios.map((v) => `${(v * 100).toFixed(0)}%`).join(', ')}; median ${(med(ratios) * 100).toFixed(0)}% (${med(ratios) <= 0.5 ? 'met' : 'not met'})`,
      );
    if (summary['lantern-bt'])
      console.log(`lantern on its bpftrace fallback: ${ns(summary['lantern-bt'].ov)} ns/call = ${((summary['lantern-bt'].ov / summary.bpftrace.ov) * 100).toFixed(0)}% of bpftrace's`);
    if (summary.recorder) console.log(`recorder alone (no detector) costs ${ns(summary.recorder.ov)} ns/call: the detector's own share is ${ns(summary.lantern.ov - summary.recorder.ov)} ns/call`);
    if (summary.floor)
      console.log(
        `floor: empty BPF programs on the two tracepoints cost ${ns(summary.floor.ov)} ns/call; above it lantern adds ${ns(summary.lantern.ov - summary.floor.ov)}, bpftrace ${ns(summary.bpftrace.ov - summary.floor.ov)}`,
      );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const exitIo = join(here, 'exit-io.mjs');
if (existsSync(exitIo) && process.env.LANTERN_BENCH_EXIT !== '0') {
  console.log('');
  const r = spawnSync(process.execPath, [exitIo], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = r.status ?? 1;
}
