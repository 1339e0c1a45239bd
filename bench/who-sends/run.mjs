#!/usr/bin/env node
// bench/who-sends: a UDP send storm (storm.c: WORKERS processes, ~500,000 sendto() to 127.0.0.1 in
// all) run four ways: with nothing attached; with `lantern who-sends` watching a port that is not
// the storm's (the in-kernel filter drops every send); with who-sends watching the storm's port
// (each sender is printed at its first send, every send counted in the kernel); and with a bpftrace one-liner
// printing every send (pid, comm, port) to a file. Modes are interleaved round by round (the order
// rotates), figures are medians over rounds, overheads paired with the same round's baseline.
// Prints sends/s, overhead, events seen versus sends made, events lost. Asserts nothing.
//
//   npm run bench -- who-sends                  3 rounds, 4 workers, 500,000 sends
//   LANTERN_BENCH_SENDS=100000 LANTERN_BENCH_ROUNDS=1 npm run bench -- who-sends
//   LANTERN_BENCH_MODES=nothing,other           only these (nothing, other, target, bpftrace)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const bin = join(root, 'bin/lantern.js');
const SENDS = Number(process.env.LANTERN_BENCH_SENDS ?? 500000);
const WORKERS = Number(process.env.LANTERN_BENCH_WORKERS ?? 4);
const ROUNDS = Number(process.env.LANTERN_BENCH_ROUNDS ?? 3);
const MODES = (process.env.LANTERN_BENCH_MODES ?? 'nothing,other,target,bpftrace').split(',').map((m) => m.trim());
const perWorker = Math.ceil(SENDS / WORKERS);
const expected = perWorker * WORKERS;
const PORT = 47000 + Math.floor(Math.random() * 1000);
const OTHER = PORT + 1;

if (process.geteuid?.() !== 0) {
  console.log('bench/who-sends needs root (bpftrace)');
  process.exit(77);
}
if (!existsSync(join(root, 'dist/whosends/cli.js'))) {
  console.log('build first: npm run build');
  process.exit(70);
}
const bpftrace = ['/usr/bin/bpftrace', '/usr/sbin/bpftrace'].find((p) => existsSync(p));
if (!bpftrace) {
  console.log('bench/who-sends needs bpftrace (apt-get install bpftrace)');
  process.exit(69);
}
const work = mkdtempSync(join(tmpdir(), 'lantern-bench-ws-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const storm = join(work, 'storm');
const cc = spawnSync('cc', ['-O2', '-o', storm, new URL('./storm.c', import.meta.url).pathname], { encoding: 'utf8' });
if (cc.status !== 0) {
  console.log(`cannot build storm.c: ${cc.stderr}`);
  process.exit(69);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function runStorm() {
  const r = spawnSync(storm, [String(PORT), String(WORKERS), String(perWorker)], { encoding: 'utf8' });
  const [sent, secs, failed] = r.stdout.trim().split(' ').map(Number);
  return { sent, secs, failed };
}

/** Starts a tracer, waits until it is attached; returns {stop() → {events, lost}}. */
async function startTracer(mode) {
  if (mode === 'other' || mode === 'target') {
    const port = mode === 'other' ? OTHER : PORT;
    const child = spawn(process.execPath, [bin, 'who-sends', 'udp', `127.0.0.1:${port}`, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let events = 0;
    let tail = '';
    let summary = null;
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      const text = tail + d.toString();
      const lines = text.split('\n');
      tail = lines.pop();
      for (const l of lines) {
        if (l.startsWith('{"type":"send"')) events++;
        else if (l.startsWith('{"type":"summary"')) summary = JSON.parse(l);
      }
    });
    const exit = new Promise((r) => child.once('exit', r));
    while (!/watching/.test(err)) {
      if (child.exitCode !== null) throw new Error(`who-sends did not start: ${err}`);
      await sleep(50);
    }
    return {
      pid: child.pid,
      async stop() {
        child.kill('SIGINT');
        await exit;
        if (tail.startsWith('{"type":"summary"')) summary = JSON.parse(tail);
        return { events, counted: summary?.sends ?? NaN, lost: summary?.lost ?? NaN };
      },
    };
  }
  // bpftrace printing every send with its destination port, as an administrator would write it.
  const out = join(work, 'bt.out');
  const prog =
    'tracepoint:syscalls:sys_enter_sendto /args->addr != 0/ { $sa = (struct sockaddr_in *)uptr(args->addr); printf("%d %s %d\\n", pid, comm, $sa->sin_port); } BEGIN { printf("ready\\n"); }';
  const child = spawn('sh', ['-c', `exec "${bpftrace}" -e '${prog}' > "${out}" 2> "${out}.err"`], { stdio: 'ignore' });
  const exit = new Promise((r) => child.once('exit', r));
  while (!(existsSync(out) && readFileSync(out, 'utf8').includes('ready'))) {
    if (child.exitCode !== null) throw new Error(`bpftrace did not start: ${readFileSync(`${out}.err`, 'utf8')}`);
    await sleep(50);
  }
  return {
    pid: child.pid,
    async stop() {
      child.kill('SIGINT');
      await exit;
      const text = readFileSync(out, 'utf8');
      const portBe = ((PORT & 0xff) << 8) | (PORT >> 8);
      let events = 0;
      for (const l of text.split('\n')) if (l.endsWith(` ${portBe}`)) events++;
      const lost = [...text.matchAll(/Lost (\d+) events/g)].reduce((s, m) => s + Number(m[1]), 0);
      rmSync(out, { force: true });
      return { events, counted: events, lost };
    },
  };
}

const results = Object.fromEntries(MODES.map((m) => [m, []]));
const baselines = [];
for (let round = 0; round < ROUNDS; round++) {
  const order = MODES.map((_, i) => MODES[(i + round) % MODES.length]);
  let base = null;
  const rows = {};
  for (const mode of order) {
    const tracer = mode === 'nothing' ? null : await startTracer(mode);
    await sleep(300);
    const r = runStorm();
    await sleep(mode === 'nothing' ? 0 : 1000); // let the tracer read what is in flight
    const t = tracer ? await tracer.stop() : { events: null, counted: null, lost: null };
    rows[mode] = { rate: r.sent / r.secs, sent: r.sent, failed: r.failed, ...t };
    if (mode === 'nothing') base = rows[mode].rate;
  }
  for (const mode of MODES) results[mode].push({ ...rows[mode], base });
  baselines.push(base);
  console.log(
    `round ${round + 1}: ${order.map((m) => `${m} ${Math.round(rows[m].rate)}/s${rows[m].events !== null ? ` (${rows[m].events} printed, ${rows[m].counted} counted, ${rows[m].lost} lost)` : ''}`).join(', ')}`,
  );
}

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};
const label = {
  nothing: 'nothing attached',
  other: `who-sends udp 127.0.0.1:${OTHER} (not the storm's port)`,
  target: `who-sends udp 127.0.0.1:${PORT} (the storm's port)`,
  bpftrace: 'bpftrace printing every sendto',
};
console.log(`\nUDP send storm: ${expected.toLocaleString('en')} sendto() from ${WORKERS} processes, ${ROUNDS} rounds, medians`);
console.log(`${'mode'.padEnd(52)} ${'sends/s'.padStart(10)} ${'overhead'.padStart(9)} ${'printed'.padStart(9)} ${'counted'.padStart(9)} ${'expected'.padStart(9)} ${'lost'.padStart(8)}`);
for (const mode of MODES) {
  const rs = results[mode];
  const rate = median(rs.map((r) => r.rate));
  const over = mode === 'nothing' ? '' : `${median(rs.map((r) => (1 - r.rate / r.base) * 100)).toFixed(0)} %`;
  const exp = mode === 'nothing' ? '' : mode === 'other' ? '0' : String(expected);
  console.log(
    `${label[mode].padEnd(52)} ${String(Math.round(rate)).padStart(10)} ${over.padStart(9)} ${(mode === 'nothing' ? '' : String(median(rs.map((r) => r.events)))).padStart(9)} ${(mode === 'nothing' ? '' : String(median(rs.map((r) => r.counted)))).padStart(9)} ${exp.padStart(9)} ${(mode === 'nothing' ? '' : String(median(rs.map((r) => r.lost)))).padStart(8)}`,
  );
}
if (results.other && results.bpftrace) {
  const o = median(results.other.map((r) => 1 - r.rate / r.base));
  const b = median(results.bpftrace.map((r) => 1 - r.rate / r.base));
  console.log(`goal: who-sends on another port costs less than bpftrace printing every send: ${(o * 100).toFixed(0)} % vs ${(b * 100).toFixed(0)} %`);
}
