#!/usr/bin/env node
// bench/analyze: `lantern analyze --json` on a generated syslog file (realistic noise with embedded
// kernel incidents) beside `grep -E` with the equivalent set of trigger patterns on the same file,
// on one core (--jobs 1) and on all of them (--jobs N, default the CPUs), in interleaved rounds.
// Also `--jobs 1` on the JavaScript trigger search (LANTERN_ANALYZE_SEARCH=js: the fallback when
// native/triggerscan is not built), unless --no-js. Prints medians of wall time, MB/s, peak RSS
// and the goals of issue 16. Asserts nothing.
// Usage: node bench/analyze/run.mjs [--size-mb N] [--format syslog|dmesg] [--rounds N] [--jobs N] [--no-js] [--keep]
//   (default 1024 MiB of syslog; --format dmesg writes `dmesg` output instead: `[  sec.usec] text`
//   kernel lines only, the input of a vmcore-dmesg or a saved dmesg; needs dist/: npm run build)
import { mkdtempSync, rmSync, openSync, writeSync, closeSync, statSync, readFileSync, statfsSync, existsSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

const root = new URL('../../', import.meta.url).pathname;
const args = process.argv.slice(2);
const sizeMb = Number(args[args.indexOf('--size-mb') + 1] ?? 0) || Number(process.env.BENCH_ANALYZE_MB ?? 1024);
const keep = args.includes('--keep');
const withJs = !args.includes('--no-js');
const ROUNDS = Number(args[args.indexOf('--rounds') + 1] ?? 0) || Number(process.env.BENCH_ANALYZE_ROUNDS ?? 3);
const JOBS = Number(args[args.indexOf('--jobs') + 1] ?? 0) || availableParallelism();
const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const formatArg = args.includes('--format') ? args[args.indexOf('--format') + 1] : (process.env.BENCH_ANALYZE_FORMAT ?? 'syslog');
if (formatArg !== 'syslog' && formatArg !== 'dmesg') {
  console.error(`bench/analyze: --format must be syslog or dmesg, not ${formatArg}`);
  process.exit(64);
}
const DMESG = formatArg === 'dmesg';
if (!existsSync(join(root, 'dist/analyze/cli.js'))) {
  console.error('bench/analyze: dist/ is missing; run npm run build first');
  process.exit(69);
}

// The same trigger words lantern's prefilter uses (src/analyze/detect.ts), as one POSIX ERE.
const { TRIGGER_UPPER, TRIGGER_LOWER } = await import(join(root, 'dist/analyze/detect.js'));
const GREP_PATTERN = `${TRIGGER_UPPER.source}|${TRIGGER_LOWER.source}`.replace(/\(\?:/g, '(').replace(/\\\//g, '/');
// Which trigger search the lantern rows use (the same addon file the children load).
const { TRIGGER_SEARCH } = await import(join(root, 'dist/analyze/blockindex.js'));
const { loadTriggerScan } = await import(join(root, 'dist/analyze/triggerscan.js'));
const addon = loadTriggerScan().mod;
const searchUsed = TRIGGER_SEARCH.native ? `native/triggerscan (SIMD: ${addon.info(addon.create(['abc'])).simd})` : `JavaScript (${TRIGGER_SEARCH.fallbackReason})`;

const dir = mkdtempSync(join(tmpdir(), 'lantern-bench-analyze-'));
const file = join(dir, DMESG ? 'dmesg.txt' : 'messages');
const cleanup = () => {
  if (!keep) rmSync(dir, { recursive: true, force: true });
};
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

try {
  const free = statfsSync(dir);
  const freeMb = (free.bavail * free.bsize) / (1 << 20);
  if (freeMb < sizeMb * 1.2) {
    console.error(`bench/analyze: ${freeMb.toFixed(0)} MiB free in ${dir}, need ~${(sizeMb * 1.2).toFixed(0)} MiB; use --size-mb`);
    cleanup();
    process.exit(69);
  }
} catch {
  /* statfs unsupported: try anyway */
}

// ---- generate ----
const HOSTNAME = 'db01';
const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n) => String(n).padStart(2, '0');
const stamp = (ms) => {
  const d = new Date(ms);
  return `${MON[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`;
};
const noise = [
  (i) => `systemd[1]: Started Session ${i % 9000} of User root.`,
  (i) => `systemd[1]: session-${i % 9000}.scope: Deactivated successfully.`,
  (i) => `sshd[${2000 + (i % 30000)}]: Accepted publickey for deploy from 10.20.${i % 250}.${(i * 7) % 250} port ${30000 + (i % 30000)} ssh2: RSA SHA256:Hk9xW0r1c2l3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZ`,
  (i) => `sshd[${2000 + (i % 30000)}]: pam_unix(sshd:session): session opened for user deploy(uid=1001) by (uid=0)`,
  (i) => `CRON[${3000 + (i % 20000)}]: (root) CMD (/usr/lib/sysstat/sa1 1 1)`,
  (i) => `NetworkManager[812]: <info>  [${1714700000 + i}.${i % 1000}] dhcp4 (ens192): state changed new lease, address=10.20.1.${i % 250}`,
  (i) =>
    `kernel: [${(i / 10).toFixed(6).padStart(12, ' ')}] audit: type=1400 audit(${1714700000 + i}.${i % 1000}:${i}): apparmor="DENIED" operation="open" profile="snap.lxd" name="/proc/${i % 4000}/mountinfo" pid=${i % 4000} comm="lxd" requested_mask="r" denied_mask="r" fsuid=0 ouid=0`,
  (i) => `kernel: [${(i / 10).toFixed(6).padStart(12, ' ')}] e1000e 0000:00:19.0 eno1: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx`,
  (i) => `rsyslogd[701]: imjournal: ${i % 500} messages lost due to rate-limiting (5000 allowed within 30 seconds)`,
  (i) => `postgres[${4100 + (i % 50)}]: [${i % 9}-1] LOG:  checkpoint complete: wrote ${i % 5000} buffers (${(i % 100) / 10}%); 0 WAL file(s) added`,
  (i) => `systemd-logind[733]: New session ${i % 9000} of user deploy.`,
  (i) => `dbus-daemon[702]: [system] Successfully activated service 'org.freedesktop.nm_dispatcher'`,
];
// dmesg holds kernel messages only: a busy host's routine kernel chatter (containers, firewall
// logging, audit, NICs, USB, TCP), none of it an incident.
const ktime = (i) => `[${(i / 10).toFixed(6).padStart(12, ' ')}]`;
const kernelNoise = [
  (i) =>
    `audit: type=1400 audit(${1714700000 + i}.${i % 1000}:${i}): apparmor="DENIED" operation="open" profile="snap.lxd" name="/proc/${i % 4000}/mountinfo" pid=${i % 4000} comm="lxd" requested_mask="r" denied_mask="r" fsuid=0 ouid=0`,
  (i) =>
    `IN=ens192 OUT= MAC=00:50:56:a1:${p2(i % 100)}:0c:00:50:56:a1:2b:3c:08:00 SRC=10.20.${i % 250}.${(i * 7) % 250} DST=10.20.1.15 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=${i % 65535} DF PROTO=TCP SPT=${30000 + (i % 30000)} DPT=5432 WINDOW=29200 RES=0x00 SYN URGP=0`,
  (i) => `docker0: port ${1 + (i % 8)}(veth${((i * 2654435761) % 0xfffffff).toString(16)}) entered forwarding state`,
  (i) => `device veth${((i * 2654435761) % 0xfffffff).toString(16)} entered promiscuous mode`,
  (i) => `IPv6: ADDRCONF(NETDEV_CHANGE): veth${((i * 40503) % 0xfffffff).toString(16)}: link becomes ready`,
  (i) => `e1000e 0000:00:19.0 eno1: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx`,
  (i) => `usb 1-${1 + (i % 4)}: new high-speed USB device number ${i % 127} using xhci_hcd`,
  (i) => `TCP: request_sock_TCP: Possible SYN flooding on port ${8000 + (i % 100)}. Sending cookies.  Check SNMP counters.`,
  (i) => `perf: interrupt took too long (${2500 + (i % 1000)} > ${2400 + (i % 1000)}), lowering kernel.perf_event_max_sample_rate to ${50000 - (i % 1000)}`,
  (i) => `nfs: server filer01 OK`,
  (i) => `sd ${i % 4}:0:0:0: [sd${'abcd'[i % 4]}] Synchronizing SCSI cache`,
  (i) => `cgroup: fork rejected by pids controller in /system.slice/app${i % 50}.service`,
];
const caseDir = join(root, 'test/data/analyze/cases/');
const incidentFiles = ['hung_task_3.10.log', 'oom_memcg_5.14.log', 'soft_lockup_3.10.log', 'segfault_6.x.log', 'warning_4.18.log', 'io_fs_errors_6.x.log', 'rcu_stall_5.14.log'];
const incidents = incidentFiles.map((f) => readFileSync(join(caseDir, f), 'utf8').trimEnd().split('\n'));

const fd = openSync(file, 'w');
const target = sizeMb * (1 << 20);
let written = 0;
let ms = Date.UTC(2024, 4, 3, 0, 0, 0);
let i = 0;
let embedded = 0;
const every = 4 << 20; // one incident report every ~4 MiB
let nextIncident = every;
const t0 = Date.now();
while (written < target) {
  const parts = [];
  let blockBytes = 0;
  while (blockBytes < 1 << 20) {
    ms += 37;
    const line = DMESG ? `${ktime(i)} ${kernelNoise[(i * 7 + (i >> 3)) % kernelNoise.length](i)}\n` : `${stamp(ms)} ${HOSTNAME} ${noise[(i * 7 + (i >> 3)) % noise.length](i)}\n`;
    i++;
    parts.push(line);
    blockBytes += line.length;
  }
  if (written + blockBytes >= nextIncident) {
    for (const l of incidents[embedded % incidents.length]) {
      // In dmesg the report takes the current kernel time (its own stamps would jump back).
      const line = DMESG ? `${l.replace(/^\[\s*\d+\.\d+\]/, ktime(i))}\n` : `${stamp(ms)} ${HOSTNAME} kernel: ${l}\n`;
      parts.push(line);
      blockBytes += line.length;
    }
    embedded++;
    nextIncident += every;
  }
  const buf = Buffer.from(parts.join(''));
  writeSync(fd, buf);
  written += buf.length;
}
closeSync(fd);
const bytes = statSync(file).size;
console.log(
  `generated ${(bytes / (1 << 20)).toFixed(0)} MiB ${DMESG ? 'dmesg' : 'syslog'} file (${i} noise lines, ${embedded} embedded incident reports) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
);

// ---- run ----
/** CPU seconds (user + system) of this process's waited-for children so far: /proc/self/stat cutime + cstime. */
function childCpu() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
}

function run(cmd, argv, env = {}) {
  return new Promise((resolve) => {
    const cpu0 = childCpu();
    const start = process.hrtime.bigint();
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    let peakKb = 0;
    child.stdout.on('data', (d) => {
      if (out.length < 64 << 20) out += d;
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch {
        /* exited */
      }
    }, 50);
    child.on('close', (code) => {
      clearInterval(poll);
      const secs = Number(process.hrtime.bigint() - start) / 1e9;
      // The child has been waited for when 'close' comes: its CPU time is in cutime/cstime.
      resolve({ code, secs, cpu: childCpu() - cpu0, peakKb, out, err });
    });
  });
}

// Interleaved rounds (the machine is shared): each round runs every tool once; medians are shown,
// with the spread (min..max) so the noise can be judged.
const grepArgs = ['-E', '-c', GREP_PATTERN, file];
const tools = [
  { name: 'grep -E -c (LC_ALL=C)', cmd: 'grep', argv: grepArgs, env: { LC_ALL: 'C' } },
  { name: 'lantern analyze --jobs 1', cmd: process.execPath, argv: [join(root, 'bin/lantern.js'), 'analyze', '--json', '--jobs', '1', file] },
  { name: `lantern analyze --jobs ${JOBS}`, cmd: process.execPath, argv: [join(root, 'bin/lantern.js'), 'analyze', '--json', '--jobs', String(JOBS), file] },
  ...(withJs
    ? [{ name: 'lantern analyze --jobs 1, JS search', cmd: process.execPath, argv: [join(root, 'bin/lantern.js'), 'analyze', '--json', '--jobs', '1', file], env: { LANTERN_ANALYZE_SEARCH: 'js' } }]
    : []),
];
const results = tools.map(() => []);
for (let r = 0; r < ROUNDS; r++) {
  for (const [n, t] of tools.entries()) results[n].push(await run(t.cmd, t.argv, t.env));
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const stat = (rs) => ({
  secs: median(rs.map((r) => r.secs)),
  cpu: median(rs.map((r) => r.cpu)),
  min: Math.min(...rs.map((r) => r.secs)),
  max: Math.max(...rs.map((r) => r.secs)),
  peakKb: Math.max(...rs.map((r) => r.peakKb)),
  last: rs[rs.length - 1],
});
const [grep, single, multi, js] = results.map(stat);
let summary = '';
try {
  const doc = JSON.parse(single.last.out);
  summary = `${doc.summary.incidents} incidents in ${doc.summary.groups} groups (${Object.entries(doc.summary.byKind)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')})`;
} catch {
  summary = `could not parse output (exit ${single.last.code}): ${single.last.err.slice(0, 200)}`;
}
const identical = results[1].every((r) => r.out === results[1][0].out) && results[2].every((r) => r.out === results[1][0].out);
const identicalJs = withJs && results[3].every((r) => r.out === results[1][0].out);
const mbps = (r) => bytes / (1 << 20) / r.secs;
const row = (name, r, extra) =>
  console.log(
    `${name.padEnd(36)} ${r.secs.toFixed(2).padStart(8)} s ${`${r.min.toFixed(2)}..${r.max.toFixed(2)}`.padStart(12)} ${mbps(r).toFixed(0).padStart(7)} MB/s ${r.cpu.toFixed(2).padStart(7)} s ${(r.peakKb / 1024).toFixed(0).padStart(7)} MiB  ${extra}`,
  );
console.log(`\n${ROUNDS} interleaved rounds, medians; load average before: ${loadBefore}, after: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
console.log(`trigger search: ${searchUsed}`);
console.log(`${'tool'.padEnd(36)} ${'wall'.padStart(10)} ${'min..max'.padStart(12)} ${'throughput'.padStart(12)} ${'CPU'.padStart(9)} ${'peak RSS'.padStart(11)}  result`);
row(tools[0].name, grep, `${grep.last.out.trim()} matching lines`);
row(tools[1].name, single, summary);
row(tools[2].name, multi, identical ? 'output identical to --jobs 1 (every round)' : 'OUTPUT DIFFERS from --jobs 1');
if (withJs) row(tools[3].name, js, identicalJs ? 'output identical to --jobs 1 (every round)' : 'OUTPUT DIFFERS from --jobs 1');
const ratio = single.secs / grep.secs;
const ratioMulti = multi.secs / grep.secs;
// CPU seconds are less disturbed by the other users of the machine than wall time: shown beside it.
console.log(`\ngoal: one core within 1.5x of grep's time: ${ratio.toFixed(2)}x ${ratio <= 1.5 ? '(met)' : '(NOT met)'} (CPU time: ${(single.cpu / grep.cpu).toFixed(2)}x)`);
if (withJs) console.log(`      the JavaScript search (fallback): ${(js.secs / grep.secs).toFixed(2)}x (CPU time: ${(js.cpu / grep.cpu).toFixed(2)}x)`);
console.log(`goal: ${JOBS} jobs at most grep's wall time: ${ratioMulti.toFixed(2)}x ${ratioMulti <= 1 ? '(met)' : '(NOT met)'}`);
console.log(
  `goal: flat memory (<= 200 MiB for 2 GiB): peak RSS ${(single.peakKb / 1024).toFixed(0)} MiB (1 job), ${(multi.peakKb / 1024).toFixed(0)} MiB (${JOBS} jobs) for ${(bytes / (1 << 20)).toFixed(0)} MiB`,
);
cleanup();
