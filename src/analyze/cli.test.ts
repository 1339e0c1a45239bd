/**
 * End-to-end: the real `lantern analyze` binary on real files (plain, gzip, xz, zstd, directories,
 * stdin), its --json document, filters, exit codes and error messages.
 */
import { skipUnlessCI } from '../common/testenv.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync, rmSync, copyFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { renderCase } from './casegen.js';

const bin = new URL('../../bin/lantern.js', import.meta.url).pathname;
const cases = new URL('../../test/data/analyze/cases/', import.meta.url).pathname;
const real = new URL('../../test/data/analyze/real/', import.meta.url).pathname;

function lantern(args: string[], input?: string | Buffer) {
  const r = spawnSync(process.execPath, [bin, 'analyze', ...args], { input, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function hasProgram(name: string): boolean {
  return spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0;
}

const tmp = mkdtempSync(join(tmpdir(), 'lantern-analyze-test-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

interface JsonDoc {
  schemaVersion: number;
  inputs: Array<{ name: string; format: string; compression?: string; error?: string; lines: number }>;
  summary: { incidents: number; groups: number; byKind: Record<string, number>; filteredOut: number; undatedExcluded: number };
  timeline: Array<{ time: { wall?: string; kernel?: string; boot: number; file: string; line: number }; kind: string; title: string; host?: string; task?: string; group: number }>;
  groups: Array<{ id: number; kind: string; title: string; count: number; first: { wall?: string }; last: { wall?: string }; hosts: string[]; example: Record<string, unknown> }>;
}

test('text report: summary, timeline, details', () => {
  const r = lantern([join(real, 'hung_task_02.log')]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^lantern analyze: 1 input, \d+ lines/);
  assert.match(r.out, /SUMMARY\n\s+hung_task\s+4\n\s+panic\s+1/);
  assert.match(r.out, /TIMELINE\n.*boot 0 \+1431\.920513s .*INFO: task hung in jbd2_journal_commit_transaction \[jbd2\/sda-8:3563\]/);
  assert.match(r.out, /DETAILS\n#1 INFO: task hung in jbd2_journal_commit_transaction/);
  assert.match(r.out, /guilty frame: jbd2_journal_commit_transaction/);
  assert.doesNotMatch(r.out, /\x1b\[/, 'no colour when not a TTY');
});

test('--json: stable schema with schemaVersion, groups with counts and first/last time', () => {
  const log = renderCase(readFileSync(join(cases, 'segfault_6.x.log'), 'utf8'), 'syslog-rfc3339');
  const p = join(tmp, 'segv.log');
  writeFileSync(p, log);
  const r = lantern(['--json', p]);
  assert.equal(r.code, 0, r.err);
  const doc = JSON.parse(r.out) as JsonDoc;
  assert.equal(doc.schemaVersion, 1);
  assert.deepEqual(Object.keys(doc), ['schemaVersion', 'inputs', 'summary', 'timeline', 'groups']);
  assert.equal(doc.inputs[0]!.format, 'syslog-rfc3339');
  assert.deepEqual(doc.summary.byKind, { segfault: 3 });
  const nginx = doc.groups.find((g) => g.title === 'segfault: nginx in libc.so.6')!;
  assert.equal(nginx.count, 2);
  assert.equal(nginx.first.wall, '2024-05-03T06:55:07.112000+02:00'.replace('06:', '08:'));
  assert.equal(nginx.last.wall, '2024-05-03T08:56:41.000000+02:00');
  assert.deepEqual(nginx.hosts, ['web01']);
  for (const key of ['kind', 'title', 'headline', 'time', 'tasks', 'altFrames', 'frames', 'facts', 'partial', 'partialReasons', 'excerpt']) assert.ok(key in nginx.example, key);
  assert.equal(doc.timeline.length, 3);
  assert.deepEqual(
    doc.timeline.map((e) => e.task),
    ['nginx:23451', 'python3:9912', 'nginx:23502'],
  );
});

test('directories are read recursively; gzip is decompressed; binary files are skipped with a reason', () => {
  const d = join(tmp, 'tree');
  mkdirSync(join(d, 'var/log/remote/10.1.2.3'), { recursive: true });
  writeFileSync(join(d, 'var/log/remote/10.1.2.3/kern.log'), renderCase(readFileSync(join(cases, 'hung_task_3.10.log'), 'utf8'), 'netconsole'));
  writeFileSync(join(d, 'var/log/messages-20240504.gz'), gzipSync(readFileSync(join(real, 'oom_01.log'))));
  writeFileSync(join(d, 'var/log/wtmp'), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0x7e, 0]));
  const r = lantern(['--json', d]);
  assert.equal(r.code, 0, r.err);
  const doc = JSON.parse(r.out) as JsonDoc;
  const names = doc.inputs.map((i) => i.name.slice(d.length + 1)).sort();
  assert.deepEqual(names, ['var/log/messages-20240504.gz', 'var/log/remote/10.1.2.3/kern.log', 'var/log/wtmp']);
  const gz = doc.inputs.find((i) => i.name.endsWith('.gz'))!;
  assert.equal(gz.compression, 'gzip');
  assert.match(doc.inputs.find((i) => i.name.endsWith('wtmp'))!.error!, /binary file/);
  assert.match(r.err, /wtmp: binary file/);
  assert.deepEqual(doc.summary.byKind, { hung_task: 1, oom_kill: 1 });
  assert.equal(doc.timeline.find((e) => e.kind === 'hung_task')!.host, '10.1.2.3');
});

for (const [prog, ext, pkg] of [
  ['xz', 'xz', 'xz-utils'],
  ['zstd', 'zst', 'zstd'],
] as const) {
  test(`${prog}-compressed input via the system decompressor`, (t) => {
    if (!hasProgram(prog)) {
      skipUnlessCI(t, `${prog} is not installed (apt-get install ${pkg}; listed in .ci/packages)`);
      return;
    }
    // A name with shell metacharacters: it must reach the decompressor as one argv element.
    const p = join(tmp, `kern; echo pwned $(id) '.log.${ext}`);
    const plain = join(tmp, `plain-${ext}.log`);
    copyFileSync(join(real, 'soft_lockup_01.log'), plain);
    execFileSync(prog, ['-q', '-c', plain], { stdio: ['ignore', 'pipe', 'ignore'] });
    writeFileSync(p, execFileSync(prog, ['-q', '-c', plain]));
    const r = lantern(['--json', p]);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out) as JsonDoc;
    assert.equal(doc.inputs[0]!.compression, prog);
    assert.deepEqual(doc.summary.byKind, { soft_lockup: 1, panic: 1 });
  });
}

test('a corrupt gzip file is reported, the other inputs are still analysed', () => {
  const bad = join(tmp, 'broken.gz');
  const full = gzipSync(readFileSync(join(real, 'warning_01.log')));
  writeFileSync(bad, full.subarray(0, Math.floor(full.length / 2)));
  const r = lantern(['--json', bad, join(real, 'panic_01.log')]);
  assert.equal(r.code, 0, r.err);
  const doc = JSON.parse(r.out) as JsonDoc;
  assert.match(doc.inputs[0]!.error ?? '', /gzip|unexpected end/i);
  assert.ok(doc.summary.byKind['panic'] === 1);
  assert.match(r.err, /broken\.gz/);
});

test('stdin: no path or -', () => {
  const log = readFileSync(join(real, 'rcu_stall_02.log'));
  for (const args of [[], ['-']]) {
    const r = lantern(['--json', ...args], log);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out) as JsonDoc;
    assert.equal(doc.inputs[0]!.name, '-');
    assert.equal(doc.groups[0]!.title, 'INFO: rcu detected stall in ext4_file_write_iter');
  }
});

test('--kind, --host, --since, --until filter; undated incidents are counted when a time filter is used', () => {
  const p = join(tmp, 'multi.log');
  writeFileSync(
    p,
    renderCase(readFileSync(join(cases, 'io_fs_errors_6.x.log'), 'utf8'), 'syslog-ktime') + renderCase(readFileSync(join(cases, 'segfault_6.x.log'), 'utf8'), 'syslog').replace(/web01/g, 'web02'),
  );
  // Classic syslog stamps have no year: it comes from the file's mtime.
  utimesSync(p, new Date('2024-06-01T00:00:00Z'), new Date('2024-06-01T00:00:00Z'));
  let doc = JSON.parse(lantern(['--json', '--kind', 'fs_error', p]).out) as JsonDoc;
  assert.deepEqual(doc.summary.byKind, { fs_error: 4 });
  doc = JSON.parse(lantern(['--json', '--kind', 'segfault,io_error', '--host', 'web02', p]).out) as JsonDoc;
  assert.deepEqual(doc.summary.byKind, { segfault: 3 });
  doc = JSON.parse(lantern(['--json', '--since', '2024-05-03T06:25:00', '--until', '2024-05-03 06:56:00', p]).out) as JsonDoc;
  assert.deepEqual(doc.summary.byKind, { io_error: 1, fs_error: 2, segfault: 1 });
  const undated = JSON.parse(lantern(['--json', '--since', '2000-01-01', join(real, 'gpf_01.log')]).out) as JsonDoc;
  assert.equal(undated.summary.incidents, 0);
  assert.equal(undated.summary.undatedExcluded, 1);
});

test('--since/--until boot+N filter boot-relative incidents by kernel time; the summary says what was left out and why', () => {
  // hung_task_02: five incidents at kernel times 1431.92 … 1432.31, no wall clock.
  const log = join(real, 'hung_task_02.log');
  let r = lantern(['--json', '--since', 'boot+1432', '--until', 'boot+30m', log]);
  assert.equal(r.code, 0, r.err);
  let doc = JSON.parse(r.out) as JsonDoc & { summary: { filteredBy: Record<string, number> } };
  assert.deepEqual(
    doc.timeline.map((e) => e.time.kernel),
    ['1432.090262', '1432.174341', '1432.309388'],
  );
  assert.equal(doc.summary.filteredOut, 2);
  assert.deepEqual(doc.summary.filteredBy, { kind: 0, host: 0, beforeSince: 2, afterUntil: 0, noWallClock: 0, noKernelTime: 0 });
  r = lantern(['--until', 'boot+1432.1', log]);
  assert.match(r.out, /2 incidents left out: 2 after --until/);
  // A wall-clock bound on a log without wall clock: all left out, and the report says how to filter it.
  r = lantern(['--since', '2024-01-01', log]);
  assert.match(r.out, /5 incidents left out: 5 without wall-clock time \(boot-relative only: try --since boot\+SECONDS\)/);
  // A boot+ bound on a syslog without kernel stamps: left out, counted.
  const p = join(tmp, 'nostamp.log');
  writeFileSync(p, renderCase(readFileSync(join(cases, 'segfault_6.x.log'), 'utf8'), 'syslog'));
  doc = JSON.parse(lantern(['--json', '--since', 'boot+1', p]).out) as typeof doc;
  assert.equal(doc.summary.incidents, 0);
  assert.equal(doc.summary.filteredBy['noKernelTime'], doc.summary.filteredOut);
  assert.ok(doc.summary.filteredOut > 0);
  // A bare number is ambiguous (kernel seconds? epoch?): a usage error that says how to write it.
  r = lantern(['--since', '600', log]);
  assert.equal(r.code, 64);
  assert.match(r.err, /boot\+600/);
});

test('usage errors exit 64, unreadable input exits 66, help exits 0', () => {
  let r = lantern(['--kind', 'nonsense', join(real, 'panic_01.log')]);
  assert.equal(r.code, 64);
  assert.match(r.err, /unknown kind 'nonsense'/);
  r = lantern(['--since', 'yesterday-ish', join(real, 'panic_01.log')]);
  assert.equal(r.code, 64);
  assert.match(r.err, /bad time/);
  r = lantern(['--bogus']);
  assert.equal(r.code, 64);
  r = lantern([join(tmp, 'does-not-exist.log')]);
  assert.equal(r.code, 66);
  assert.match(r.err, /does-not-exist\.log: no such file or directory/);
  r = lantern(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.out, /--json/);
  assert.match(r.out, /Exit status/);
});

test('an empty input and a log without incidents exit 0 and say so', () => {
  const r = lantern([join(real, 'noincident_iso_01.log')]);
  assert.equal(r.code, 0);
  assert.match(r.out, /io_error\s+1/);
  const e = lantern([], '');
  assert.equal(e.code, 0);
  assert.match(e.out, /no incidents found/);
});

test('text timeline: a run of identical incidents takes one line', () => {
  const r = lantern([join(cases, 'shrink_slab_3.10.log')]);
  assert.equal(r.code, 0);
  assert.match(r.out, /shrink_slab: negative objects to delete in nfs_access_cache_scan +#1 +×3 until boot 0 \+86013\.011927s/);
  assert.match(r.out, /#1 shrink_slab: negative objects to delete in nfs_access_cache_scan +\(shrink_slab, ×3\)/);
});

test('on a terminal: progress on stderr and colour on stdout', (t) => {
  if (spawnSync('script', ['--version'], { stdio: 'ignore' }).status !== 0) {
    skipUnlessCI(t, 'script(1) from util-linux is not installed (CI installs util-linux)');
    return;
  }
  const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(bin)} analyze ${JSON.stringify(join(cases, 'shrink_slab_3.10.log'))}`;
  const env = { ...process.env };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\r\x1b\[Kanalyze: .*shrink_slab_3\.10\.log 0 MiB/);
  assert.match(r.stdout, /\x1b\[1mSUMMARY/);
});

test('a missing decompressor is named, with the package to install', (t) => {
  if (!hasProgram('xz')) {
    skipUnlessCI(t, 'xz is not installed (needed to make the test file; listed in .ci/packages)');
    return;
  }
  const p = join(tmp, 'needs-xz.log.xz');
  writeFileSync(p, execFileSync('xz', ['-q', '-c', join(real, 'panic_01.log')]));
  const r = spawnSync(process.execPath, [bin, 'analyze', '--json', p, join(real, 'panic_03.log')], { encoding: 'utf8', env: { ...process.env, PATH: '/nonexistent' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /needs-xz\.log\.xz: xz-compressed, but xz is not installed \(apt-get install xz-utils\)/);
  const doc = JSON.parse(r.stdout) as JsonDoc;
  assert.deepEqual(doc.summary.byKind, { panic: 1 });
});

test('a rotated log given as a directory is one input: the report cut by rotation is one complete incident', () => {
  const dir = new URL('../../test/data/analyze/rotation/log', import.meta.url).pathname;
  const r = lantern([dir]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /kern\.log\.2\.gz: syslog, 4 lines, 1 incident \(gzip, rotation set .*kern\.log\)/);
  assert.match(r.out, /SUMMARY\n\s+hung_task\s+1\n/);
  assert.match(r.out, /INFO: task hung in fanotify_handle_event \[controller:1428\]  #1/);
  assert.doesNotMatch(r.out, /partial/);
});
