#!/usr/bin/env node
// bench/access: an open storm (PROCS processes × OPENS opens of FILES small files) with nothing
// recording, with `lantern record --access` (fanotify + the syscalls backend), with a private
// auditd and a rule recording the same opens, and with bpftrace printing each open (pid, comm,
// path). Rounds are interleaved; medians are printed: opens/s, overhead against nothing, tracer
// CPU (seconds of CPU the tracer used during the storm), accesses missed and events lost.
//
// Missed: Lantern keeps one line per (domain, file, operation): every storm process runs in the
// one `… /storm` domain, so all FILES `file read DIR/tK` lines must be in that domain's list;
// bpftrace and auditd print per open, so every (pid, file) pair must appear in their output.
// Connect storm: PROCS processes × CONNECTS UDP connect()s to 127.0.0.1 on PORTS ports
// (connect.c), with nothing, with `lantern record --access-backend network`, with an auditd rule
// on connect, and with bpftrace printing each connect; missed = (port) lines absent from the
// storm's domain (Lantern) or (pid, port) pairs absent from the output (auditd, bpftrace).
// Lantern's lost: ring losses, queue drops and printed records that never arrived; its round line
// shows the kernel's account (seen = printed + duplicates + printed on a full map).
//
// Exec storm (env): BENCH_EXECS `/bin/true` execs in a shell loop, with nothing and with the
// env-name program (native/bpfenv) attached, with a small and a 4 KiB environment; the program's
// own per-exec cost is the kernel's run time / run count (BPF_ENABLE_STATS, held while measured).
//
// Env: BENCH_ROUNDS (3), BENCH_PROCS (4), BENCH_OPENS (50000 per process), BENCH_FILES (8),
// BENCH_CONNECTS (25000 per process), BENCH_PORTS (8), BENCH_EXECS (2000),
// BENCH_STORMS (open,connect,env).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, cpuSecondsOf } from '../lib.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = join(here, '..', '..');
const BIN = join(repo, 'bin', 'lantern.js');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PROCS = Number(process.env.BENCH_PROCS ?? 4);
const OPENS = Number(process.env.BENCH_OPENS ?? 50000);
const FILES = Number(process.env.BENCH_FILES ?? 8);

if (process.geteuid?.() !== 0) {
  console.log('bench/access needs root (fanotify, tracefs, audit)');
  process.exit(1);
}
for (const [p, what] of [
  ['/usr/bin/bpftrace', 'bpftrace'],
  ['/usr/sbin/auditd', 'auditd'],
  ['/usr/bin/gcc', 'gcc'],
]) {
  if (!existsSync(p)) {
    console.log(`bench/access needs ${what} (apt-get install -y ${what})`);
    process.exit(1);
  }
}
if (!existsSync(join(repo, 'dist', 'audit', 'auditd.testutil.js'))) {
  console.log('bench/access needs the compiled tree (npx tsc -p tsconfig.json)');
  process.exit(1);
}
const { startAuditd } = await import(join(repo, 'dist', 'audit', 'auditd.testutil.js'));

const work = mkdtempSync(join(tmpdir(), 'lantern-bench-access-'));
const stormBin = join(work, 'storm');
const dataDir = join(work, 'data');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let cleanup = [];

function die(msg) {
  console.log(`bench/access: ${msg}`);
  process.exitCode = 1;
}

async function main() {
  const cc = spawnSync('gcc', ['-O2', '-o', stormBin, join(here, 'storm.c')], { encoding: 'utf8' });
  if (cc.status !== 0) return die(`cannot build storm.c: ${cc.stderr}`);
  spawnSync('mkdir', ['-p', dataDir]);
  for (let i = 0; i < FILES; i++) writeFileSync(join(dataDir, `t${i}`), 'x\n');

  const modes = { none: [], lantern: [], auditd: [], bpftrace: [] };
  if (!STORMS.includes('open')) {
    if (STORMS.includes('connect')) await connectStorm();
    if (STORMS.includes('env')) await envStorm();
    return;
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const m of Object.keys(modes)) {
      if (ONLY && !ONLY.includes(m)) {
        delete modes[m];
        continue;
      }
      const res = await MODES[m](r);
      modes[m].push(res);
      console.log(`round ${r + 1} ${m.padEnd(8)} ${Math.round(res.rate)} opens/s, tracer CPU ${res.cpu.toFixed(2)} s, missed ${res.missed}, lost ${res.lost}${res.note ? ` (${res.note})` : ''}`);
    }
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const base = med(modes.none.map((x) => x.rate));
  console.log('');
  console.log(`open storm: ${PROCS} processes × ${OPENS} opens of ${FILES} files = ${PROCS * OPENS} opens; ${ROUNDS} interleaved rounds, medians`);
  console.log('mode       opens/s   overhead  tracer CPU s  missed  lost');
  const rows = {};
  for (const [m, list] of Object.entries(modes)) {
    const rate = med(list.map((x) => x.rate));
    const over = m === 'none' ? 0 : (1 - rate / base) * 100;
    rows[m] = { rate, over };
    console.log(
      `${m.padEnd(9)} ${String(Math.round(rate)).padStart(8)}   ${m === 'none' ? '     -' : `${over.toFixed(0).padStart(5)}%`}   ${med(list.map((x) => x.cpu))
        .toFixed(2)
        .padStart(10)}  ${String(med(list.map((x) => x.missed))).padStart(6)}  ${String(med(list.map((x) => x.lost))).padStart(4)}`,
    );
  }
  if (!rows.lantern || !rows.bpftrace) {
    if (STORMS.includes('connect')) await connectStorm();
    if (STORMS.includes('env')) await envStorm();
    return;
  }
  console.log(`goal: nothing missed — lantern missed ${Math.max(...modes.lantern.map((x) => x.missed))} in the worst round, lost ${Math.max(...modes.lantern.map((x) => x.lost))}`);
  console.log(
    `goal: overhead at most half of bpftrace-printf's — lantern ${rows.lantern.over.toFixed(0)}% vs bpftrace ${rows.bpftrace.over.toFixed(0)}% (half: ${(rows.bpftrace.over / 2).toFixed(0)}%)`,
  );
  if (STORMS.includes('connect')) await connectStorm();
  if (STORMS.includes('env')) await envStorm();
}

const CONNECTS = Number(process.env.BENCH_CONNECTS ?? 25000);
const PORTS = Number(process.env.BENCH_PORTS ?? 8);
const PORT0 = 40000 + (process.pid % 10000);
const STORMS = (process.env.BENCH_STORMS ?? 'open,connect,env').split(',');
const EXECS = Number(process.env.BENCH_EXECS ?? 2000);

/** EXECS execs of /bin/true with `vars` (name → value) as the whole environment; execs/s. `during` runs every 250 ms (the recorder's tick). */
async function execStorm(vars, during = () => {}) {
  const t0 = process.hrtime.bigint();
  const child = spawn('/bin/sh', ['-c', `i=0; while [ $i -lt ${EXECS} ]; do /bin/true; i=$((i+1)); done`], { env: vars, stdio: 'ignore' });
  const timer = setInterval(during, 250);
  const code = await new Promise((r) => child.once('exit', r));
  clearInterval(timer);
  if (code !== 0) throw new Error(`exec storm: sh exited ${code}`);
  return EXECS / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** The env-name program's cost per exec: execs/s without and with it, and its own run time per exec. */
async function envStorm() {
  const { loadBpfenv, kernelEnvOffsets } = await import(join(repo, 'dist', 'access', 'env-source.js'));
  const loaded = loadBpfenv();
  if ('error' in loaded) return die(loaded.error);
  const off = kernelEnvOffsets();
  if ('error' in off) return die(off.error);
  const mod = loaded.mod;
  const envs = { small: { PATH: '/usr/bin:/bin', LANG: 'C' }, '4KiB': { PATH: '/usr/bin:/bin' } };
  for (let k = 0; k < 64; k++) envs['4KiB'][`BENCH_VAR_${k}`] = 'x'.repeat(56);
  console.log('');
  console.log(`exec storm: ${EXECS} execs of /bin/true from a shell loop; ${ROUNDS} interleaved rounds, medians`);
  console.log('env     mode      execs/s  overhead  program ns/exec  records  lost');
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const [name, vars] of Object.entries(envs)) {
    const none = [];
    const on = [];
    const perExec = [];
    let records = 0;
    let lost = 0;
    for (let r = 0; r < ROUNDS; r++) {
      none.push(await execStorm(vars));
      const o = mod.open({ offsets: off.offsets, runStats: 1 });
      try {
        on.push(await execStorm(vars, () => mod.take(o.handle)));
        const st = mod.stats(o.handle);
        perExec.push(st.runCount ? st.runNs / st.runCount : NaN);
        records += st.submitted;
        lost += st.lost;
      } finally {
        mod.close(o.handle);
        mod.take(o.handle);
        mod.release(o.handle);
      }
    }
    const base = med(none);
    const rate = med(on);
    console.log(`${name.padEnd(7)} none    ${String(Math.round(base)).padStart(9)}        -`);
    console.log(
      `${name.padEnd(7)} bpfenv  ${String(Math.round(rate)).padStart(9)}   ${((1 - rate / base) * 100).toFixed(1).padStart(5)}%  ${med(perExec).toFixed(0).padStart(15)}  ${String(records).padStart(7)}  ${String(lost).padStart(4)}`,
    );
  }
  console.log(
    "(program ns/exec: the kernel's run time of the program over its runs, every exec on the machine; records and lost: summed over the rounds; the 4 MiB ring taken every 250 ms, as the recorder does)",
  );
}

function cstorm(bin) {
  const r = spawnSync(bin, [String(PROCS), String(CONNECTS), String(PORT0), String(PORTS)], { encoding: 'utf8' });
  return Number(r.stdout.trim().split(' ')[2]);
}

/** The loopback connect storm, the same four modes, interleaved. */
async function connectStorm() {
  const bin = join(work, 'cstorm');
  const cc = spawnSync('gcc', ['-O2', '-o', bin, join(here, 'connect.c')], { encoding: 'utf8' });
  if (cc.status !== 0) return die(`cannot build connect.c: ${cc.stderr}`);
  const total = PROCS * CONNECTS;
  const cmodes = {
    async none() {
      return { rate: cstorm(bin), cpu: 0, missed: 0, lost: 0 };
    },
    async lantern(round) {
      const store = join(work, `lantern-c-${round}.db`);
      const child = spawn(process.execPath, [BIN, 'record', '--store', store, '--name', `benchc${process.pid}`, '--access-backend', 'network', '--no-hung', '--no-slab'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      cleanup.push(() => child.kill('SIGKILL'));
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      await waitFor(() => /recording into/.test(err) || child.exitCode !== null, 120_000, 'lantern record');
      if (!/access backend network running/.test(err)) throw new Error(`lantern record: ${err}`);
      await sleep(500);
      const pids = [child.pid, ...childPids(child.pid)];
      const c0 = cpuSecondsOf(pids);
      const rate = cstorm(bin);
      await sleep(1000);
      const cpu = cpuSecondsOf(pids) - c0;
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
      cleanup.pop();
      const st = JSON.parse(spawnSync(process.execPath, [BIN, 'record', 'status', '--store', store, '--json'], { encoding: 'utf8' }).stdout);
      const lists = JSON.parse(spawnSync(process.execPath, [BIN, 'access', '--store', store, '--json', `* ${bin}`], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout || '[]');
      const lines = new Set(lists.flatMap((d) => d.accesses.map((a) => a.line)));
      let missed = 0;
      for (let k = 0; k < PORTS; k++) if (!lines.has(`network inet dgram connect 127.0.0.1 ${PORT0 + k}`)) missed++;
      const a = st.access;
      const d = a.detail;
      const note = `network seen ${d['network.seen']} = printed ${d['network.printed']} + duplicates ${d['network.duplicates']} + printed on a full map ${d['network.printedMapFull']}; ${d['network.records']} records arrived`;
      return { rate, cpu, missed, lost: a.backends.reduce((s, b) => s + (b.lost ?? 0), 0) + a.queueDropped + (d['network.unreceived'] ?? 0), note };
    },
    async auditd(round) {
      const dir = join(work, `audit-c-${round}`);
      spawnSync('mkdir', ['-p', dir]);
      const ad = await startAuditd(dir);
      cleanup.push(() => ad.stop());
      const key = `lbenchc${process.pid}`;
      ad.addRule(['always,exit', '-F', 'arch=b64', '-S', 'connect', '-F', `exe=${bin}`, '-k', key]);
      await sleep(300);
      const kaudit = spawnSync('pgrep', ['-x', 'kauditd'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).map(Number);
      const pids = [...(ad.child ? [ad.child.pid] : []), ...kaudit];
      const c0 = cpuSecondsOf(pids);
      const rate = cstorm(bin);
      await sleep(2000);
      const cpu = cpuSecondsOf(pids) - c0;
      await ad.stop();
      cleanup.pop();
      const text = existsSync(ad.log) ? readFileSync(ad.log, 'utf8') : '';
      const records = text.split('\n').filter((l) => l.startsWith('type=SYSCALL') && l.includes(`key="${key}"`)).length;
      return { rate, cpu, missed: records > 0 ? 0 : PORTS, lost: total - records };
    },
    async bpftrace(round) {
      const out = join(work, `bt-c-${round}.txt`);
      const child = spawn(
        '/usr/bin/bpftrace',
        [
          '-o',
          out,
          '-e',
          'tracepoint:syscalls:sys_enter_connect /comm == "cstorm"/ { $sa = (struct sockaddr_in *)uptr(args->uservaddr); printf("%d %d\\n", pid, ($sa->sin_port >> 8) | (($sa->sin_port & 0xff) << 8)); }',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      cleanup.push(() => child.kill('SIGKILL'));
      const outText = () => (existsSync(out) ? readFileSync(out, 'utf8').slice(0, 200) : '');
      await waitFor(() => /Attaching/.test(outText()) || child.exitCode !== null, 60_000, 'bpftrace');
      const c0 = cpuSeconds(child.pid);
      const rate = cstorm(bin);
      await sleep(1000);
      const cpu = cpuSeconds(child.pid) - c0;
      child.kill('SIGINT');
      // bpftrace can hang on SIGINT after a storm (seen once here): SIGKILL after 10 s.
      const hard = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await new Promise((r) => child.once('exit', r));
      clearTimeout(hard);
      cleanup.pop();
      const lines = readFileSync(out, 'utf8')
        .split('\n')
        .filter((l) => /^\d+ \d+$/.test(l));
      const ports = new Set(lines.map((l) => l.split(' ')[1]));
      return { rate, cpu, missed: Math.max(0, PORTS - ports.size), lost: total - lines.length };
    },
  };
  const res = { none: [], lantern: [], auditd: [], bpftrace: [] };
  for (let r = 0; r < ROUNDS; r++)
    for (const m of Object.keys(res)) {
      if (ONLY && !ONLY.includes(m)) continue;
      const x = await cmodes[m](r);
      res[m].push(x);
      console.log(`round ${r + 1} ${m.padEnd(8)} ${Math.round(x.rate)} connects/s, tracer CPU ${x.cpu.toFixed(2)} s, missed ${x.missed}, lost ${x.lost}${x.note ? ` (${x.note})` : ''}`);
    }
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const base = res.none.length ? med(res.none.map((x) => x.rate)) : NaN;
  console.log('');
  console.log(`connect storm: ${PROCS} processes × ${CONNECTS} UDP connects to ${PORTS} loopback ports = ${total}; ${ROUNDS} interleaved rounds, medians`);
  console.log('mode       connects/s  overhead  tracer CPU s  missed  lost');
  for (const [m, list] of Object.entries(res)) {
    if (!list.length) continue;
    const rate = med(list.map((x) => x.rate));
    console.log(
      `${m.padEnd(9)} ${String(Math.round(rate)).padStart(10)}   ${m === 'none' ? '     -' : `${((1 - rate / base) * 100).toFixed(0).padStart(5)}%`}   ${med(list.map((x) => x.cpu))
        .toFixed(2)
        .padStart(10)}  ${String(med(list.map((x) => x.missed))).padStart(6)}  ${String(med(list.map((x) => x.lost))).padStart(6)}`,
    );
  }
}

function storm() {
  const r = spawnSync(stormBin, [String(PROCS), String(OPENS), dataDir, String(FILES)], { encoding: 'utf8' });
  const [, , rate] = r.stdout.trim().split(' ').map(Number);
  return rate;
}

function childPids(pid) {
  const r = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((n) => n > 0);
}

async function waitFor(cond, ms, what) {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const ONLY = process.env.BENCH_MODES ? process.env.BENCH_MODES.split(',') : null;

const MODES = {
  async none() {
    return { rate: storm(), cpu: 0, missed: 0, lost: 0 };
  },

  async lantern(round) {
    const store = join(work, `lantern-${round}.db`);
    // BENCH_BACKEND: fanotify or syscalls alone, or `off` (the recorder without --access), to split the cost.
    const only = process.env.BENCH_BACKEND;
    const accessArgs = only === 'off' ? [] : ['--access', ...(only ? ['--access-backend', only] : [])];
    const child = spawn(process.execPath, [BIN, 'record', '--store', store, '--name', `bench${process.pid}`, ...accessArgs, '--no-hung', '--no-slab'], { stdio: ['ignore', 'ignore', 'pipe'] });
    cleanup.push(() => child.kill('SIGKILL'));
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    await waitFor(() => /recording into/.test(err) || child.exitCode !== null, 120_000, 'lantern record');
    if (only !== 'off' && !/access backend \w+ running/.test(err)) throw new Error(`lantern record: ${err}`);
    await sleep(500);
    const pids = [child.pid, ...childPids(child.pid)];
    const c0 = cpuSecondsOf(pids);
    const rate = storm();
    await sleep(1000); // let the recorder drain what the storm left queued
    const cpu = cpuSecondsOf(pids) - c0;
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
    cleanup.pop();
    const st = JSON.parse(spawnSync(process.execPath, [BIN, 'record', 'status', '--store', store, '--json'], { encoding: 'utf8' }).stdout);
    if (only === 'off' || only === 'syscalls') return { rate, cpu, missed: 0, lost: 0, note: `BENCH_BACKEND=${only}: misses not counted` };
    const lists = JSON.parse(spawnSync(process.execPath, [BIN, 'access', '--store', store, '--json', `* ${stormBin}`], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout || '[]');
    const lines = new Set(lists.flatMap((d) => d.accesses.map((a) => a.line)));
    let missed = 0;
    for (let i = 0; i < FILES; i++) if (!lines.has(`file read ${dataDir}/t${i}`)) missed++;
    const a = st.access;
    const lost = a.backends.reduce((s, b) => s + (b.lost ?? 0), 0) + a.queueDropped;
    return { rate, cpu, missed, lost, note: `fanotify merged ${a.detail['fanotify.merged'] ?? 0} in C of ${a.detail['fanotify.events'] ?? 0} events` };
  },

  async auditd(round) {
    const dir = join(work, `audit-${round}`);
    spawnSync('mkdir', ['-p', dir]);
    const ad = await startAuditd(dir);
    cleanup.push(() => ad.stop());
    const key = `lbench${process.pid}`;
    ad.addRule(['always,exit', '-F', 'arch=b64', '-S', 'openat', '-F', `dir=${dataDir}`, '-k', key]);
    await sleep(300);
    const pids = ad.child ? [ad.child.pid] : [];
    const kaudit = spawnSync('pgrep', ['-x', 'kauditd'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).map(Number);
    const c0 = cpuSecondsOf([...pids, ...kaudit]);
    const rate = storm();
    await sleep(2000);
    const cpu = cpuSecondsOf([...pids, ...kaudit]) - c0;
    await ad.stop();
    cleanup.pop();
    const seen = new Set();
    let records = 0;
    const text = existsSync(ad.log) ? readFileSync(ad.log, 'utf8') : '';
    let lastPid = null;
    for (const l of text.split('\n')) {
      if (l.startsWith('type=SYSCALL') && l.includes(`key="${key}"`)) {
        records++;
        lastPid = /\bpid=(\d+)/.exec(l)?.[1] ?? null;
      } else if (l.startsWith('type=PATH') && lastPid) {
        const name = /name="([^"]+)"/.exec(l)?.[1];
        if (name) seen.add(`${lastPid} ${name}`);
      }
    }
    const procs = new Set([...seen].map((s) => s.split(' ')[0]));
    const expected = PROCS * FILES;
    const lostLine = spawnSync('/usr/sbin/auditctl', ['-s'], { encoding: 'utf8' }).stdout.match(/lost (\d+)/);
    return { rate, cpu, missed: Math.max(0, expected - seen.size), lost: PROCS * OPENS - records, note: `${records} SYSCALL records, ${procs.size} pids, kernel lost counter ${lostLine?.[1] ?? '?'}` };
  },

  async bpftrace(round) {
    const out = join(work, `bt-${round}.txt`);
    // -o: bpftrace writes the file itself (a pipe to this process would be the bottleneck).
    const child = spawn('/usr/bin/bpftrace', ['-o', out, '-e', 'tracepoint:syscalls:sys_enter_openat /comm == "storm"/ { printf("%d %s %s\\n", pid, comm, str(args->filename)); }'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanup.push(() => child.kill('SIGKILL'));
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const outText = () => (existsSync(out) ? readFileSync(out, 'utf8').slice(0, 200) : '');
    await waitFor(() => /Attaching/.test(outText()) || child.exitCode !== null, 60_000, 'bpftrace');
    const c0 = cpuSeconds(child.pid);
    const rate = storm();
    await sleep(1000);
    const cpu = cpuSeconds(child.pid) - c0;
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
    cleanup.pop();
    const text = readFileSync(out, 'utf8');
    const seen = new Set();
    let lines = 0;
    let reported = 0;
    for (const l of text.split('\n')) {
      const m = /^(\d+) storm (.*)$/.exec(l);
      if (m) {
        if (m[2].startsWith(dataDir)) {
          lines++;
          seen.add(`${m[1]} ${m[2]}`);
        }
      }
      const lm = /Lost (\d+) events/.exec(l + err);
      if (lm) reported += Number(lm[1]);
    }
    // Lost: storm opens with no line (bpftrace's own "Lost N events" count is shown beside).
    return { rate, cpu, missed: Math.max(0, PROCS * FILES - seen.size), lost: PROCS * OPENS - lines, note: `${lines} lines, bpftrace said lost ${reported}` };
  },
};

try {
  await main();
} catch (e) {
  die(e.message);
} finally {
  for (const c of cleanup.reverse()) {
    try {
      await c();
    } catch {
      /* best effort */
    }
  }
  rmSync(work, { recursive: true, force: true });
}
