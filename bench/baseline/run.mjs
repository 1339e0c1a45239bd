#!/usr/bin/env node
// Benchmark for `lantern baseline save` + `lantern diff` on the live host, against the shell
// alternative an administrator would use (`sysctl -a > a; ...; diff a b`). Prints wall time, output
// size and how many lines each reports when nothing meaningful changed (noise). Asserts nothing.
//   npm run bench -- baseline        (run as root for the full /proc/sys; LANTERN_BENCH_RUNS=N)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { timeCommand } from '../lib.mjs';

const BIN = fileURLToPath(new URL('../../bin/lantern.js', import.meta.url));
const runs = Number(process.env.LANTERN_BENCH_RUNS ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'lantern-bench-baseline-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

if (process.getuid?.() !== 0) console.log('note: not root: some /proc/sys entries and processes are unreadable, figures are lower than on a real run');

// The shell alternative: the same data, one file per snapshot (fixed script, no data in it).
const pkgs = existsSync('/var/lib/dpkg/status') ? "dpkg-query -W -f '${Package} ${Version}\\n'" : 'rpm -qa | sort';
const shellSnap = (out) =>
  `{ sysctl -a 2>/dev/null; cat /proc/cmdline; cat /proc/modules 2>/dev/null | cut -d' ' -f1 | sort; cat /proc/mounts; ${pkgs}; ` +
  `ls /etc/systemd/system/*.wants/ 2>/dev/null; find /etc/systemd/system /run/systemd/system /usr/lib/systemd/system -maxdepth 1 -lname /dev/null 2>/dev/null; ls /etc/rc?.d 2>/dev/null; ` +
  `grep -E '^(MemTotal|SwapTotal):' /proc/meminfo; nproc; ` +
  `grep -lx -- -1000 /proc/[0-9]*/oom_score_adj 2>/dev/null | wc -l; } > ${out}`;

const timeIt = (label, argv, n = runs) => timeCommand(label, argv, n);

const a = join(dir, 'base.json');
const rows = [];
rows.push(timeIt('lantern baseline save (all sections + 20 checks)', [process.execPath, BIN, 'baseline', 'save', '--out', a]));
const diffRow = timeIt('lantern diff base.json (collect now + compare)', [process.execPath, BIN, 'diff', a]);
rows.push(diffRow);
rows.push(timeIt('lantern diff base.json base.json (compare only)', [process.execPath, BIN, 'diff', a, a]));
rows.push(timeIt('node -e 0 (Node start-up alone)', [process.execPath, '-e', '0']));
const sa = join(dir, 'a.txt');
const sb = join(dir, 'b.txt');
rows.push(timeIt('sh: sysctl -a; cmdline; modules; mounts; packages; ... > a', ['sh', '-c', shellSnap(sa)]));
spawnSync('sh', ['-c', shellSnap(sb)]);
const shDiff = timeIt('sh: (same) > b; diff a b', ['sh', '-c', `${shellSnap(sb)}; diff ${sa} ${sb}`]);
rows.push(shDiff);

// In-process: collection and comparison without Node start-up.
const { Host } = await import('../../dist/host/host.js');
const { collectSnapshot } = await import('../../dist/baseline/collect.js');
const { diffSnapshots } = await import('../../dist/baseline/diff.js');
const t = [];
let s1 = null;
for (let i = 0; i < runs; i++) {
  const s = process.hrtime.bigint();
  s1 = collectSnapshot(new Host(), { version: 'bench' });
  t.push(Number(process.hrtime.bigint() - s) / 1e6);
}
t.sort((x, y) => x - y);
rows.push({ label: 'collectSnapshot() in-process', median: t[Math.floor(t.length / 2)], min: t[0], max: t[t.length - 1] });
const s2 = collectSnapshot(new Host(), { version: 'bench' });
const dt = [];
let d = null;
for (let i = 0; i < runs; i++) {
  const s = process.hrtime.bigint();
  d = diffSnapshots(s1, s2);
  dt.push(Number(process.hrtime.bigint() - s) / 1e6);
}
dt.sort((x, y) => x - y);
rows.push({ label: 'diffSnapshots() in-process', median: dt[Math.floor(dt.length / 2)], min: dt[0], max: dt[dt.length - 1] });

// Packages of a copied RHEL tree: a real RPM database (rpm --initdb, rpm -i --justdb of N empty
// packages rpmbuild makes from one spec) read by lantern (private copy + rpm --dbpath) and by
// rpm --dbpath straight on the tree (faster, but rpm writes its lock and sqlite files into it).
const RPM_PACKAGES = Number(process.env.LANTERN_BENCH_RPMS ?? 300);
const haveRpm = ['rpm', 'rpmbuild'].every((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);
let rpmNote = 'rpm/rpmbuild not installed: RPM tree rows skipped (apt-get install rpm)';
if (haveRpm) {
  const top = join(dir, 'rpmbuild');
  const spec = join(dir, 'bench.spec');
  const sub = Array.from({ length: RPM_PACKAGES }, (_, i) => `%package -n bench-pkg-${i}\nSummary: bench ${i}\n%description -n bench-pkg-${i}\nbench\n%files -n bench-pkg-${i}\n`).join('\n');
  writeFileSync(spec, `Name: bench-base\nVersion: 1.0\nRelease: 1.el9\nSummary: bench\nLicense: MIT\nBuildArch: noarch\n%description\nbench\n%files\n${sub}`);
  spawnSync('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${top}`, '--define', `_rpmdir ${join(top, 'out')}`, spec], { stdio: 'ignore' });
  const rpms = readdirSync(join(top, 'out', 'noarch')).map((f) => join(top, 'out', 'noarch', f));
  const tree = join(dir, 'rhel-tree');
  const db = join(tree, 'var/lib/rpm');
  mkdirSync(join(tree, 'etc'), { recursive: true });
  mkdirSync(db, { recursive: true });
  spawnSync('rpm', ['--initdb', '--dbpath', db]);
  spawnSync('rpm', ['-i', '--justdb', '--nodeps', '--dbpath', db, ...rpms], { stdio: 'ignore' });
  const { rpmTreeSection } = await import('../../dist/baseline/collect.js');
  const rt = [];
  let sec = null;
  for (let i = 0; i < runs; i++) {
    const s = process.hrtime.bigint();
    sec = rpmTreeSection(Host.open({ root: tree }), []);
    rt.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  rt.sort((x, y) => x - y);
  rows.push({ label: `copied RHEL tree packages: private copy + rpm --dbpath`, median: rt[Math.floor(rt.length / 2)], min: rt[0], max: rt[rt.length - 1] });
  rows.push(timeIt('rpm --dbpath <tree>/var/lib/rpm -qa (writes into the tree)', ['rpm', '--dbpath', db, '-qa', '--qf', '%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\n']));
  const dbKiB = readdirSync(db).reduce((n, f) => n + statSync(join(db, f)).size, 0) / 1024;
  rpmNote = `RPM tree: ${sec.status === 'ok' ? Object.keys(sec.data.installed).length : 0} packages read from a ${dbKiB.toFixed(0)} KiB sqlite database (${rpms.length} built by rpmbuild from one spec; LANTERN_BENCH_RPMS=N)`;
}

const w = Math.max(...rows.map((r) => r.label.length));
console.log(`${'what'.padEnd(w)}  median ms   min ms   max ms`);
for (const r of rows) console.log(`${r.label.padEnd(w)}  ${r.median.toFixed(0).padStart(9)}  ${r.min.toFixed(0).padStart(7)}  ${r.max.toFixed(0).padStart(7)}`);

const shNoise = (shDiff.last.stdout.match(/^[<>] /gm) ?? []).length;
const sysctls = s1.sections.sysctls.status === 'ok' ? Object.keys(s1.sections.sysctls.data.values).length : 0;
console.log(`\nsnapshot: ${(statSync(a).size / 1024).toFixed(0)} KiB JSON (${sysctls} sysctls); shell snapshot: ${(statSync(sa).size / 1024).toFixed(0)} KiB text`);
console.log(
  `unchanged host, two snapshots moments apart: lantern diff reports ${diffRow.last.status === 0 ? 0 : '≥1'} difference(s) (${d.ignored.count} volatile hidden; exit ${diffRow.last.status}); diff a b prints ${shNoise} changed line(s) of noise`,
);
console.log(rpmNote);
console.log(`runs per row: ${runs}; peak RSS of this process (in-process rows): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
console.log(
  `goal: save + diff on a live host in about a second: ${((rows[0].median + diffRow.median) / 1000).toFixed(2)} s (shell: ${((rows[4].median + shDiff.median) / 1000).toFixed(2)} s, with no check findings and no noise control)`,
);
