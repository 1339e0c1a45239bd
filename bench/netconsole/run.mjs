#!/usr/bin/env node
// bench/netconsole: a SysRq-T burst over loopback against `lantern netconsole listen`, against
// rsyslog's imudp writing to a file and against udplogger (the talk's C netconsole receiver, compiled
// from ../shared/anchors/udplogger/ into the temporary directory at run time, never copied here). Prints lines sent/written/lost (loss read from
// the kernel's per-socket drop counters in /proc/net/udp), throughput and peak RSS.
// Needs root (for --raise-rmem-max and rsyslog's SO_RCVBUFFORCE), gcc, rsyslog (apt-get install rsyslog);
// udplogger's row is left out, saying why, when its source is not there (NC_BENCH_UDPLOGGER_SRC).
// Besides the default output (text, UTC, per-sender files) every round runs the non-default outputs
// on the same burst: --time local, --json, --format udplogger and --stdout (files and a copy on
// standard output, redirected to a file); NC_BENCH_OUTPUTS picks them (default local,json,udplogger,stdout; '' none).
// Asserts nothing. Env: NC_BENCH_LINES (default 300000), NC_BENCH_SENDERS (default 64,1000),
// NC_BENCH_ROUNDS (default 3), NC_BENCH_QUIET_MS (default 1500: how long a file must stop growing),
// NC_BENCH_WARMUP (default 100000: lines of the warm-up burst each receiver gets first; 0 none).
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

import { dumpLines } from './sysrq-dump.mjs';
import { cpuSeconds } from '../lib.mjs';

const here = new URL('.', import.meta.url).pathname;
const repo = join(here, '..', '..');
const LINES = Number(process.env.NC_BENCH_LINES ?? 300_000);
const SENDER_COUNTS = (process.env.NC_BENCH_SENDERS ?? '64,1000').split(',').map(Number);
const RCVBUF = process.env.NC_BENCH_RCVBUF ?? '256M';
// Rounds per receiver and sender count (the median is shown): one burst lasts about half a second
// on a shared 2-core machine, where one run alone says little.
const ROUNDS = Math.max(1, Number(process.env.NC_BENCH_ROUNDS ?? 3));
const QUIET_MS = Math.max(500, Number(process.env.NC_BENCH_QUIET_MS ?? 1500));
// Every receiver first gets a warm-up burst of this many lines (0: none), written before the measured
// burst starts: the figures are then a running receiver's, not those of its first seconds (for
// Lantern's JavaScript the first burst includes compiling the hot path; the warm-up's own CPU per
// line is shown as 'cold'). The same for all three receivers.
const WARMUP = Math.max(0, Number(process.env.NC_BENCH_WARMUP ?? 100_000));
/** The non-default outputs, each a row beside the default one: listen options and what the row is called. */
const OUTPUTS = {
  local: { args: ['--time', 'local'], label: '--time local' },
  json: { args: ['--json'], label: '--json' },
  udplogger: { args: ['--format', 'udplogger'], label: '--format udplogger' },
  stdout: { args: ['--stdout'], label: '--stdout (files + stdout to a file)' },
};
const OUTPUT_NAMES = (process.env.NC_BENCH_OUTPUTS ?? Object.keys(OUTPUTS).join(','))
  .split(',')
  .filter(Boolean)
  .map((n) => {
    need(n in OUTPUTS, `NC_BENCH_OUTPUTS: unknown output ${n} (known: ${Object.keys(OUTPUTS).join(', ')})`);
    return n;
  });
// Lantern's receive path: native when built (the start-up log says which; each row names it).

function need(cond, msg) {
  if (!cond) {
    console.log(`bench/netconsole cannot run: ${msg}`);
    process.exit(1);
  }
}
need(process.getuid?.() === 0, 'needs root (rsyslog SO_RCVBUFFORCE, --raise-rmem-max)');
need(spawnSync('gcc', ['--version']).status === 0, 'gcc is missing (apt-get install gcc)');
const rsyslogd = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find(existsSync);
need(rsyslogd, 'rsyslogd is missing (apt-get install rsyslog)');
need(existsSync(join(repo, 'dist', 'netconsole', 'receiver.js')), 'not built: run npm run build');
// udplogger lives outside the project (GPLv2, kept beside the repositories as a reference receiver).
const UDPLOGGER_SRC = process.env.NC_BENCH_UDPLOGGER_SRC ?? join(repo, '..', 'shared', 'anchors', 'udplogger', 'udplogger.c');

const work = mkdtempSync(join(tmpdir(), 'lantern-bench-netconsole-'));
const started = [];
process.on('exit', () => {
  for (const p of started) if (p.exitCode === null) p.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

// ---- the burst: a SysRq-T task dump (sysrq-dump.mjs), one printk line per datagram ----

/** Write the blast file: [u16 sender][u16 len][payload]; senders below half send legacy, the rest extended. */
function makeBurst(senders, lines = LINES, name = 'burst') {
  const parts = [];
  let total = 0;
  const per = Math.floor(lines / senders);
  const extra = lines - per * senders;
  for (let s = 0; s < senders; s++) {
    const lines = dumpLines(s, per + (s < extra ? 1 : 0));
    const extended = s >= senders / 2;
    let ts = 1234_000_000 + s;
    lines.forEach((text, seq) => {
      ts += 7;
      const sec = Math.floor(ts / 1e6);
      const us = String(ts % 1e6).padStart(6, '0');
      const payload = Buffer.from(extended ? `6,${1000 + seq},${ts},-;${text}\n` : `[${String(sec).padStart(5)}.${us}] ${text}\n`);
      const head = Buffer.alloc(4);
      head.writeUInt16LE(s, 0);
      head.writeUInt16LE(payload.length, 2);
      parts.push(head, payload);
      total++;
    });
  }
  const file = join(work, `${name}-${senders}.bin`);
  writeFileSync(file, Buffer.concat(parts));
  return { file, total };
}

const blast = join(work, 'blast');
const cc = spawnSync('gcc', ['-O2', '-o', blast, join(here, 'blast.c')], { encoding: 'utf8' });
need(cc.status === 0, `gcc failed: ${cc.stderr}`);
// null when it cannot be built; its rows then say why instead of showing figures.
const udplogger = join(work, 'udplogger');
let udploggerMissing = null;
if (!existsSync(UDPLOGGER_SRC)) udploggerMissing = `source not found at ${UDPLOGGER_SRC}`;
else {
  const u = spawnSync('gcc', ['-O2', '-o', udplogger, UDPLOGGER_SRC], { encoding: 'utf8' });
  if (u.status !== 0) udploggerMissing = `gcc failed: ${u.stderr.split('\n')[0]}`;
}
// It prints its start-up line with printf to a pipe (fully buffered, lost on SIGTERM): stdbuf makes
// it line-buffered so the line can serve as the readiness signal; without stdbuf, poll for the socket.
const stdbuf = ['/usr/bin/stdbuf', '/bin/stdbuf'].find(existsSync);

/** '256M' -> bytes (the form RCVBUF is given in, which udplogger's rbuf= wants as a plain number). */
function bytesOf(size) {
  const m = /^(\d+)([KMG]?)$/i.exec(size);
  if (!m) throw new Error(`NC_BENCH_RCVBUF: not a size: ${size}`);
  return Number(m[1]) * { '': 1, K: 1024, M: 1048576, G: 1073741824 }[m[2].toUpperCase()];
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function vmHWM(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Kernel drops and queue for the UDP socket(s) bound to `port` (from /proc/net/udp and udp6). */
function udpDrops(port) {
  let drops = 0;
  for (const f of ['/proc/net/udp', '/proc/net/udp6']) {
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length >= 13 && parseInt(c[1].split(':').pop(), 16) === port) drops += Number(c[12]);
    }
  }
  return drops;
}

function countText(text, filter) {
  let n = 0;
  for (const l of text.split('\n')) if (l && filter(l)) n++;
  return n;
}

function countLines(dir, filter) {
  let n = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.log')) {
        const text = readFileSync(p, 'latin1');
        if (!filter) {
          for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
        } else for (const l of text.split('\n')) if (l && filter(l)) n++;
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return n;
}

/** Total size of the .log files under dir (cheap to poll, unlike counting lines). */
function totalSize(dir) {
  let n = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.log')) n += statSync(p).size;
    }
  };
  if (existsSync(dir)) walk(dir);
  return n;
}

/** Poll until `count()` stops growing for `quietMs` after the sender finished; returns [count, time of last growth]. */
async function settle(count, pid, quietMs = QUIET_MS) {
  let last = -1;
  let lastChange = Date.now();
  let cpuAtChange = cpuSeconds(pid);
  for (;;) {
    const n = count();
    if (n !== last) {
      last = n;
      lastChange = Date.now();
      cpuAtChange = cpuSeconds(pid); // CPU up to the last write, not the idle wait after it
    } else if (Date.now() - lastChange >= quietMs) return [last, lastChange, cpuAtChange];
    await sleep(20); // fine enough to time a burst of about half a second
  }
}

async function waitOutput(proc, pattern, getText, ms = 10000) {
  const end = Date.now() + ms;
  while (!pattern.test(getText())) {
    if (proc.exitCode !== null || Date.now() > end) throw new Error(`receiver did not start: ${getText()}`);
    await sleep(50);
  }
}

/** Wait until a UDP socket is bound to `port` (for receivers that say nothing when ready). */
async function waitSocket(proc, port, why, ms = 10000) {
  const end = Date.now() + ms;
  while (!readFileSync('/proc/net/udp', 'utf8').includes(`:${port.toString(16).toUpperCase().padStart(4, '0')} `)) {
    if (proc.exitCode !== null || Date.now() > end) throw new Error(why());
    await sleep(50);
  }
}

function runBlast(port, burst, senders) {
  const t0 = Date.now();
  const r = spawnSync(blast, ['127.0.0.1', String(port), burst.file, String(senders)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sender failed: ${r.stderr}`);
  const m = /sent=(\d+) seconds=([\d.]+) rate=(\d+)/.exec(r.stdout);
  return { t0, sent: Number(m[1]), seconds: Number(m[2]), rate: Number(m[3]) };
}

/**
 * The warm-up burst (burst.warm) into a started receiver, waited for until its output stops
 * growing: lines it wrote (count()), the kernel drops so far, and its CPU per line ('cold').
 */
async function warmUp(port, burst, senders, pid, size, count) {
  if (!burst.warm) return { lines: 0, drops: 0, cold: null };
  const c0 = cpuSeconds(pid);
  runBlast(port, burst.warm, senders);
  const [, , c1] = await settle(size, pid, Math.min(QUIET_MS, 1000));
  const lines = count();
  return { lines, drops: udpDrops(port), cold: c0 === null || c1 === null || lines === 0 ? null : ((c1 - c0) * 1e6) / lines };
}

/**
 * One receiver's round, the same for every receiver: the warm-up, then the burst, waited for until
 * the output (size()) stops growing; its lines (count()), CPU, peak RSS and kernel drops, the
 * warm-up's taken off. The receiver is stopped (SIGTERM) at the end.
 */
async function measure(p, port, burst, senders, size, count) {
  const w = await warmUp(port, burst, senders, p.pid, size, count);
  const cpu0 = cpuSeconds(p.pid);
  const s = runBlast(port, burst, senders);
  const [, tEnd, cpu1] = await settle(size, p.pid);
  const written = count() - w.lines;
  const rss = vmHWM(p.pid);
  const drops = udpDrops(port) - w.drops;
  p.kill('SIGTERM');
  await new Promise((r) => p.on('exit', r));
  return { sent: s.sent, senderRate: s.rate, written, drops, seconds: (tEnd - s.t0) / 1000, rss, cpu: cpu1 - cpu0, cold: w.cold };
}

/**
 * variant: 'native' (default receive path and output), 'dgram' (--receiver dgram), 'defaults' (no
 * buffer options), or one of OUTPUTS (the native path with that output).
 */
async function benchLantern(burst, senders, port, variant = 'native') {
  const raise = variant !== 'defaults';
  const output = OUTPUTS[variant] ?? null;
  const dir = join(work, `lantern-${senders}-${variant}-${port}`);
  const state = join(work, `lantern-state-${senders}-${variant}-${port}`);
  // --stdout: standard output goes to a file beside (not under) dir, its lines counted on their own.
  const stdoutFile = variant === 'stdout' ? join(work, `lantern-stdout-${senders}-${port}.txt`) : null;
  const buf = [...(raise ? ['--rcvbuf', RCVBUF, '--raise-rmem-max'] : []), ...(variant === 'dgram' ? ['--receiver', 'dgram'] : []), ...(output ? output.args : [])];
  const args = [join(repo, 'bin', 'lantern.js'), 'netconsole', 'listen', '-l', `127.0.0.1:${port}`, '-d', dir, '--state-dir', state, ...buf, '--stats-interval', '1s'];
  const outFd = stdoutFile ? openSync(stdoutFile, 'w') : 'ignore';
  const p = spawn(process.execPath, args, { stdio: ['ignore', outFd, 'pipe'] });
  if (typeof outFd === 'number') closeSync(outFd);
  started.push(p);
  let err = '';
  p.stderr.on('data', (d) => (err += d));
  await waitOutput(p, /writing /, () => err);
  const granted = /receive buffer (\S+ MiB) granted/.exec(err)?.[1];
  const path = /receive path: native/.test(err) ? 'native' : 'dgram';
  // Receiver lines (markers, notes) are not the burst's: text/udplogger ' -- lantern: ' and ' lantern -- ', JSON their types.
  const isData = variant === 'json' ? (l) => !l.includes('"type":"marker"') && !l.includes('"type":"lantern"') : (l) => !l.includes(' -- lantern: ') && !l.includes(' lantern -- ');
  const size = () => totalSize(dir) + (stdoutFile ? statSync(stdoutFile).size : 0);
  // With --stdout a line counts as written when it reached both the file and standard output.
  const count = () => {
    const n = countLines(dir, isData);
    return stdoutFile ? Math.min(n, countText(readFileSync(stdoutFile, 'latin1'), isData)) : n;
  };
  const m = await measure(p, port, burst, senders, size, count);
  const name = output ? `lantern ${path} ${output.label}` : `lantern ${path} (rcvbuf ${granted}${raise ? '' : ', defaults'})`;
  return { name, ...m };
}

async function benchRsyslog(burst, senders, port) {
  const dir = join(work, `rsyslog-${senders}-${port}`);
  mkdirSync(join(dir, 'work'), { recursive: true });
  const out = join(dir, 'out.log');
  const conf = join(dir, 'rsyslog.conf');
  writeFileSync(
    conf,
    `global(workDirectory="${dir}/work")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="${port}" rcvbufSize="${RCVBUF.toLowerCase()}")
template(name="raw" type="string" string="%timegenerated:::date-rfc3339% %fromhost-ip% %rawmsg%\\n")
*.* action(type="omfile" file="${out}" template="raw")
`,
  );
  const p = spawn(rsyslogd, ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
  started.push(p);
  let err = '';
  p.stderr.on('data', (d) => (err += d));
  // rsyslog prints nothing when it is ready: wait for its socket to appear.
  await waitSocket(p, port, () => `rsyslogd did not start: ${err}`);
  const m = await measure(
    p,
    port,
    burst,
    senders,
    () => totalSize(dir),
    () => countLines(dir),
  );
  return { name: 'rsyslog imudp -> omfile', ...m };
}

/**
 * udplogger: `udplogger ip= port= dir= rbuf= clients=` writes `YYYY-MM-DD HH:MM:SS ip:port line` to
 * dir/YYYY-MM-DD.log (local date; a burst across midnight makes two files, both counted). It has no
 * signal handler and flushes its stdio buffer each time the socket runs dry, so once its file has stopped
 * growing everything it received is on disk and SIGTERM loses nothing. It keeps up to `clients` senders
 * (default 1024; datagrams from further ones are dropped without a count), so it is given at least one
 * per sender of the burst.
 */
async function benchUdplogger(burst, senders, port) {
  const dir = join(work, `udplogger-${senders}-${port}`);
  mkdirSync(dir, { recursive: true });
  const rbuf = Math.min(bytesOf(RCVBUF), 1 << 30); // its own upper bound is 1 GiB
  const args = [`ip=127.0.0.1`, `port=${port}`, `dir=${dir}`, `rbuf=${rbuf}`, `clients=${Math.min(65536, Math.max(1024, senders))}`];
  const p = stdbuf ? spawn(stdbuf, ['-oL', udplogger, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(udplogger, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(p);
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (out += d));
  // The start-up line comes after bind() and after the log file is open.
  if (stdbuf) await waitOutput(p, /^Started at /m, () => out);
  else await waitSocket(p, port, () => `udplogger did not start: ${out}`);
  const granted = /rbuf=(\d+)/.exec(out)?.[1];
  const m = await measure(
    p,
    port,
    burst,
    senders,
    () => totalSize(dir),
    () => countLines(dir),
  );
  // getsockopt(SO_RCVBUF) reports twice what was set (the kernel's bookkeeping overhead).
  const label = granted ? `rbuf ${(Number(granted) / 2 / 1048576).toFixed(0)} MiB` : `rbuf=${rbuf}`;
  return { name: `udplogger (${label})`, ...m };
}

const t00 = Date.now();
const rows = [];
const goals = [];
const rsyslogVersion = (spawnSync(rsyslogd, ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '').trim();
console.log(
  `burst: ${LINES} lines of a SysRq-T task dump, half the senders legacy format, half extended; loopback; ${RCVBUF} receive buffer asked by all three; ${WARMUP ? `each receiver warmed up first with a ${WARMUP}-line burst` : 'no warm-up burst'}`,
);
console.log(
  `node ${process.version}; ${rsyslogVersion}; ${readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim()} = net.core.rmem_max; ${ROUNDS} rounds, Lantern (default output${OUTPUT_NAMES.length ? ` and ${OUTPUT_NAMES.join(', ')}` : ''}), rsyslog and udplogger taking turns`,
);
console.log(`udplogger: ${udploggerMissing ? `not run (${udploggerMissing})` : `gcc -O2 ${UDPLOGGER_SRC}, built in the temporary directory`}`);
const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const machineCpu0 = machineCpuSeconds();

/** CPU seconds of the whole machine (all CPUs, user+nice+system+irq+softirq+steal) so far, from /proc/stat. */
function machineCpuSeconds() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / 100;
}

function medianOf(values) {
  const v = values.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  return v.length ? v[Math.floor(v.length / 2)] : null;
}

const cpuPerLine = (x) => (x.cpu === null ? null : (x.cpu * 1e6) / x.written);

/** The round with the median throughput, the range over all rounds, and the median CPU per line of all rounds. */
function median(runs) {
  const sorted = [...runs].sort((a, b) => a.written / a.seconds - b.written / b.seconds);
  const m = sorted[Math.floor(sorted.length / 2)];
  const rates = sorted.map((x) => Math.round(x.written / x.seconds));
  const cpus = runs
    .map(cpuPerLine)
    .filter((c) => c !== null)
    .sort((a, b) => a - b);
  return {
    ...m,
    range: runs.length > 1 ? `${rates[0]}..${rates[rates.length - 1]}` : '',
    lostMax: Math.max(...runs.map((x) => x.sent - x.written)),
    cpuMedian: cpus.length ? cpus[Math.floor(cpus.length / 2)] : null,
    cpuRange: cpus.length > 1 ? `${cpus[0].toFixed(2)}..${cpus[cpus.length - 1].toFixed(2)}` : '',
    rssMax: Math.max(...runs.map((x) => x.rss ?? 0)),
    coldMedian: medianOf(runs.map((x) => x.cold)),
  };
}

let port = 26000;
for (const senders of SENDER_COUNTS) {
  const burst = makeBurst(senders);
  if (WARMUP > 0) burst.warm = makeBurst(senders, WARMUP, 'warmup');
  // Lantern (each output), rsyslog and udplogger take turns, so that a busy moment of the (shared) machine hits all.
  const ls = [];
  const rs = [];
  const us = [];
  const os = Object.fromEntries(OUTPUT_NAMES.map((n) => [n, []]));
  let uFailed = udploggerMissing;
  for (let i = 0; i < ROUNDS; i++) {
    ls.push(await benchLantern(burst, senders, port++));
    rs.push(await benchRsyslog(burst, senders, port++));
    if (!uFailed) {
      try {
        us.push(await benchUdplogger(burst, senders, port++));
      } catch (e) {
        uFailed = e.message.split('\n')[0];
      }
    }
    for (const n of OUTPUT_NAMES) os[n].push(await benchLantern(burst, senders, port++, n));
  }
  const l = median(ls);
  const r = median(rs);
  const o = OUTPUT_NAMES.map((n) => [n, median(os[n])]);
  // A configuration udplogger cannot run in gets a row that says so rather than no row.
  const u = uFailed ? { name: `udplogger: not run (${uFailed})`, failed: true } : median(us);
  // The first sender count also runs the pure-Node fallback (--receiver dgram) and Lantern's
  // defaults (no --rcvbuf / --raise-rmem-max: 32 MiB, forced past rmem_max by the native path as root), once.
  const g = senders === SENDER_COUNTS[0] ? await benchLantern(burst, senders, port++, 'dgram') : null;
  const d = senders === SENDER_COUNTS[0] ? await benchLantern(burst, senders, port++, 'defaults') : null;
  for (const x of [l, ...o.map(([, x]) => x), g, r, u, d]) if (x) rows.push({ senders, ...x });
  if (g) goals.push(`pure-Node fallback (--receiver dgram), ${senders} senders: lost ${g.sent - g.written}, ${Math.round(g.written / g.seconds)} lines/s`);
  if (senders === 64) {
    goals.push(`goal: 0 lines lost with 64 senders: lantern lost at most ${l.lostMax} in ${ROUNDS} rounds; rsyslog at most ${r.lostMax}; udplogger ${u.failed ? 'not run' : `at most ${u.lostMax}`}`);
    goals.push(
      `goal: throughput >= rsyslog (median of ${ROUNDS}): lantern ${Math.round(l.written / l.seconds)} lines/s vs rsyslog ${Math.round(r.written / r.seconds)} lines/s; Lantern ahead in ${ls.filter((x, i) => x.written / x.seconds >= rs[i].written / rs[i].seconds).length} of ${ROUNDS} rounds`,
    );
  }
  const fmt = (c) => (c === null || c === undefined ? '?' : c.toFixed(2));
  goals.push(`CPU µs/line, ${senders} senders (median of ${ROUNDS} rounds): lantern ${fmt(l.cpuMedian)}, udplogger ${u.failed ? '?' : fmt(u.cpuMedian)}, rsyslog ${fmt(r.cpuMedian)}`);
  goals.push(`goal: <= 1.0 µs/line, ${senders} senders, 0 lost: lantern ${fmt(l.cpuMedian)} µs/line (rounds ${l.cpuRange}), lost at most ${l.lostMax}`);
  for (const [n, x] of o) {
    const ratio = l.cpuMedian && x.cpuMedian !== null ? (x.cpuMedian / l.cpuMedian).toFixed(2) : '?';
    goals.push(
      `goal: ${OUTPUTS[n].label} within 1.3x of the default, ${senders} senders: ${fmt(x.cpuMedian)} vs ${fmt(l.cpuMedian)} µs/line = ${ratio}x, lost at most ${x.lostMax}, peak RSS ${(x.rssMax / 1048576).toFixed(1)} MiB`,
    );
  }
  if (senders === 1000) goals.push(`goal: RSS < 150 MiB with 1000 senders: lantern peak RSS ${(l.rssMax / 1048576).toFixed(1)} MiB (highest of ${ROUNDS} rounds)`);
}
const machineCpu = machineCpuSeconds() - machineCpu0;
goals.push(
  `machine: load average ${load0} before, ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} after; the CPUs were ${((100 * machineCpu) / (((Date.now() - t00) / 1000) * cpus().length)).toFixed(0)}% busy over the run (this benchmark included, ${cpus().length} CPUs)`,
);

const hdr = [
  'senders',
  'receiver',
  'lines sent',
  'written',
  'lost',
  'kernel drops',
  'sender rate/s',
  'seconds',
  'lines/s',
  'range of rounds',
  'CPU µs/line',
  'CPU median',
  'CPU range',
  'cold',
  'peak RSS',
];
const table = rows.map((x) =>
  x.failed
    ? [String(x.senders), x.name, ...Array(hdr.length - 2).fill('-')]
    : [
        String(x.senders),
        x.name,
        String(x.sent),
        String(x.written),
        String(x.sent - x.written),
        String(x.drops),
        String(x.senderRate),
        x.seconds.toFixed(2),
        String(Math.round(x.written / x.seconds)),
        x.range ?? '',
        x.cpu === null ? '?' : ((x.cpu * 1e6) / x.written).toFixed(2),
        x.cpuMedian === null || x.cpuMedian === undefined ? '' : x.cpuMedian.toFixed(2),
        x.cpuRange ?? '',
        x.coldMedian !== null && x.coldMedian !== undefined ? x.coldMedian.toFixed(2) : x.cold !== null && x.cold !== undefined ? x.cold.toFixed(2) : '',
        x.rss ? `${(x.rss / 1048576).toFixed(1)} MiB` : '?',
      ],
);
const widths = hdr.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
console.log(hdr.map((h, i) => h.padEnd(widths[i])).join('  '));
for (const r of table) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));
console.log('(Lantern, rsyslog and udplogger rows: the round with the median lines/s; range: lines/s of the slowest and fastest round.');
console.log(' seconds: from the first datagram sent until the last line reached the file; lost = sent - written;');
console.log(' CPU µs/line: user+system CPU of the receiver process, all threads, from the burst to the last write / lines written,');
console.log(' of the median round; CPU median / range: the same over all rounds; cold: CPU µs/line of the warm-up burst, median of the rounds;');
console.log(' peak RSS: of the median round, warm-up included)');
for (const g of goals) console.log(g);
