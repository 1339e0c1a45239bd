#!/usr/bin/env node
// bench/record: an exec storm (fork+exec of /bin/true from parallel shell workers) run three ways:
// with nothing recording, with `lantern record`, and with a bpftrace script printing the same
// events. Prints execs/s, overhead, events captured versus expected, events lost, recorder RSS.
// Not a test: it asserts nothing. Needs root; bpftrace is optional (`apt-get install bpftrace`).
//
//   npm run bench -- record                  20,000 execs, 2 workers
//   LANTERN_BENCH_EXECS=40000 LANTERN_BENCH_WORKERS=1 LANTERN_BENCH_ROUNDS=3 npm run bench -- record
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const bin = join(root, 'bin/lantern.js');
const EXECS = Number(process.env.LANTERN_BENCH_EXECS ?? 20000);
const WORKERS = Number(process.env.LANTERN_BENCH_WORKERS ?? 2);
// Modes are interleaved over rounds, so load from other users of the machine hits all of them.
const ROUNDS = Number(process.env.LANTERN_BENCH_ROUNDS ?? 2);
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

function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

async function withNothing() {
  return { name: 'nothing recording', ...(await storm()), captured: null, lost: null, rss: null, cpu: null };
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

const BT = `
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
  writeFileSync(script, BT);
  const out = join(dir, 'bpftrace.out');
  const child = spawn('sh', ['-c', `exec bpftrace "${script}" > "${out}"`], { stdio: ['ignore', 'ignore', 'pipe'] });
  const gone = new Promise((r) => child.on('exit', r));
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  for (let i = 0; i < 1200; i++) {
    if (existsSync(out) && readFileSync(out, 'utf8').includes('Attaching')) break;
    if (child.exitCode !== null) break;
    await sleep(25);
  }
  if (child.exitCode !== null) {
    console.log(`(bpftrace failed to start: ${err.trim().split('\n').pop()})`);
    return null;
  }
  await sleep(500);
  const cpu0 = cpuSeconds(child.pid); // start-up (compiling, attaching) is not the storm's cost
  const s = await storm();
  // bpftrace prints from its perf buffers at its own pace: wait until the output stops growing,
  // or it is stopped before it printed everything (and looks lossy when it is not).
  let last = -1;
  for (let i = 0; i < 100; i++) {
    await sleep(500);
    const size = statSync(out).size;
    if (size === last) break;
    last = size;
  }
  const rss = peakRss(child.pid);
  const cpu = cpuSeconds(child.pid) - cpu0;
  child.kill('SIGINT');
  await gone;
  const workers = new Set(s.pids.map(String));
  let captured = 0;
  const text = readFileSync(out, 'utf8');
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f[0] === 'exec' && workers.has(f[2]) && f[3] === '/bin/true') captured++;
  }
  // bpftrace reports perf-buffer loss as "Lost N events" (stdout in 0.17, stderr in newer ones).
  const lost = [...(err + text).matchAll(/Lost (\d+) events/g)].reduce((n, m) => n + Number(m[1]), 0);
  return { name: 'bpftrace printing', ...s, captured, lost, rss, cpu };
}

const fmt = (n, d = 0) => (n === null || n === undefined ? '-' : Number(n).toFixed(d));
const mib = (b) => (b ? `${(b / 1048576).toFixed(1)} MiB` : '-');

try {
  console.log(`exec storm: ${ROUNDS} rounds of ${expected} fork+exec of /bin/true from ${WORKERS} parallel workers; ${spawnSync('nproc').stdout.toString().trim()} CPUs; kernel ${spawnSync('uname', ['-r']).stdout.toString().trim()}`);
  const byMode = new Map();
  let haveBt = true;
  for (let round = 0; round < ROUNDS; round++) {
    const got = [await withNothing(), await withLantern()];
    if (haveBt) {
      const bt = await withBpftrace();
      if (bt) got.push(bt);
      else haveBt = false;
    }
    for (const r of got) (byMode.get(r.name) ?? byMode.set(r.name, []).get(r.name)).push(r);
    console.log(`round ${round + 1}/${ROUNDS}: ${got.map((r) => `${r.name} ${fmt(r.rate)}/s`).join(', ')}`);
  }
  if (!haveBt) console.log('(bpftrace not available: apt-get install bpftrace to compare)');
  // Aggregate rounds: rate over the summed time; captured, lost and CPU summed; RSS the peak.
  const runs = [...byMode.values()].map((rs) => ({
    name: rs[0].name,
    rate: (expected * rs.length) / rs.reduce((n, r) => n + r.sec, 0),
    captured: rs[0].captured === null ? null : rs.reduce((n, r) => n + r.captured, 0),
    exits: rs.reduce((n, r) => n + (r.exits ?? 0), 0),
    lost: rs[0].lost === null ? null : rs.reduce((n, r) => n + r.lost, 0),
    cpu: rs[0].cpu === null ? null : rs.reduce((n, r) => n + (r.cpu ?? 0), 0),
    workCpu: rs.reduce((n, r) => n + r.workCpu, 0),
    rss: rs[0].rss === null ? null : Math.max(...rs.map((r) => r.rss ?? 0)),
  }));
  const bt = runs.find((r) => r.name === 'bpftrace printing');
  const total = expected * ROUNDS;
  const base = runs[0].rate;
  // CPU per exec: the storm's own (worker shells + /bin/true, including the kernel-side cost
  // of tracepoints) plus the tracer's. Its growth over the baseline is the CPU overhead.
  const perExec = (r) => ((r.workCpu + (r.cpu ?? 0)) / total) * 1e6;
  const baseCpu = perExec(runs[0]);
  const rows = [['mode', 'execs/s', 'overhead', 'storm CPU µs/exec', 'tracer CPU µs/exec', 'CPU overhead', 'captured/expected', 'lost', 'tracer peak RSS']];
  for (const r of runs) {
    rows.push([
      r.name,
      fmt(r.rate),
      r === runs[0] ? '-' : `${fmt((1 - r.rate / base) * 100, 1)} %`,
      fmt((r.workCpu / total) * 1e6),
      r.cpu === null ? '-' : fmt((r.cpu / total) * 1e6),
      r === runs[0] ? '-' : `${fmt((perExec(r) / baseCpu - 1) * 100, 1)} %`,
      r.captured === null ? '-' : `${r.captured}/${total}`,
      fmt(r.lost),
      mib(r.rss),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  '));
  const lantern = runs[1];
  const lo = 1 - lantern.rate / base;
  console.log(`goal: 0 events lost and missed: lantern lost ${lantern.lost}, missed ${total - lantern.captured} execs (exits recorded ${lantern.exits}/${total})`);
  if (bt) {
    const bo = 1 - bt.rate / base;
    console.log(`goal: lantern overhead at most half of bpftrace's (execs/s): lantern ${fmt(lo * 100, 1)} %, bpftrace ${fmt(bo * 100, 1)} % (ratio ${bo > 0 ? fmt(lo / bo, 2) : '-'})`);
    const lc = perExec(lantern) / baseCpu - 1;
    const bc = perExec(bt) / baseCpu - 1;
    console.log(`goal: lantern overhead at most half of bpftrace's (CPU per exec): lantern ${fmt(lc * 100, 1)} %, bpftrace ${fmt(bc * 100, 1)} % (ratio ${bc > 0 ? fmt(lc / bc, 2) : '-'})`);
  }
  console.log(`goal: recorder peak RSS over the run: ${mib(lantern.rss)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
