#!/usr/bin/env node
// bench/console: a console burst (a SysRq-T task dump, CR LF line ends as a serial console sends
// them) captured three ways, taking turns round by round (the median round is shown):
//   - over TCP, one source: the converter (socat) connects and sends the whole burst at once;
//   - over UDP from 64 sources (one line per datagram, the netconsole benchmark's C sender);
// into `lantern console listen` (tcp-listen / udp source), `socat … | ts` into a file (moreutils),
// and rsyslog imtcp / imudp -> omfile when rsyslogd is installed. Prints lines written, lost,
// lines/s (first byte sent to the last line written) and receiver CPU per line (user + system of
// every receiving process). Asserts nothing.
// Env: CONSOLE_BENCH_LINES (default 1000000), CONSOLE_BENCH_ROUNDS (3), CONSOLE_BENCH_UDP_SENDERS (64),
// CONSOLE_BENCH_SCENARIOS (tcp,udp).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { dumpLines } from '../netconsole/sysrq-dump.mjs';

const here = new URL('.', import.meta.url).pathname;
const repo = join(here, '..', '..');
const LINES = Number(process.env.CONSOLE_BENCH_LINES ?? 1_000_000);
const ROUNDS = Math.max(1, Number(process.env.CONSOLE_BENCH_ROUNDS ?? 3));
const UDP_SENDERS = Number(process.env.CONSOLE_BENCH_UDP_SENDERS ?? 64);
const SCENARIOS = (process.env.CONSOLE_BENCH_SCENARIOS ?? 'tcp,udp').split(',');

function need(cond, msg) {
  if (!cond) {
    console.log(`bench/console cannot run: ${msg}`);
    process.exit(1);
  }
}
need(existsSync(join(repo, 'dist', 'console', 'receiver.js')), 'not built: run npm run build');
need(spawnSync('socat', ['-V']).status === 0, 'socat is missing (apt-get install socat)');
need(spawnSync('sh', ['-c', 'command -v ts']).status === 0, 'ts is missing (apt-get install moreutils)');
need(spawnSync('gcc', ['--version']).status === 0, 'gcc is missing (the UDP sender is C)');
const rsyslogd = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find(existsSync);

const work = mkdtempSync(join(tmpdir(), 'lantern-bench-console-'));
const started = [];
process.on('exit', () => {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the bursts ----
const lines = dumpLines(0, LINES).map((l, i) => `[${(7000 + i / 1e5).toFixed(6).padStart(12)}] ${l}`);
const tcpBurst = join(work, 'burst.raw');
writeFileSync(tcpBurst, lines.map((l) => l + '\r\n').join(''));
const udpBurst = join(work, 'burst.blast');
{
  const parts = [];
  lines.forEach((l, i) => {
    const p = Buffer.from(l + '\r\n');
    const h = Buffer.alloc(4);
    h.writeUInt16LE(i % UDP_SENDERS, 0);
    h.writeUInt16LE(p.length, 2);
    parts.push(h, p);
  });
  writeFileSync(udpBurst, Buffer.concat(parts));
}
const blast = join(work, 'blast');
{
  const r = spawnSync('gcc', ['-O2', '-o', blast, join(repo, 'bench', 'netconsole', 'blast.c')], { encoding: 'utf8' });
  need(r.status === 0, `cannot compile the UDP sender: ${r.stderr}`);
}

// ---- measuring ----
function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}
const cpuOf = (pids) => pids.reduce((s, p) => s + cpuSeconds(p), 0);
function walkLogs(dir, f) {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walkLogs(p, f);
    else if (e.name.endsWith('.log')) f(p);
  }
}
function totalSize(dir) {
  let n = 0;
  walkLogs(dir, (p) => (n += statSync(p).size));
  return n;
}
/** Lines of the burst in the output (markers and receiver notes are not counted). */
function countBurstLines(dir) {
  let n = 0;
  walkLogs(dir, (p) => {
    const t = readFileSync(p, 'latin1');
    for (let i = t.indexOf('] task:'); i >= 0; i = t.indexOf('] task:', i + 1)) n++;
    for (const k of ['Call Trace:', '<TASK>', '</TASK>']) for (let i = t.indexOf(k); i >= 0; i = t.indexOf(k, i + 1)) n++;
    for (let i = t.indexOf('+0x'); i >= 0; i = t.indexOf('+0x', i + 1)) n++;
  });
  return n;
}
const expectedBurstLines = (() => {
  let n = 0;
  for (const l of lines) n += l.includes('] task:') + l.includes('Call Trace:') + l.includes('<TASK>') + l.includes('</TASK>') + (l.split('+0x').length - 1);
  return n;
})();
/** Until the output stops growing for quietMs: [time of the last growth, CPU then]. */
async function settle(dir, pids, quietMs = 3000) {
  let last = -1;
  let lastChange = Date.now();
  let cpu = cpuOf(pids);
  for (;;) {
    const n = totalSize(dir);
    if (n !== last) {
      last = n;
      lastChange = Date.now();
      cpu = cpuOf(pids);
    } else if (Date.now() - lastChange >= quietMs) return [lastChange, cpu];
    await sleep(20);
  }
}
async function portOpen(port, proto) {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  const files = proto === 'tcp' ? ['/proc/net/tcp', '/proc/net/tcp6'] : ['/proc/net/udp', '/proc/net/udp6'];
  const end = Date.now() + 15000;
  while (
    !files.some((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .some((l) => l.includes(hex) && (proto === 'udp' || / 0A /.test(l))),
    )
  ) {
    if (Date.now() > end) throw new Error(`nothing listens on ${proto} ${port}`);
    await sleep(20);
  }
}
async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}

function send(proto, port) {
  const t0 = Date.now();
  const r =
    proto === 'tcp'
      ? spawnSync('socat', ['-u', `OPEN:${tcpBurst}`, `TCP:127.0.0.1:${port}`], { encoding: 'utf8' })
      : spawnSync(blast, ['127.0.0.1', String(port), udpBurst, String(UDP_SENDERS)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sender failed: ${r.stderr}`);
  return t0;
}

async function measure(name, proto, start) {
  const port = await freePort();
  const dir = join(work, `${name.replace(/\W+/g, '-')}-${port}`);
  mkdirSync(dir, { recursive: true });
  const { procs, stop, counted } = await start(port, dir);
  await portOpen(port, proto);
  await sleep(200);
  const pids = procs.map((p) => p.pid);
  const cpu0 = cpuOf(pids);
  const t0 = send(proto, port);
  const [tEnd, cpu1] = await settle(dir, pids);
  await stop();
  const written = countBurstLines(dir);
  const seconds = (tEnd - t0) / 1000;
  return {
    name,
    proto,
    written,
    lost: expectedBurstLines - written,
    counted: counted ? counted() : null,
    seconds,
    rate: written / seconds,
    cpuUsPerLine: ((cpu1 - cpu0) * 1e6) / Math.max(1, written),
  };
}

const spawnKept = (cmd, args, opts = {}) => {
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], ...opts });
  started.push(p);
  p.stderr?.resume();
  return p;
};
const ended = (p) => (p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.on('exit', r)));

const lantern = (proto) => async (port, dir) => {
  const src = proto === 'tcp' ? `tcp-listen:127.0.0.1:${port}` : `udp:127.0.0.1:${port}`;
  const p = spawnKept(process.execPath, [join(repo, 'bin', 'lantern.js'), 'console', 'listen', '-s', src, '-n', 'bench', '-d', join(dir, 'log'), '--state-dir', join(dir, 'state')]);
  // Lantern counts what it lost (udp: kernelDrops; the memory bound: linesLost; at exit: linesUnwritten).
  const counted = () => {
    try {
      const c = JSON.parse(readFileSync(join(dir, 'state', 'stats.json'), 'utf8')).counters;
      return (c.kernelDrops ?? 0) + (c.linesLost ?? 0) + (c.linesUnwritten ?? 0);
    } catch {
      return null;
    }
  };
  return { procs: [p], stop: async () => (p.kill('SIGTERM'), await ended(p)), counted };
};
const socatTs = (proto) => async (port, dir) => {
  const out = openSync(join(dir, 'capture.log'), 'w');
  // ts stamps each line with µs (the %.S format); CRs stay in the file, as such a capture keeps them.
  const ts = spawn('ts', ['%Y-%m-%dT%H:%M:%.S'], { stdio: ['pipe', out, 'ignore'] });
  started.push(ts);
  const addr = proto === 'tcp' ? `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr` : `UDP-RECV:${port},bind=127.0.0.1`;
  const so = spawn('socat', ['-u', addr, '-'], { stdio: ['ignore', ts.stdin, 'ignore'] });
  started.push(so);
  closeSync(out);
  return {
    procs: [so, ts],
    stop: async () => {
      so.kill('SIGTERM');
      await ended(so);
      ts.stdin.end();
      await ended(ts);
    },
  };
};
const rsyslog = (proto) => async (port, dir) => {
  mkdirSync(join(dir, 'work'), { recursive: true });
  const conf = join(dir, 'rsyslog.conf');
  const input =
    proto === 'tcp' ? `module(load="imtcp")\ninput(type="imtcp" address="127.0.0.1" port="${port}")` : `module(load="imudp")\ninput(type="imudp" address="127.0.0.1" port="${port}" rcvbufSize="32m")`;
  writeFileSync(
    conf,
    `global(workDirectory="${dir}/work")\n${input}\ntemplate(name="raw" type="string" string="%timegenerated:::date-rfc3339% %fromhost-ip% %rawmsg%\\n")\n*.* action(type="omfile" file="${dir}/out.log" template="raw")\n`,
  );
  const p = spawnKept(rsyslogd, ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')]);
  return { procs: [p], stop: async () => (p.kill('SIGTERM'), await ended(p)) };
};

const candidates = (proto) => [
  { name: `lantern console ${proto === 'tcp' ? 'tcp-listen' : 'udp'}`, start: lantern(proto) },
  { name: `socat ${proto === 'tcp' ? 'TCP-LISTEN' : 'UDP-RECV'} | ts`, start: socatTs(proto) },
  ...(rsyslogd ? [{ name: `rsyslog ${proto === 'tcp' ? 'imtcp' : 'imudp'} -> omfile`, start: rsyslog(proto) }] : []),
];

const median = (xs, key) => [...xs].sort((a, b) => a[key] - b[key])[Math.floor(xs.length / 2)];
const rsVersion = rsyslogd ? (spawnSync(rsyslogd, ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '').trim() : 'rsyslog not installed (apt-get install rsyslog for its rows)';
console.log(`burst: ${LINES} console lines (SysRq-T task dump, CR LF); node ${process.version}; ${rsVersion}; ${ROUNDS} rounds, the receivers taking turns`);
const rows = [];
for (const proto of ['tcp', 'udp'].filter((p) => SCENARIOS.includes(p))) {
  const results = new Map();
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of candidates(proto)) {
      const r = await measure(c.name, proto, c.start);
      if (!results.has(c.name)) results.set(c.name, []);
      results.get(c.name).push(r);
    }
  }
  for (const [name, rs] of results) {
    const m = median(rs, 'rate');
    rows.push({
      ...m,
      countedMax: rs.every((r) => r.counted === null) ? '-' : Math.max(...rs.map((r) => r.counted ?? 0)),
      scenario: proto === 'tcp' ? 'TCP, 1 source' : `UDP, ${UDP_SENDERS} sources`,
      lostMax: Math.max(...rs.map((r) => r.lost)),
      range: `${Math.round(Math.min(...rs.map((r) => r.rate)))}..${Math.round(Math.max(...rs.map((r) => r.rate)))}`,
      name,
    });
  }
}
const pad = (s, n) => String(s).padEnd(n);
console.log(`\n${pad('scenario', 16)}${pad('receiver', 30)}${pad('written', 10)}${pad('lost', 9)}${pad('counted', 9)}${pad('lines/s', 10)}${pad('range', 20)}CPU µs/line`);
for (const r of rows)
  console.log(`${pad(r.scenario, 16)}${pad(r.name, 30)}${pad(r.written, 10)}${pad(r.lostMax, 9)}${pad(r.countedMax, 9)}${pad(Math.round(r.rate), 10)}${pad(r.range, 20)}${r.cpuUsPerLine.toFixed(2)}`);
console.log(
  `\n(median round by lines/s; lost: the most of any round; counted: the most the receiver itself reported lost (Lantern's kernelDrops + linesLost + linesUnwritten); CPU: user + system of the receiving processes, from the first byte to the last line written)`,
);
for (const r of rows.filter((x) => x.name.startsWith('lantern')))
  console.log(`goal: ${r.scenario}: lantern console ${Math.round(r.rate)} lines/s, ${r.cpuUsPerLine.toFixed(2)} µs CPU per line, ${r.lostMax} lost`);
