/**
 * Rotation sets: naming rules (pure) and the real kern.log of test/data/analyze/rotation/log, cut
 * in three by rotation, read as one input whatever the order or form of the paths given.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { analyzePaths } from './analyze.js';
import { groupRotations, rotationPiece } from './rotation.js';

const logDir = new URL('../../test/data/analyze/rotation/log/', import.meta.url).pathname;

test('rotation suffixes: .N, .N.gz, -YYYYMMDD, -YYYYMMDD.xz; addresses are not rotations', () => {
  assert.deepEqual(rotationPiece('/var/log/messages'), { key: '/var/log/messages', rankClass: 2, rankValue: 0 });
  assert.equal(rotationPiece('/var/log/messages.1').key, '/var/log/messages');
  assert.equal(rotationPiece('/var/log/kern.log.2.gz').key, '/var/log/kern.log');
  assert.equal(rotationPiece('/var/log/kern.log.2.gz').rankValue, 2);
  assert.equal(rotationPiece('/var/log/messages-20240101').key, '/var/log/messages');
  assert.equal(rotationPiece('/var/log/messages-20240101.xz').rankClass, 0);
  assert.equal(rotationPiece('/var/log/syslog.1').key, '/var/log/syslog');
  // A netconsole receiver's per-host file named after an address is its own input.
  assert.equal(rotationPiece('/var/log/lantern/10.1.2.3').key, '/var/log/lantern/10.1.2.3');
  assert.equal(rotationPiece('vmcore-dmesg.txt').key, 'vmcore-dmesg.txt');
});

test('a set is ordered oldest first and takes the place of its first member', () => {
  const names = ['/l/syslog', '/l/messages', '/l/syslog.1', '/l/messages-20240108', '/l/other.log', '/l/messages-20240101.gz', '/l/syslog.10.gz', '/l/syslog.2.gz', '-'];
  const sets = groupRotations(names, (n) => (n === '-' ? null : n));
  assert.deepEqual(
    sets.map((s) => s.items),
    [['/l/syslog.10.gz', '/l/syslog.2.gz', '/l/syslog.1', '/l/syslog'], ['/l/messages-20240101.gz', '/l/messages-20240108', '/l/messages'], ['/l/other.log'], ['-']],
  );
  // Files of the same name in different directories are different logs.
  assert.equal(groupRotations(['/a/kern.log', '/b/kern.log.1'], (n) => n).length, 2);
  // A numbered piece missing in between is a gap.
  assert.deepEqual(groupRotations(['/l/k.3', '/l/k.1', '/l/k'], (n) => n)[0]!.gapsBefore, [1]);
  assert.deepEqual(groupRotations(['/l/k.2', '/l/k'], (n) => n)[0]!.gapsBefore, [1]);
  assert.deepEqual(groupRotations(['/l/dmesg.0', '/l/dmesg'], (n) => n)[0]!.gapsBefore, []);
});

test('the order of a set does not depend on the order of the paths given', () => {
  const names = ['/l/messages-20231224.xz', '/l/messages-20231231.gz', '/l/messages.3.gz', '/l/messages.2', '/l/messages.1', '/l/messages'];
  fc.assert(
    fc.property(fc.shuffledSubarray(names, { minLength: names.length, maxLength: names.length }), (shuffled) => {
      const sets = groupRotations(shuffled, (n) => n);
      assert.equal(sets.length, 1);
      assert.deepEqual(sets[0]!.items, names);
      assert.deepEqual(sets[0]!.gapsBefore, []);
    }),
    { numRuns: 200 },
  );
});

async function hungTasks(paths: string[]) {
  const res = await analyzePaths(paths);
  const incs = res.collector.groups.filter((g) => g.kind === 'hung_task');
  return { res, incs };
}

test('an incident cut by rotation (kern.log.2.gz | kern.log.1 | kern.log) is one complete incident', async () => {
  const want = 'INFO: task hung in fanotify_handle_event';
  for (const paths of [
    [logDir],
    [join(logDir, 'kern.log'), join(logDir, 'kern.log.1'), join(logDir, 'kern.log.2.gz')],
    [join(logDir, 'kern.log.1'), join(logDir, 'kern.log.2.gz'), join(logDir, 'kern.log')],
  ]) {
    const { res, incs } = await hungTasks(paths);
    assert.equal(incs.length, 1, `${paths.join(' ')}: one hung task group`);
    const g = incs[0]!;
    assert.equal(g.count, 1);
    assert.equal(g.title, want);
    assert.equal(g.example.partial, false, g.example.partialReasons.join('; '));
    assert.equal(g.example.guiltyFrame, 'fanotify_handle_event');
    assert.ok(g.example.file.endsWith('kern.log.2.gz'), 'the incident starts in the oldest piece');
    assert.ok(g.example.frames.length >= 8, 'frames from the later pieces are in the report');
    assert.deepEqual(
      res.inputs.map((i) => i.name.slice(logDir.length).replace(/^\//, '')),
      ['kern.log.2.gz', 'kern.log.1', 'kern.log'],
    );
    assert.ok(res.inputs.every((i) => i.rotationSet === join(logDir, 'kern.log')));
    // Counted for the piece where the incident starts.
    assert.deepEqual(
      res.inputs.map((i) => i.incidents),
      [1, 0, 0],
    );
  }
});

test('pieces read as separate logs (different names) stay separate: the cut report is partial', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'lantern-rotation-'));
  try {
    mkdirSync(join(tmp, 'a'));
    copyFileSync(join(logDir, 'kern.log.1'), join(tmp, 'a', 'first.log'));
    copyFileSync(join(logDir, 'kern.log'), join(tmp, 'a', 'second.log'));
    // The live file's start is missing: the set kern.log.1 + kern.log gives a partial report, never a crash.
    const { incs } = await hungTasks([join(tmp, 'a')]);
    assert.equal(incs.length, 0, 'no header in these pieces');
    const { incs: incs2 } = await hungTasks([join(logDir, 'kern.log.2.gz'), join(tmp, 'a', 'first.log')]);
    assert.equal(incs2.length, 1);
    assert.equal(incs2[0]!.example.partial, true);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('an unreadable middle piece closes the open report as partial with the reason', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'lantern-rotation-'));
  try {
    copyFileSync(join(logDir, 'kern.log.2.gz'), join(tmp, 'kern.log.2.gz'));
    copyFileSync(join(logDir, 'kern.log'), join(tmp, 'kern.log'));
    // kern.log.1 is given but missing (rotated away while we read).
    const { res, incs } = await hungTasks([join(tmp, 'kern.log.2.gz'), join(tmp, 'kern.log.1'), join(tmp, 'kern.log')]);
    assert.ok(res.inputs.some((i) => i.error === 'no such file or directory'));
    assert.equal(incs.length, 1);
    assert.equal(incs[0]!.example.partial, true);
    assert.match(incs[0]!.example.partialReasons.join(), /piece of the rotated log before .*kern\.log is missing/);
    // The same when the set is found by walking the directory.
    const { incs: fromDir } = await hungTasks([tmp]);
    assert.equal(fromDir[0]!.example.partial, true);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
