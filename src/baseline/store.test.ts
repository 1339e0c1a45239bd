/**
 * The snapshot store against hostile directories and output paths, through the real CLI: FIFOs,
 * links to /dev/zero, device nodes and oversized files among the snapshots; --dir on procfs and
 * sysfs; --out onto device nodes, planted links and the process's own descriptors.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, lstatSync, openSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { facilitySkip } from '../common/testenv.js';
import { MAX_SNAPSHOT_BYTES } from './store.js';
import { BIN, fixture, tmpDir } from './testkit.js';

const needRoot = facilitySkip(process.getuid?.() === 0 ? undefined : 'needs root (mknod)');

/** The real CLI, bounded: a regression that hangs (a FIFO read, a procfs mkdir loop) fails, named. */
function lantern(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 30_000, maxBuffer: 64 << 20 });
  assert.equal(r.signal, null, `lantern ${args.join(' ')} was killed (${r.signal}): it hung`);
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function saved(dir: string, name = 'app02.json'): string {
  const f = join(dir, name);
  const r = lantern('baseline', 'save', '--root', fixture('rhel9'), '--out', f);
  assert.equal(r.code, 0, r.err);
  return f;
}

test('baseline list: a FIFO, a link to /dev/zero, a device node and an oversized file are skipped unread, with the reason', { skip: needRoot }, () => {
  const dir = tmpDir('hostile');
  saved(dir);
  execFileSync('mkfifo', [join(dir, 'fifo.json')]);
  symlinkSync('/dev/zero', join(dir, 'zero.json'));
  execFileSync('mknod', [join(dir, 'urandom.json'), 'c', '1', '9']);
  const big = join(dir, 'big.json');
  writeFileSync(big, '');
  truncateSync(big, MAX_SNAPSHOT_BYTES + 1); // sparse: costs nothing unless read
  const r = lantern('baseline', 'list', '--dir', dir);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /app02\.example\.com\s+tree/);
  assert.match(r.out, /skipped .*fifo\.json: cannot read: is a FIFO, not a regular file \(not read\)/);
  assert.match(r.out, /skipped .*zero\.json: cannot read: is a character device 1:5, not a regular file \(not read\)/);
  assert.match(r.out, /skipped .*urandom\.json: cannot read: is a character device 1:9/);
  assert.match(r.out, /skipped .*big\.json: cannot read: 67108865 bytes, larger than 64 MiB \(not read\)/);
  const j = JSON.parse(lantern('baseline', 'list', '--dir', dir, '--json').out);
  assert.equal(j.snapshots.length, 1);
  assert.equal(j.skipped.length, 4);
  // The directory as a baseline still finds the real snapshot; naming a special file is exit 66.
  assert.equal(lantern('diff', dir, '--root', fixture('rhel9')).code, 0);
  for (const bad of ['fifo.json', 'zero.json', 'urandom.json', 'big.json']) {
    const d = lantern('diff', join(dir, bad), join(dir, 'app02.json'));
    assert.equal(d.code, 66, d.err);
    assert.match(d.err, /^lantern: .*: cannot read: .*\(not read\)\n$/);
    assert.equal(lantern('baseline', 'show', join(dir, bad)).code, 66);
    assert.equal(lantern('report', '--snapshot', join(dir, 'app02.json'), '--baseline', join(dir, bad)).code, 66);
  }
  assert.equal(lantern('baseline', 'prune', '--keep', '1', '--dir', dir).code, 0);
  assert.ok(lstatSync(join(dir, 'fifo.json')).isFIFO());
});

test('baseline save --dir on procfs or sysfs: a clear error at once, no spin', () => {
  for (const d of ['/proc/nope', '/sys/nope', '/proc/self/nope/deeper']) {
    const t0 = Date.now();
    const r = lantern('baseline', 'save', '--root', fixture('rhel9'), '--dir', d);
    assert.equal(r.code, 74, r.err);
    assert.match(r.err, /^lantern: .*nope.*: cannot create .*, a kernel pseudo file system\n$/);
    assert.ok(Date.now() - t0 < 25_000);
  }
  const dir = tmpDir('notdir');
  writeFileSync(join(dir, 'file'), '');
  const r = lantern('baseline', 'save', '--root', fixture('rhel9'), '--dir', join(dir, 'file', 'baselines'));
  assert.equal(r.code, 74);
  assert.match(r.err, /file is a regular file, not a directory/);
});

test('save and report --out: a device node stays a device node, a planted link is refused, the own descriptor is written as it is', { skip: needRoot }, () => {
  const dir = tmpDir('outs');
  const snap = saved(dir);
  const nul = join(dir, 'null');
  execFileSync('mknod', [nul, 'c', '1', '3']);
  assert.equal(lantern('baseline', 'save', '--root', fixture('rhel9'), '--out', nul).code, 0);
  assert.equal(lantern('report', '--snapshot', snap, '--out', nul).code, 0);
  assert.ok(lstatSync(nul).isCharacterDevice());
  assert.equal(statSync(nul).rdev, statSync('/dev/null').rdev);
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'precious\n');
  symlinkSync(victim, join(dir, 'report.md'));
  const r = lantern('report', '--snapshot', snap, '--out', join(dir, 'report.md'));
  assert.equal(r.code, 74);
  assert.match(r.err, /report\.md: is a symbolic link to a regular file; not written through/);
  assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
  assert.ok(lstatSync(join(dir, 'report.md')).isSymbolicLink());
  // --out /dev/stdout with stdout a file opened for appending (a shell's >>): appended, not replaced.
  const log = join(dir, 'log.txt');
  writeFileSync(log, 'earlier line\n');
  for (const name of ['/dev/stdout', '/proc/self/fd/1', '/dev/fd/1']) {
    const fd = openSync(log, 'a');
    const ino = statSync(log).ino;
    const w = spawnSync(process.execPath, [BIN, 'report', '--snapshot', snap, '--format', 'text', '--out', name], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' });
    closeSync(fd);
    assert.equal(w.status, 0, w.stderr);
    assert.equal(statSync(log).ino, ino);
  }
  const text = readFileSync(log, 'utf8');
  assert.ok(text.startsWith('earlier line\nLantern report: app02'));
  assert.equal(text.split('Lantern report: app02').length, 4);
});
