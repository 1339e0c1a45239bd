#!/usr/bin/env node
// bench/record: an exec storm (fork+exec of /bin/true from parallel shell workers) run three ways:
// with nothing recording, with `lantern record`, and with a bpftrace script printing the same
// events. Modes are interleaved round by round (the order rotates each round), and every figure is
// given as the median over rounds with its spread (min–max); overheads are paired with the
// baseline of the same round. Prints execs/s, CPU per exec (the storm's and the tracer's own
// utime+stime from /proc/<pid>/stat), events captured versus expected, events lost, tracer RSS.
// Not a test: it asserts nothing. Needs root; bpftrace is optional (`apt-get install bpftrace`).
//
//   npm run bench -- record                  3 rounds of 20,000 execs, 2 workers
//   LANTERN_BENCH_EXECS=40000 LANTERN_BENCH_WORKERS=1 LANTERN_BENCH_ROUNDS=5 npm run bench -- record
//   LANTERN_BENCH_MODES=nothing,bpftrace     only these modes (nothing, lantern, bpftrace; and
//                                            waker: an idle process waking every 0.2 ms, a control)
//   LANTERN_BENCH_BT_PAGES=1024              bpftrace's perf buffer per CPU, in 4 KiB pages
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds } from '../lib.mjs';

const root = new URL('../../', import.meta.url).pathname;
const bin = join(root, 'bin/lantern.js');
const EXECS = Number(process.env.LANTERN_BENCH_EXECS ?? 20000);
const WORKERS = Number(process.env.LANTERN_BENCH_WORKERS ?? 2);
// Modes are interleaved over rounds, so load from other users of the machine hits all of them.
const ROUNDS = Number(process.env.LANTERN_BENCH_ROUNDS ?? 3);
const MODES = (process.env.LANTERN_BENCH_MODES ?? 'nothing,lantern,bpftrace').split(',').map((m) => m.trim());
// Lantern's per-CPU buffer is 4096 KiB by default: give bpftrace's perf buffer the same room
// (its default is 64 pages, 256 KiB), so a loss would not be down to a smaller buffer.
const BT_PAGES = Number(process.env.LANTERN_BENCH_BT_PAGES ?? 1024);
const perWorker = Math.ceil(EXECS / WORKERS);
const expected = perWorker * WORKERS;

if (process.geteuid?.() !== 0) {
  console.log('bench/record needs root (tracefs, bpftrace)');
  process.exit(77);
}
if (!existsSync(join(root, 'dist/record/recorder.js'))) {
  console.log('build first: npm run build');
  process.exit(70);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dir = mkdtempSync(join(tmpdir(), 'lantern-bench-record-'));
const truePath = join(realpathSync('/bin'), 'true'); // TOMOYO-style name the recorder stores

/** Run the storm: WORKERS shells, each fork+exec'ing /bin/true perWorker times. */
async function storm() {
  const t0 = process.hrtime.bigint();
  const workers = [];
  for (let w = 0; w < WORKERS; w++) {
    // `times` reports the CPU the worker and its children used: a figure that, unlike wall time,
    // other users of a shared machine barely move.
    const child = spawn('/bin/sh', ['-c', `i=0; while [ $i -lt ${perWorker} ]; do /bin/true; i=$((i+1)); done; times`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    // Listen at once: a fast worker may be gone before we would look.
    workers.push({ pid: child.pid, done: new Promise((r) => child.on('exit', r)), out: () => out });
  }
  await Promise.all(workers.map((w) => w.done));
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  let workCpu = 0;
  for (const w of workers) for (const m of w.out().matchAll(/(\d+)m([\d.]+)s/g)) workCpu += Number(m[1]) * 60 + Number(m[2]);
  return { sec, rate: expected / sec, pids: workers.map((w) => w.pid), workCpu };
}

function peakRss(pid) {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

async function withNothing() {
  return { name: 'nothing recording', ...(await storm()), captured: null, lost: null, rss: null, cpu: null };
}

/**
 * A control, not a tracer: nothing recording, but a process that wakes every 0.2 ms and does
 * nothing. On a VM, a vCPU kept out of idle hands the fork/exec/wait ping-pong of the storm over
 * faster, so a tracer woken per event (bpftrace) can make the storm *faster* in wall time.
 */
async function withWaker() {
  const child = spawn('python3', ['-c', 'import time\nwhile True: time.sleep(0.0002)'], { stdio: 'ignore' });
  const gone = new Promise((r) => child.on('exit', r));
  await sleep(300);
  const cpu0 = cpuSeconds(child.pid);
  const s = await storm();
  const cpu = cpuSeconds(child.pid) - cpu0;
  child.kill('SIGTERM');
  await gone;
  return { name: 'nothing + 0.2 ms waker', ...s, captured: null, lost: null, rss: null, cpu };
}

async function withLantern() {
  const store = join(dir, 'record.db');
  const child = spawn(process.execPath, [bin, 'record', '--store', store, '--name', `bench${process.pid}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  const gone = new Promise((r) => child.on('exit', r));
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  for (let i = 0; i < 400 && !/recording into/.test(err); i++) await sleep(25);
  if (!/recording into/.test(err)) throw new Error(`lantern record did not start: ${err}`);
  await sleep(500);
  const cpu0 = cpuSeconds(child.pid); // start-up (node, /proc scan) is not the storm's cost
  const s = await storm();
  await sleep(1000); // one more drain
  const rss = peakRss(child.pid);
  const cpu = cpuSeconds(child.pid) - cpu0;
  child.kill('SIGTERM');
  await gone;
  const { Store } = await import(join(root, 'dist/record/store/store.js'));
  const db = Store.open(store, { readonly: true });
  const ppids = JSON.stringify(s.pids);
  const execs = db.db.prepare(`SELECT count(*) AS n FROM events WHERE type = 'exec' AND program = ? AND ppid IN (SELECT value FROM json_each(?))`).get(truePath, ppids).n;
  const exits = db.db.prepare(`SELECT count(*) AS n FROM events WHERE type = 'exit' AND exit_code = 0 AND program = ? AND ppid IN (SELECT value FROM json_each(?))`).get(truePath, ppids).n;
  const status = db.getMeta('status');
  db.close();
  return { name: 'lantern record', ...s, captured: execs, exits, lost: status.lost.stats + status.lost.markerEvents, rss, cpu };
}

// BEGIN runs once every probe is attached; it touches a file (__READY__ is replaced by a path in
// our temporary directory) because its printf would sit in bpftrace's output buffer: writing to a
// file, bpftrace buffers fully, so "ready" shows up only when kilobytes of events follow it.
const BT = `
BEGIN { system("touch __READY__"); }
tracepoint:task:task_newtask { printf("fork %d %d %x\\n", pid, args->pid, args->clone_flags); }
tracepoint:sched:sched_process_exec { printf("exec %d %d %s\\n", pid, curtask->real_parent->tgid, str(args->filename)); }
tracepoint:syscalls:sys_enter_exit_group { printf("exit_group %d %d\\n", pid, args->error_code); }
tracepoint:sched:sched_process_exit { printf("exit %d %d\\n", args->pid, args->group_dead); }
tracepoint:signal:signal_generate /args->result == 0 && args->sig != 17/ { printf("gen %d %d %d\\n", pid, args->pid, args->sig); }
tracepoint:signal:signal_deliver /args->sa_handler == 0 && args->sig != 17/ { printf("deliver %d %d\\n", pid, args->sig); }
`;

async function withBpftrace() {
  const which = spawnSync('sh', ['-c', 'command -v bpftrace']);
  if (which.status !== 0) return null;
  const script = join(dir, 'events.bt');
  const readyFile = join(dir, 'bpftrace.ready');
  rmSync(readyFile, { force: true });
  writeFileSync(script, BT.replace('__READY__', readyFile));
  const out = join(dir, 'bpftrace.out');
  rmSync(out, { force: true });
  // --unsafe: for system() in BEGIN, the readiness signal.
  const child = spawn('bpftrace', ['--unsafe', '-o', out, script], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, BPFTRACE_PERF_RB_PAGES: String(BT_PAGES) } });
  const gone = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  // Ready when BEGIN has run: bpftrace prints "Attaching N probes..." before it attaches them.
  const ready = () => existsSync(readyFile);
  const t0 = Date.now();
  for (let i = 0; i < 4800 && !ready() && child.exitCode === null; i++) await sleep(25);
  const attachSec = (Date.now() - t0) / 1000;
  if (!ready()) {
    child.kill('SIGINT');
    // bpftrace 0.17 always warns about RLIMIT_MEMLOCK: not the reason.
    const why = err
      .trim()
      .split('\n')
      .filter((l) => l && !/RLIMIT_MEMLOCK/.test(l))
      .pop();
    console.log(`(bpftrace failed to start: ${why ?? (child.exitCode !== null ? `exit ${child.exitCode}` : `BEGIN not reached after ${attachSec.toFixed(0)} s`)})`);
    return null;
  }
  await sleep(500);
  const cpu0 = cpuSeconds(child.pid); // start-up (compiling, attaching) is not the storm's cost
  const s = await storm();
  // bpftrace prints from its perf buffers at its own pace: wait until the output stops growing.
  let last = -1;
  for (let i = 0; i < 100; i++) {
    await sleep(500);
    const size = statSync(out).size;
    if (size === last) break;
    last = size;
  }
  const rss = peakRss(child.pid);
  const cpu = cpuSeconds(child.pid) - cpu0;
  // SIGINT is bpftrace's orderly stop: it drains its perf buffers, flushes the output and
  // prints its own loss count; wait for it to exit.
  child.kill('SIGINT');
  const end = await Promise.race([gone, sleep(60_000).then(() => null)]);
  if (!end) child.kill('SIGKILL');
  const workers = new Set(s.pids.map(String));
  // Per worker: children forked, children that exec'd /bin/true, children whose exit was printed.
  const forked = new Set();
  const execd = new Set();
  const exited = new Set();
  const text = readFileSync(out, 'utf8');
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f[0] === 'fork' && workers.has(f[1]) && (parseInt(f[3], 16) & 0x10000) === 0) forked.add(f[2]);
    else if (f[0] === 'exec' && workers.has(f[2]) && f[3] === '/bin/true') execd.add(f[1]);
    else if (f[0] === 'exit' && f[2] === '1') exited.add(f[1]);
  }
  let exitsOfForked = 0;
  for (const p of forked) if (exited.has(p)) exitsOfForked++;
  // bpftrace reports perf-buffer loss as "Lost N events" (stdout in 0.17, stderr in newer ones).
  const lost = [...(err + text).matchAll(/Lost (\d+) events/g)].reduce((n, m) => n + Number(m[1]), 0);
  return {
    name: 'bpftrace printing',
    ...s,
    captured: execd.size,
    lost,
    rss,
    cpu,
    forked: forked.size,
    exitsOfForked,
    stopped: end ? (end.signal ?? `exit ${end.code}`) : 'SIGKILL after 60 s',
    attachSec,
  };
}

const fmt = (n, d = 0) => (n === null || n === undefined ? '-' : Number(n).toFixed(d));
const mib = (b) => (b ? `${(b / 1048576).toFixed(1)} MiB` : '-');

const median = (xs) => {
  const v = xs.filter((x) => x !== null && x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
/** "median (min–max)" over rounds. */
const spread = (xs, d = 0, unit = '') => {
  const v = xs.filter((x) => x !== null && x !== undefined && Number.isFinite(x));
  if (!v.length) return '-';
  const med = `${fmt(median(v), d)}${unit}`;
  return v.length === 1 ? med : `${med} (${fmt(Math.min(...v), d)}–${fmt(Math.max(...v), d)})`;
};

try {
  console.log(
    `exec storm: ${ROUNDS} rounds of ${expected} fork+exec of /bin/true from ${WORKERS} parallel workers; ${spawnSync('nproc').stdout.toString().trim()} CPUs; kernel ${spawnSync('uname', ['-r']).stdout.toString().trim()}; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
  );
  const modes = [
    ['nothing', withNothing],
    ['waker', withWaker],
    ['lantern', withLantern],
    ['bpftrace', withBpftrace],
  ].filter(([m]) => MODES.includes(m));
  if (!modes.some(([m]) => m === 'nothing')) modes.unshift(['nothing', withNothing]); // overheads need the baseline
  const byMode = new Map();
  const dead = new Set();
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the order each round (A B C, B C A, C A B, ...): no mode always runs first or
    // right after another one's teardown.
    const order = modes.map((_, i) => modes[(i + round) % modes.length]);
    const got = new Map();
    for (const [m, run] of order) {
      if (dead.has(m)) continue;
      const r = await run();
      if (r) got.set(m, r);
      else dead.add(m);
    }
    const base = got.get('nothing');
    for (const [m, r] of got) {
      r.round = round;
      // Paired with this round's baseline: the load of other users at that moment hits both.
      r.overhead = m === 'nothing' ? null : (1 - r.rate / base.rate) * 100;
      r.cpuPerExec = ((r.workCpu + (r.cpu ?? 0)) / expected) * 1e6;
      r.cpuOverhead = m === 'nothing' ? null : (r.cpuPerExec / ((base.workCpu / expected) * 1e6) - 1) * 100;
      (byMode.get(m) ?? byMode.set(m, []).get(m)).push(r);
    }
    console.log(
      `round ${round + 1}/${ROUNDS}: ${order
        .filter(([m]) => got.has(m))
        .map(([m]) => {
          const r = got.get(m);
          return `${r.name} ${fmt(r.rate)}/s${r.cpu !== null ? ` (tracer ${fmt((r.cpu / expected) * 1e6)} µs/exec${r.attachSec !== undefined ? `, ready in ${fmt(r.attachSec, 1)} s` : ''})` : ''}`;
        })
        .join(', ')}`,
    );
    const bt = got.get('bpftrace');
    if (bt && bt.captured < expected) {
      console.log(
        `  bpftrace missed ${expected - bt.captured} execs: ${bt.forked}/${expected} forks and ${bt.exitsOfForked} exits of them printed, "Lost" reported ${bt.lost}, stopped by ${bt.stopped}`,
      );
    }
  }
  if (dead.has('bpftrace') && MODES.includes('bpftrace')) console.log('(bpftrace not available: apt-get install bpftrace to compare)');
  const rows = [['mode', 'execs/s', 'overhead %', 'storm CPU µs/exec', 'tracer CPU µs/exec', 'CPU overhead %', 'captured/expected', 'lost', 'tracer peak RSS']];
  const agg = new Map();
  for (const [m, rs] of byMode) {
    const a = {
      name: rs[0].name,
      rounds: rs.length,
      captured: rs[0].captured === null ? null : rs.reduce((n, r) => n + r.captured, 0),
      exits: rs.reduce((n, r) => n + (r.exits ?? 0), 0),
      lost: rs[0].lost === null ? null : rs.reduce((n, r) => n + r.lost, 0),
      rss: rs[0].rss === null ? null : Math.max(...rs.map((r) => r.rss ?? 0)),
      overhead: median(rs.map((r) => r.overhead)),
      cpuOverhead: median(rs.map((r) => r.cpuOverhead)),
    };
    agg.set(m, a);
    rows.push([
      a.name,
      spread(rs.map((r) => r.rate)),
      m === 'nothing'
        ? '-'
        : spread(
            rs.map((r) => r.overhead),
            1,
          ),
      spread(rs.map((r) => (r.workCpu / expected) * 1e6)),
      rs[0].cpu === null ? '-' : spread(rs.map((r) => (r.cpu / expected) * 1e6)),
      m === 'nothing'
        ? '-'
        : spread(
            rs.map((r) => r.cpuOverhead),
            1,
          ),
      a.captured === null ? '-' : `${a.captured}/${expected * rs.length}`,
      fmt(a.lost),
      mib(a.rss),
    ]);
  }
  console.log("figures: median over rounds (min–max); overheads paired with the same round's baseline");
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  '));
  const lantern = agg.get('lantern');
  const bt = agg.get('bpftrace');
  if (lantern)
    console.log(
      `goal: 0 events lost and missed: lantern lost ${lantern.lost}, missed ${expected * lantern.rounds - lantern.captured} execs (exits recorded ${lantern.exits}/${expected * lantern.rounds})`,
    );
  if (lantern && bt) {
    const ratio = (l, b) => (b > 0 ? fmt(l / b, 2) : '- (bpftrace not above the baseline)');
    console.log(
      `goal: lantern overhead at most half of bpftrace's (execs/s, median): lantern ${fmt(lantern.overhead, 1)} %, bpftrace ${fmt(bt.overhead, 1)} % (ratio ${ratio(lantern.overhead, bt.overhead)})`,
    );
    console.log(
      `goal: lantern overhead at most half of bpftrace's (CPU per exec, median): lantern ${fmt(lantern.cpuOverhead, 1)} %, bpftrace ${fmt(bt.cpuOverhead, 1)} % (ratio ${ratio(lantern.cpuOverhead, bt.cpuOverhead)})`,
    );
    const lt = median(byMode.get('lantern').map((r) => r.cpu / expected));
    const btc = median(byMode.get('bpftrace').map((r) => r.cpu / expected));
    console.log(`goal: tracer's own CPU per exec (median): lantern ${fmt(lt * 1e6)} µs, bpftrace ${fmt(btc * 1e6)} µs (ratio ${fmt(lt / btc, 2)})`);
    console.log(`bpftrace: perf buffer ${BT_PAGES} pages/CPU, stopped by SIGINT and waited for; captured ${bt.captured}/${expected * bt.rounds}, reported lost ${bt.lost}`);
  }
  if (lantern) console.log(`goal: recorder peak RSS over the run: ${mib(lantern.rss)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
