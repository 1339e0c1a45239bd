#!/usr/bin/env node
// bench/analyze: `lantern analyze --json` on a generated syslog file (realistic noise with embedded
// kernel incidents) beside `grep -E` with the equivalent set of trigger patterns on the same file.
// Prints MB/s, the time ratio and peak RSS. Asserts nothing.
// Usage: node bench/analyze/run.mjs [--size-mb N] [--format syslog|dmesg] [--keep]
//   (default 1024 MiB of syslog; --format dmesg writes `dmesg` output instead: `[  sec.usec] text`
//   kernel lines only, the input of a vmcore-dmesg or a saved dmesg; needs dist/: npm run build)
import { mkdtempSync, rmSync, openSync, writeSync, closeSync, statSync, readFileSync, statfsSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

const root = new URL('../../', import.meta.url).pathname;
const args = process.argv.slice(2);
const sizeMb = Number(args[args.indexOf('--size-mb') + 1] ?? 0) || Number(process.env.BENCH_ANALYZE_MB ?? 1024);
const keep = args.includes('--keep');
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
function run(cmd, argv, env = {}) {
  return new Promise((resolve) => {
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
      resolve({ code, secs, peakKb, out, err });
    });
  });
}

const lantern = await run(process.execPath, [join(root, 'bin/lantern.js'), 'analyze', '--json', file]);
let summary = '';
try {
  const doc = JSON.parse(lantern.out);
  summary = `${doc.summary.incidents} incidents in ${doc.summary.groups} groups (${Object.entries(doc.summary.byKind)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')})`;
} catch {
  summary = `could not parse output (exit ${lantern.code}): ${lantern.err.slice(0, 200)}`;
}
const grep = await run('grep', ['-E', '-c', GREP_PATTERN, file], { LC_ALL: 'C' });
const mbps = (r) => bytes / (1 << 20) / r.secs;
const row = (name, r, extra) => console.log(`${name.padEnd(28)} ${r.secs.toFixed(2).padStart(8)} s ${mbps(r).toFixed(0).padStart(7)} MB/s ${(r.peakKb / 1024).toFixed(0).padStart(7)} MiB  ${extra}`);
console.log(`\n${'tool'.padEnd(28)} ${'time'.padStart(10)} ${'throughput'.padStart(12)} ${'peak RSS'.padStart(11)}  result`);
row('lantern analyze --json', lantern, summary);
row('grep -E -c (LC_ALL=C)', grep, `${grep.out.trim()} matching lines`);
const ratio = lantern.secs / grep.secs;
console.log(`\ngoal: >= 100 MB/s: ${mbps(lantern).toFixed(0)} MB/s ${mbps(lantern) >= 100 ? '(met)' : '(NOT met)'}`);
console.log(`goal: within 3x of grep -E: ${ratio.toFixed(2)}x ${ratio <= 3 ? '(met)' : '(NOT met)'}`);
console.log(`goal: flat memory (<= ~200 MiB for 2 GiB): peak RSS ${(lantern.peakKb / 1024).toFixed(0)} MiB for ${(bytes / (1 << 20)).toFixed(0)} MiB`);
cleanup();
