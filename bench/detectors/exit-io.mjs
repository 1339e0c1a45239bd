#!/usr/bin/env node
// bench/detectors/exit-io: the cost of lantern record's I/O-at-exit detector, on each of its two
// sources. An exit storm (short processes forked 50 at a time, each writing 4 KiB with O_DIRECT;
// test/data/record/io/io-child.c, compiled here with gcc) runs five ways, interleaved round by
// round with the order rotating: with nothing recording, with the process recorder alone (no I/O
// detector), with the I/O detector on its in-kernel source (record+io: native/bpfexit, the
// default), with it on taskstats (record+io:ts, the fallback), and with a bpftrace script
// printing the same per-task figures at
// sched_process_exit (curtask->ioac, what SystemTap's example read; left out when bpftrace is not
// installed). The three recorder modes run the same recorder (src/record/recorder.ts, what
// `lantern record --no-hung --no-slab` runs) from a small runner below, because the source is an
// option of the detector that `lantern record` does not offer as a flag. Figures are medians over rounds (min–max): exits/s, the storm's own CPU per exit
// (the kernel's taskstats or BPF work runs in the exiting task), the tracer's CPU per exit
// (utime+stime from /proc/<pid>/stat over the storm and a 1 s drain), the detector's share (the io
// recorder's CPU minus the no-io recorder's of the same round), and what was lost (the kernel's
// drops, exact, and the addon's queue; bpftrace's own count, and storm processes missing from its
// output). Not a test: it asserts nothing.
//
//   node bench/detectors/exit-io.mjs                  3 rounds of 20,000 exits
//   LANTERN_BENCH_EXITS=5000 LANTERN_BENCH_ROUNDS=5 node bench/detectors/exit-io.mjs
//   LANTERN_BENCH_IO_EVERY=1000000 node bench/detectors/exit-io.mjs   only every n-th process writes
//                                                    (the others are exits without I/O: skipped in the addon)
//   LANTERN_BENCH_MODES=record,record+io               only these modes (nothing, record, record+io, record+io:ts, bpftrace)
//   LANTERN_BENCH_WARMUP=5000 node bench/detectors/exit-io.mjs   each tracer first sees an unmeasured storm of
//                                                    5000 exits (then 1 s of drain): the figures are those of a
//                                                    tracer that has run a while (JIT-compiled), not of one just started
//   node bench/detectors/exit-io.mjs --json           the results as one JSON object
// bench/detectors/run.mjs calls runExitIo({ exits, rounds }) and prints its rows.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cpuSeconds } from '../lib.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const lantern = join(root, 'bin/lantern.js');
const source = join(root, 'test/data/record/io/io-child.c');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};
const spread = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

// The recorder as `lantern record --no-hung --no-slab [--no-io]` starts it, with the I/O source chosen.
const RUNNER = `
const [store, name, io] = process.argv.slice(1);
const { DEFAULT_OPTIONS, Recorder } = await import(${JSON.stringify(pathToFileURL(join(root, 'dist/record/recorder.js')).href)});
const { DEFAULT_IO } = await import(${JSON.stringify(pathToFileURL(join(root, 'dist/record/io/detector.js')).href)});
const rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath: store, name, ...(io === 'off' ? {} : { io: { ...DEFAULT_IO, source: io } }) });
process.stderr.write('recording into ' + store + ' (io ' + (rec.io ? rec.io.status.source : 'off') + ')\\n');
rec.run();
process.on('SIGTERM', () => { rec.stop(); process.exit(0); });
`;

/** Start the recorder (io: off, auto, taskstats) and wait until it records. */
async function startRecorder(store, name, io) {
  const args = ['--input-type=module', '-e', RUNNER, store, name, io];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise((r) => child.on('exit', (code) => r(code)));
  for (let i = 0; i < 400 && !err.includes('recording into'); i++) {
    if (child.exitCode !== null) break;
    await sleep(25);
  }
  if (!err.includes('recording into')) {
    child.kill('SIGKILL');
    throw new Error(`lantern record did not start: ${err.trim()}`);
  }
  return { child, exited, stderr: () => err };
}

// Threads that did disk I/O, at their exit: the same figures as taskstats, from the task itself.
const BT_SCRIPT = `tracepoint:sched:sched_process_exit /curtask->ioac.read_bytes + curtask->ioac.write_bytes + curtask->ioac.cancelled_write_bytes > 0/ {
  printf("%d %d %d %s %llu %llu %llu\\n", pid, tid, curtask->real_parent->tgid, comm, curtask->ioac.read_bytes, curtask->ioac.write_bytes, curtask->ioac.cancelled_write_bytes);
}`;

const haveBpftrace = () => spawnSync('bpftrace', ['--version']).status === 0;

/** bpftrace with the script, started when its BEGIN ran (every probe is attached by then). */
async function startBpftrace(dir, n) {
  const out = join(dir, `bt-${n}.out`);
  const begun = join(dir, `bt-${n}.begun`);
  const script = `BEGIN { system("touch ${begun}"); } ${BT_SCRIPT}`;
  // The same room as the recorder's 4 MiB per CPU (bpftrace's default is 64 pages).
  const child = spawn('bpftrace', ['--unsafe', '-o', out, '-e', script], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, BPFTRACE_PERF_RB_PAGES: '1024' } });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise((r) => child.on('exit', r));
  for (let i = 0; i < 1200 && !existsSync(begun); i++) {
    if (child.exitCode !== null) break;
    await sleep(25);
  }
  if (!existsSync(begun)) {
    child.kill('SIGKILL');
    throw new Error(`bpftrace did not start: ${err.trim()}`);
  }
  return { child, exited, out, stderr: () => err };
}

function storm(binPath, data, exits, every) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(binPath, ['storm', data, String(exits), String(every)], { encoding: 'utf8' });
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = /^storm \d+ cpu=([\d.]+)$/m.exec(r.stdout ?? '');
  if (r.status !== 0 || !m) throw new Error(`storm failed: ${r.stderr || r.status}`);
  return { sec, cpu: Number(m[1]) };
}

/** The unmeasured storm a tracer sees first (LANTERN_BENCH_WARMUP), then its drain. */
async function warmUp(ctx) {
  if (!ctx.warmup) return;
  storm(ctx.bin, ctx.data, ctx.warmup, ctx.every);
  await sleep(1000);
}

async function round(mode, ctx) {
  const { bin: binPath, data, exits, dir, every } = ctx;
  if (mode === 'nothing') {
    const s = storm(binPath, data, exits, every);
    return { mode, rate: exits / s.sec, stormCpuPerExit: s.cpu / exits };
  }
  if (mode === 'bpftrace') {
    const bt = await startBpftrace(dir, ctx.n++);
    try {
      await warmUp(ctx);
      const cpu0 = cpuSeconds(bt.child.pid);
      const s = storm(binPath, data, exits, every);
      await sleep(1000);
      const cpu1 = cpuSeconds(bt.child.pid);
      bt.child.kill('SIGINT');
      await bt.exited;
      const text = readFileSync(bt.out, 'utf8');
      const lost = [...(text + bt.stderr()).matchAll(/Lost (\d+) events/g)].reduce((a, m) => a + Number(m[1]), 0);
      // pid tid ppid comm read write cancelled: the storm's children write 4 KiB each.
      const captured = text.split('\n').filter((l) => / io-child \d+ [1-9]\d* \d+$/.test(l)).length;
      return { mode, rate: exits / s.sec, stormCpuPerExit: s.cpu / exits, recorderCpuPerExit: (cpu1 - cpu0) / exits, bt: { captured, lost } };
    } finally {
      if (bt.child.exitCode === null) bt.child.kill('SIGKILL');
    }
  }
  const store = join(dir, `${mode}-${ctx.n++}.db`);
  const rec = await startRecorder(store, `bench${process.pid}${ctx.n}`, mode === 'record' ? 'off' : mode === 'record+io:ts' ? 'taskstats' : 'auto');
  try {
    await sleep(300); // past the start-up scan
    await warmUp(ctx);
    const cpu0 = cpuSeconds(rec.child.pid);
    const s = storm(binPath, data, exits, every);
    await sleep(1000); // the recorder drains what the storm left (ticks every 250 ms)
    const cpu1 = cpuSeconds(rec.child.pid);
    rec.child.kill('SIGTERM');
    await rec.exited;
    const st = JSON.parse(spawnSync(process.execPath, [lantern, 'record', 'status', '--store', store, '--json'], { encoding: 'utf8' }).stdout);
    const io = st.io ?? null;
    return {
      mode,
      rate: exits / s.sec,
      stormCpuPerExit: s.cpu / exits,
      recorderCpu: cpu1 - cpu0,
      recorderCpuPerExit: (cpu1 - cpu0) / exits,
      eventsLost: st.lost?.stats ?? 0,
      io: io && {
        exits: io.exits,
        records: io.records,
        skippedNoIo: io.skippedNoIo,
        lost: io.lostKernel + io.lostQueue,
        lostKernel: io.lostKernel,
        lostQueue: io.lostQueue,
        source: io.source,
        note: io.note,
      },
    };
  } finally {
    if (rec.child.exitCode === null) rec.child.kill('SIGKILL');
  }
}

/** The benchmark: { exits, rounds, rows, detector } (see the top of this file). */
export async function runExitIo({ exits = 20000, rounds = 3, modes = ['nothing', 'record', 'record+io', 'record+io:ts', ...(haveBpftrace() ? ['bpftrace'] : [])], every = 1, warmup = 0 } = {}) {
  if (process.geteuid?.() !== 0) throw Object.assign(new Error('bench/detectors/exit-io needs root (tracefs, taskstats)'), { exitCode: 77 });
  if (!existsSync(join(root, 'dist/record/recorder.js'))) throw Object.assign(new Error('build first: npx tsc -p tsconfig.json'), { exitCode: 70 });
  if (spawnSync('gcc', ['--version']).status !== 0) throw Object.assign(new Error('gcc is needed to build the storm program'), { exitCode: 69 });
  const dir = mkdtempSync(join(tmpdir(), 'lantern-bench-exit-io-'));
  // O_DIRECT needs a disk file system: the data goes under the repository's ignored bench/out/.
  mkdirSync(join(root, 'bench/out'), { recursive: true });
  const data = mkdtempSync(join(root, 'bench/out', 'exit-io-'));
  try {
    const bin = join(dir, 'io-child');
    const cc = spawnSync('gcc', ['-O2', '-pthread', '-o', bin, source], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`gcc: ${cc.stderr}`);
    const ctx = { bin, data, exits, dir, every, warmup, n: 0 };
    const results = Object.fromEntries(modes.map((m) => [m, []]));
    for (let r = 0; r < rounds; r++) {
      const order = modes.map((_, i) => modes[(i + r) % modes.length]);
      for (const m of order) results[m].push(await round(m, ctx));
    }
    const rows = modes.map((m) => {
      const rs = results[m];
      const row = { mode: m, exitsPerSec: spread(rs.map((x) => x.rate)), stormCpuUsPerExit: spread(rs.map((x) => x.stormCpuPerExit * 1e6)) };
      if (m !== 'nothing') row.recorderCpuUsPerExit = spread(rs.map((x) => x.recorderCpuPerExit * 1e6));
      if (m.startsWith('record')) row.eventsLost = rs.reduce((a, x) => a + x.eventsLost, 0);
      if (m === 'bpftrace') {
        // The storm's processes that did I/O (every `every`-th) against the lines bpftrace printed for them.
        row.btExpected = rs.length * (Math.ceil(exits / every) + (warmup ? Math.ceil(warmup / every) : 0));
        row.btCaptured = rs.reduce((a, x) => a + x.bt.captured, 0);
        row.btLost = rs.reduce((a, x) => a + x.bt.lost, 0);
      }
      if (m.startsWith('record+io')) {
        row.ioRecords = rs.reduce((a, x) => a + (x.io?.records ?? 0), 0);
        row.ioExits = rs.reduce((a, x) => a + (x.io?.exits ?? 0), 0);
        row.ioLost = rs.reduce((a, x) => a + (x.io?.lost ?? 0), 0);
        row.ioSource = rs[0]?.io?.source ?? 'off';
        if (rs[0]?.io?.note) row.ioNote = rs[0].io.note;
      }
      return row;
    });
    // The detector's own cost: the io recorder minus the plain recorder, paired round by round;
    // the storm's extra CPU (the kernel's work at each exit, in the exiting task) beside it.
    const cost = (mode) => {
      const io = results[mode];
      if (!results.record?.length || !io?.length) return null;
      const n = Math.min(results.record.length, io.length);
      const diffs = Array.from({ length: n }, (_, i) => (io[i].recorderCpuPerExit - results.record[i].recorderCpuPerExit) * 1e6);
      const storm = Array.from({ length: n }, (_, i) => (io[i].stormCpuPerExit - results.record[i].stormCpuPerExit) * 1e6);
      const slow = results.nothing?.length ? Array.from({ length: Math.min(n, results.nothing.length) }, (_, i) => (1 - io[i].rate / results.nothing[i].rate) * 100) : [];
      const c = { source: io[0]?.io?.source ?? 'off', cpuUsPerExit: spread(diffs), stormCpuUsPerExit: spread(storm), exitRateDropPct: slow.length ? spread(slow) : null };
      if (results.bpftrace?.length) c.bpftraceCpuUsPerExit = spread(results.bpftrace.map((x) => x.recorderCpuPerExit * 1e6));
      return c;
    };
    const detector = cost('record+io');
    const fallback = cost('record+io:ts');
    return { exits, rounds, every, warmup, rows, detector, fallback };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(data, { recursive: true, force: true });
  }
}

const f1 = (s) => `${s.median.toFixed(1)} (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;
const f0 = (s) => `${Math.round(s.median)} (${Math.round(s.min)}–${Math.round(s.max)})`;

/** The table the script prints (bench/detectors/run.mjs may print it too). */
export function exitIoLines(res) {
  const who = res.every === 1 ? 'each writing 4 KiB with O_DIRECT' : `every ${res.every}th writing 4 KiB with O_DIRECT, the others no I/O`;
  const warm = res.warmup ? `, each tracer after an unmeasured storm of ${res.warmup}` : '';
  const out = [`exit storm: ${res.exits} processes ${who}, ${res.rounds} interleaved rounds${warm}; median (min–max)`];
  out.push(['mode'.padEnd(13), 'exits/s'.padEnd(22), 'storm CPU µs/exit'.padEnd(20), 'tracer CPU µs/exit'.padEnd(22), 'lost'].join(' '));
  for (const r of res.rows) {
    const lost =
      r.mode === 'nothing'
        ? ''
        : r.mode === 'bpftrace'
          ? `${r.btLost} events (its own count); ${r.btCaptured} of ${r.btExpected} storm processes printed`
          : r.mode.startsWith('record+io')
            ? `${r.eventsLost} events, ${r.ioLost} of ${r.ioExits} exit records (${r.ioRecords} io records; source ${r.ioSource}${r.ioNote ? `: ${r.ioNote}` : ''})`
            : `${r.eventsLost} events`;
    out.push([r.mode.padEnd(13), f0(r.exitsPerSec).padEnd(22), f1(r.stormCpuUsPerExit).padEnd(20), (r.recorderCpuUsPerExit ? f1(r.recorderCpuUsPerExit) : '').padEnd(22), lost].join(' '));
  }
  for (const [d, mode] of [
    [res.detector, 'record+io'],
    [res.fallback, 'record+io:ts'],
  ]) {
    if (!d) continue;
    out.push(
      `cost of the I/O detector on ${d.source} (${mode} minus record, same round): ${f1(d.cpuUsPerExit)} µs of recorder CPU per exit, storm ${f1(d.stormCpuUsPerExit)} µs CPU per exit more${d.exitRateDropPct ? `; exits/s ${f1(d.exitRateDropPct)} % below nothing` : ''}`,
    );
  }
  const d = res.detector;
  if (d?.bpftraceCpuUsPerExit) {
    const lan = d.cpuUsPerExit.median;
    const bt = d.bpftraceCpuUsPerExit.median;
    const versus = bt > 0 ? `${((lan / bt) * 100).toFixed(0)} % of it` : 'bpftrace measured 0';
    out.push(
      `goal: the I/O detector (source ${d.source}) at most half of bpftrace's cost per exit: ${lan.toFixed(1)} vs ${bt.toFixed(1)} µs, ${versus} (${lan <= bt / 2 ? 'met' : 'not met'}; Lantern stores each record in SQLite with its process's domain, bpftrace prints a line to a file)`,
    );
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const res = await runExitIo({
      exits: Number(process.env.LANTERN_BENCH_EXITS ?? 20000),
      rounds: Number(process.env.LANTERN_BENCH_ROUNDS ?? 3),
      every: Number(process.env.LANTERN_BENCH_IO_EVERY ?? 1),
      warmup: Number(process.env.LANTERN_BENCH_WARMUP ?? 0),
      ...(process.env.LANTERN_BENCH_MODES ? { modes: process.env.LANTERN_BENCH_MODES.split(',').map((m) => m.trim()) } : {}),
    });
    if (process.argv.includes('--json')) console.log(JSON.stringify(res, null, 2));
    else console.log(exitIoLines(res).join('\n'));
  } catch (e) {
    console.log(`bench/detectors/exit-io: ${e.message}`);
    process.exit(e.exitCode ?? 1);
  }
}
