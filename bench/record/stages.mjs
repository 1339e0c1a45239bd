#!/usr/bin/env node
// bench/record/stages: where the recorder's CPU per exec goes, stage by stage. A real exec storm
// (fork+exec of /bin/true from parallel shell workers) is traced by a private tracefs instance
// with the recorder's events and filters; its raw per-CPU pages are kept in memory. Then the
// recorder's pipeline is replayed on those pages, each stage timed on its own (process.cpuUsage,
// median of LANTERN_BENCH_REPEAT replays, each on fresh state): decode the pages, merge CPUs by
// time, run the process model (domains interned in a real store), and write the records to a
// real SQLite store in batches of one poll interval each. The kernel's side (ftrace, read(2) of
// the pipes) is not replayed: compare the total with the tracer CPU of `npm run bench -- record`.
// Not a test: it asserts nothing. Needs root.
//
//   node bench/record/stages.mjs               20,000 execs, 2 workers, 5 replays (after npx tsc)
//   LANTERN_BENCH_EXECS=10000 LANTERN_BENCH_REPEAT=9 node bench/record/stages.mjs
import { spawn } from 'node:child_process';
import { mkdtempSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const EXECS = Number(process.env.LANTERN_BENCH_EXECS ?? 20000);
const WORKERS = Number(process.env.LANTERN_BENCH_WORKERS ?? 2);
const REPEAT = Number(process.env.LANTERN_BENCH_REPEAT ?? 5);
/** Records per store batch: one 250 ms poll of a storm of ~4,000 execs/s (2 records each). */
const BATCHES = (process.env.LANTERN_BENCH_BATCH ?? '2000').split(',').map(Number);
const BATCH = BATCHES[0];
if (process.geteuid?.() !== 0) {
  console.log('bench/record/stages needs root (tracefs)');
  process.exit(77);
}
const { TraceInstance } = await import(join(root, 'dist/record/tracefs/instance.js'));
const { decodePage } = await import(join(root, 'dist/record/tracefs/decode.js'));
const { RECORD_EVENTS } = await import(join(root, 'dist/record/recorder.js'));
const { ProcessModel } = await import(join(root, 'dist/record/process/model.js'));
const { liveClocks, ProgramNamer, scanProc, uidOf } = await import(join(root, 'dist/record/process/procfs.js'));
const { Store } = await import(join(root, 'dist/record/store/store.js'));
const { Host } = await import(join(root, 'dist/host/host.js'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dir = mkdtempSync(join(tmpdir(), 'lantern-bench-stages-'));
const host = new Host();
const perWorker = Math.ceil(EXECS / WORKERS);
const expected = perWorker * WORKERS;

/** Capture: the storm under a private instance; raw pages copied out every 50 ms. */
async function capture() {
  const inst = TraceInstance.create({ name: `stages${process.pid}`, bufferKb: 4096, events: RECORD_EVENTS.map((e) => ({ ...e })), host });
  const pages = [];
  const buf = Buffer.alloc(inst.pageSize);
  const drain = () => {
    for (const [cpu, fd] of inst.fds) {
      for (;;) {
        let n;
        try {
          n = readSync(fd, buf, 0, buf.length, null);
        } catch (e) {
          if (e.code === 'EAGAIN') break;
          throw e;
        }
        if (n <= 0) break;
        pages.push({ cpu, n, page: Buffer.from(buf.subarray(0, n)) });
      }
    }
  };
  try {
    const clocks = liveClocks(host, inst.clock);
    const scan = scanProc(host, clocks);
    const timer = setInterval(drain, 50);
    const done = [];
    for (let w = 0; w < WORKERS; w++) {
      const child = spawn('/bin/sh', ['-c', `i=0; while [ $i -lt ${perWorker} ]; do /bin/true; i=$((i+1)); done`], { stdio: 'ignore' });
      done.push(new Promise((r) => child.on('exit', r)));
    }
    await Promise.all(done);
    await sleep(200);
    clearInterval(timer);
    drain();
    const stats = inst.stats(host);
    return { inst, pages, scan, clocks, lost: stats.reduce((n, s) => n + s.overrun + s.dropped, 0) };
  } finally {
    inst.destroy();
  }
}

const cpuUs = (f) => {
  const c0 = process.cpuUsage();
  const r = f();
  const c = process.cpuUsage(c0);
  return { us: c.user + c.system, r };
};
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

/** One replay on fresh state: each stage's CPU in µs, and what it produced. */
function replay(cap, round) {
  const { inst, pages, scan, clocks } = cap;
  const decoded = cpuUs(() => {
    const out = [];
    for (const p of pages) decodePage(p.page, p.n, inst.pageLayout, inst.headerLayout, inst.types, p.cpu, out);
    return out;
  });
  const events = decoded.r;
  const merged = cpuUs(() => events.sort((a, b) => a.ts - b.ts));
  const storePath = join(dir, `r${round}.db`);
  const store = Store.open(storePath);
  const namer = new ProgramNamer(host);
  const model = new ProcessModel({
    domains: store,
    nextId: () => store.nextId(),
    toWallUs: (ts) => clocks.toWallUs(ts),
    normalizeProgram: (pid, filename) => namer.name(pid, filename),
    uidOf: (pid) => uidOf(host, pid),
    credsTraced: true,
  });
  store.write(model.seed(scan));
  const modelled = cpuUs(() => {
    const out = [];
    for (const ev of events) for (const r of model.handle(ev)) out.push(r);
    return out;
  });
  const records = modelled.r;
  const stored = cpuUs(() => {
    let n = 0;
    for (let i = 0; i < records.length; i += BATCH) n += store.write(records.slice(i, i + BATCH));
    return n;
  });
  store.close();
  rmSync(storePath, { force: true });
  // Other batch sizes (LANTERN_BENCH_BATCH=2000,8000): the same records again into a fresh store.
  const other = {};
  for (const b of BATCHES.slice(1)) {
    const s2 = Store.open(storePath);
    other[`store/${b}`] = cpuUs(() => {
      for (let i = 0; i < records.length; i += b) s2.write(records.slice(i, i + b));
    }).us;
    s2.close();
    rmSync(storePath, { force: true });
  }
  return {
    ...other,
    decode: decoded.us,
    merge: merged.us,
    model: modelled.us,
    store: stored.us,
    events: events.length,
    records: records.length,
    written: stored.r,
    execs: records.filter((r) => r.type === 'exec').length,
  };
}

try {
  const cap = await capture();
  const bytes = cap.pages.reduce((n, p) => n + p.n, 0);
  console.log(
    `captured ${expected} execs of /bin/true from ${WORKERS} workers: ${cap.pages.length} pages, ${(bytes / 1024).toFixed(0)} KiB, lost ${cap.lost}; ${REPEAT} replays, store batches of ${BATCH} records`,
  );
  const runs = [];
  for (let i = 0; i < REPEAT; i++) runs.push(replay(cap, i));
  const r0 = runs[0];
  console.log(`per replay: ${r0.events} events (${(r0.events / expected).toFixed(2)} per exec), ${r0.records} records (${r0.execs} exec), ${r0.written} written`);
  const stages = ['decode', 'merge', 'model', 'store'];
  const extra = BATCHES.slice(1).map((b) => `store/${b}`);
  const rows = [['stage', 'µs/exec median', 'min–max']];
  let total = 0;
  for (const s of stages) {
    const per = runs.map((r) => r[s] / expected);
    total += median(per);
    rows.push([s, median(per).toFixed(2), `${Math.min(...per).toFixed(2)}–${Math.max(...per).toFixed(2)}`]);
  }
  rows.push(['total (sum of medians)', total.toFixed(2), '']);
  for (const s of extra) {
    const per = runs.map((r) => r[s] / expected);
    rows.push([`${s} (batches of ${s.slice(6)})`, median(per).toFixed(2), `${Math.min(...per).toFixed(2)}–${Math.max(...per).toFixed(2)}`]);
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(r.map((c, i) => (i ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  '));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
