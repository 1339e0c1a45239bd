#!/usr/bin/env node
// bench/fleet: a simulated fleet on loopback through `lantern netconsole listen` (one receiver, and
// two sharing the port with --reuse-port), each receiver's files forwarded by `lantern forward` to a
// local rsyslogd and a Loki push endpoint at once. Prints, per configuration (medians of
// interleaved rounds): datagrams/s the fleet reached, lines lost (kernel drops; every line
// accounted for), receiver CPU per line, receiver peak RSS and memory per sender, and the forward
// lag (from the end of the burst until every line is at rsyslog and at Loki).
// Reports numbers; asserts nothing. Env: FLEET_SENDERS (5000), FLEET_BG (20 lines each),
// FLEET_BURST_SENDERS (200), FLEET_BURST_LINES (500), FLEET_ROUNDS (3).
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds } from '../lib.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = join(here, '..', '..');
const BIN = join(repo, 'bin', 'lantern.js');
const kit = await import(join(repo, 'dist', 'forward', 'testkit.js'));

const SENDERS = Number(process.env.FLEET_SENDERS ?? 5000);
const BG = Number(process.env.FLEET_BG ?? 20);
const BURST_SENDERS = Number(process.env.FLEET_BURST_SENDERS ?? 200);
const BURST_LINES = Number(process.env.FLEET_BURST_LINES ?? 500);
const ROUNDS = Number(process.env.FLEET_ROUNDS ?? 3);
const TOTAL = SENDERS * BG + BURST_SENDERS * BURST_LINES;

const missing = kit.rsyslogMissing();
if (missing) {
  console.log(`bench/fleet: skipped: ${missing}`);
  process.exit(0);
}
const work = mkdtempSync(join(tmpdir(), 'lantern-bench-fleet-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const fleetBin = join(work, 'fleet');
const cc = spawnSync('gcc', ['-O2', '-o', fleetBin, join(here, 'fleet.c')], { encoding: 'utf8' });
if (cc.status !== 0) {
  console.log(`bench/fleet: cannot compile fleet.c: ${cc.stderr}`);
  process.exit(0);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
function statusKb(pid, key) {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}
async function until(cond, ms) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

async function round(receivers, tag) {
  const root = mkdtempSync(join(work, `${tag}-`));
  const rs = await kit.startRsyslog();
  const loki = await kit.startLokiStandIn();
  const port = await kit.freePort();
  const rx = [];
  for (let i = 0; i < receivers; i++) {
    const args = [
      BIN,
      'netconsole',
      'listen',
      '-l',
      `127.0.0.1:${port}`,
      '-d',
      join(root, `out${i}`),
      '--state-dir',
      join(root, `state${i}`),
      '--combined',
      '--receiver',
      'native',
      '--max-open-files',
      '8192',
      ...(receivers > 1 ? ['--reuse-port'] : []),
    ];
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    await until(() => err.includes('writing ') || p.exitCode !== null, 20_000);
    if (p.exitCode !== null) throw new Error(`receiver did not start: ${err}`);
    rx.push({ p, dir: join(root, `out${i}`), state: join(root, `state${i}`) });
  }
  const fwd = rx.map((r, i) =>
    spawn(
      process.execPath,
      [BIN, 'forward', r.dir, '--to', `syslog+tcp://127.0.0.1:${rs.port}`, '--to', `loki+http://127.0.0.1:${loki.port}`, '--state-dir', join(root, `fwd${i}`), '--settle', '500ms'],
      { stdio: 'ignore' },
    ),
  );
  const rssBefore = rx.reduce((a, r) => a + statusKb(r.p.pid, 'VmRSS'), 0);
  const cpuBefore = rx.map((r) => cpuSeconds(r.p.pid));
  const t0 = Date.now();
  // One socket per sender: the fleet needs SENDERS descriptors (this machine's hard limit is 20,000).
  const out = spawnSync(fleetBin, [String(port), String(SENDERS), String(BG), String(BURST_SENDERS), String(BURST_LINES)], { encoding: 'utf8' });
  const tSent = Date.now();
  const m = /sent=(\d+) seconds=([\d.]+) rate=(\d+)/.exec(out.stdout ?? '');
  if (!m) throw new Error(`fleet failed: ${out.stderr}`);
  const stats = () =>
    rx.map((r) => {
      try {
        r.p.kill('SIGUSR1');
        return JSON.parse(readFileSync(join(r.state, 'stats.json'), 'utf8')).counters;
      } catch {
        return {};
      }
    });
  let c = [];
  // Stats every 250 ms (each SIGUSR1 makes the receiver write stats.json: not free).
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(250)) {
    c = stats();
    if (c.reduce((a, x) => a + (x.lines ?? 0) + (x.kernelDrops ?? 0), 0) >= TOTAL) break;
  }
  await sleep(300);
  c = stats();
  const tRx = Date.now();
  const cpu = rx.reduce((a, r, i) => a + cpuSeconds(r.p.pid) - cpuBefore[i], 0);
  const hwm = rx.reduce((a, r) => a + statusKb(r.p.pid, 'VmHWM'), 0);
  const lines = c.reduce((a, x) => a + (x.lines ?? 0), 0);
  const drops = c.reduce((a, x) => a + (x.kernelDrops ?? 0), 0);
  const lokiCount = () => [...loki.streams.values()].reduce((a, v) => a + v.length, 0);
  // rsyslog's file is counted incrementally (re-reading 30 MB every poll would cost more CPU than the forwarder).
  let rsSeen = 0;
  let rsAt = 0;
  const rsCount = () => {
    if (!existsSync(rs.out)) return rsSeen;
    const fd = openSync(rs.out, 'r');
    try {
      const buf = Buffer.alloc(1 << 20);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, rsAt);
        if (n <= 0) break;
        const end = buf.lastIndexOf(0x0a, n - 1);
        if (end < 0) break;
        for (let i = 0; i <= end; i++) if (buf[i] === 0x0a) rsSeen++;
        rsAt += end + 1;
      }
    } finally {
      closeSync(fd);
    }
    return rsSeen;
  };
  for (const deadline = Date.now() + 180_000; Date.now() < deadline && !(rsCount() >= lines && lokiCount() >= lines);) await sleep(250);
  const tFwd = Date.now();
  for (const f of fwd) f.kill('SIGTERM');
  for (const r of rx) r.p.kill('SIGTERM');
  await Promise.all([...fwd, ...rx.map((r) => r.p)].map((p) => (p.exitCode !== null ? null : new Promise((res) => p.once('exit', res)))));
  const result = {
    rate: Number(m[3]),
    sent: Number(m[1]),
    lines,
    lost: Number(m[1]) - lines,
    drops,
    cpuUsPerLine: (cpu * 1e6) / Math.max(1, lines),
    hwmMiB: hwm / 1024,
    perSenderKiB: Math.max(0, hwm - rssBefore) / SENDERS,
    rxLagS: (tRx - tSent) / 1000,
    fwdLagS: (tFwd - tSent) / 1000,
    atRsyslog: rsCount(),
    atLoki: lokiCount(),
    wallS: (tSent - t0) / 1000,
  };
  await rs.stop();
  await loki.close();
  rmSync(root, { recursive: true, force: true });
  return result;
}

console.log(
  `fleet: ${SENDERS} senders (127.1.x.y) × ${BG} background lines + a synchronized burst of ${BURST_SENDERS} senders × ${BURST_LINES} lines = ${TOTAL} lines per round; ${ROUNDS} interleaved rounds`,
);
const configs = [
  { name: '1 receiver', n: 1 },
  { name: '2 receivers (--reuse-port)', n: 2 },
];
const results = Object.fromEntries(configs.map((c) => [c.name, []]));
for (let r = 0; r < ROUNDS; r++)
  for (const c of r % 2 ? [...configs].reverse() : configs) {
    const x = await round(c.n, c.n === 1 ? 'one' : 'two');
    results[c.name].push(x);
    console.log(
      `  round ${r + 1} ${c.name}: ${x.rate} datagrams/s, ${x.lines}/${x.sent} lines (${x.drops} kernel drops), ${x.cpuUsPerLine.toFixed(2)} µs CPU/line, RSS ${x.hwmMiB.toFixed(0)} MiB, forward lag ${x.fwdLagS.toFixed(1)} s (rsyslog ${x.atRsyslog}, Loki ${x.atLoki})`,
    );
  }
const col = (name, f, d = 1) => median(results[name].map(f)).toFixed(d);
console.log(
  '\n| configuration | datagrams/s sent | lines lost | kernel drops | receiver CPU µs/line | peak RSS MiB (all receivers) | KiB per sender | receive lag s | forward lag s (rsyslog + Loki) |',
);
console.log('|---|---|---|---|---|---|---|---|---|');
for (const c of configs)
  console.log(
    `| ${c.name} | ${col(c.name, (x) => x.rate, 0)} | ${col(c.name, (x) => x.lost, 0)} | ${col(c.name, (x) => x.drops, 0)} | ${col(c.name, (x) => x.cpuUsPerLine, 2)} | ${col(c.name, (x) => x.hwmMiB, 0)} | ${col(c.name, (x) => x.perSenderKiB, 2)} | ${col(c.name, (x) => x.rxLagS, 1)} | ${col(c.name, (x) => x.fwdLagS, 1)} |`,
  );
const one = results['1 receiver'];
const cpu = median(one.map((x) => x.cpuUsPerLine));
console.log(`\nOne receiver's CPU ceiling on this machine: about ${Math.round(1e6 / cpu).toLocaleString('en')} lines/s per core at ${cpu.toFixed(2)} µs/line.`);
