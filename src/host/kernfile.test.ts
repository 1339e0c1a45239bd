/**
 * The kernfile addon (native/kernfile) against the JavaScript path it replaces (host.ts
 * readKernelFile with no addon): the same text, cut and codes for the live /proc files of the
 * per-process scans, a FIFO refused without blocking, a missing file ENOENT; and the batch reads
 * (readMany, readManyAsync, Host.readPidValues) equal to one read per file, in order. On CI the
 * addon must be built: a missing build fails here instead of skipping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { facilitySkip, tempDir } from '../common/testenv.js';
import { Host, readKernelFile } from './host.js';
import { kernelReadResult, kernfile, kernfileMissing } from './kernfile.js';
import { steadyProcText } from './proc.testutil.js';

const missing = kernfileMissing();
const skip = facilitySkip(missing);

test('kernfile: the per-process files read as the JavaScript path reads them, whole and cut, and their errors', { skip }, () => {
  const native = kernfile()!;
  assert.ok(native, missing);
  for (const file of ['stat', 'status', 'comm', 'oom_score_adj', 'cmdline', 'environ', 'limits']) {
    const path = `/proc/${process.pid}/${file}`;
    for (const whole of [true, false]) {
      const a = readKernelFile(path, 1 << 20, whole, native);
      const b = readKernelFile(path, 1 << 20, whole, null);
      assert.ok(a.ok && b.ok, file);
      assert.equal(steadyProcText(file, a.text), steadyProcText(file, b.text), file);
      assert.equal(a.cut, null);
    }
    // Cut at 1 byte: the first byte and the size counted (a /proc file's st_size is 0).
    const a = readKernelFile(path, 1, true, native);
    const b = readKernelFile(path, 1, true, null);
    assert.ok(a.ok && b.ok && a.cut !== null && b.cut !== null, file);
    assert.equal(a.text, b.text, file);
    assert.ok(a.cut > 1 && b.cut > 1, file);
  }
  for (const path of ['/proc/999999999/stat', '/proc/self/nonexistent']) {
    const a = readKernelFile(path, 4096, true, native);
    const b = readKernelFile(path, 4096, true, null);
    assert.ok(!a.ok && !b.ok);
    assert.equal(a.code, 'ENOENT');
    assert.equal(a.code, b.code);
  }
  // A directory: open succeeds (O_RDONLY), fstat says it is not a regular file; nothing is read.
  const dir = readKernelFile(`/proc/${process.pid}`, 4096, true, native);
  assert.ok(!dir.ok && dir.code === 'NOTREGULAR' && /is a directory, not a regular file/.test(dir.reason), JSON.stringify(dir));
});

test('kernfile: a FIFO with no writer is refused at once (O_NONBLOCK, fstat), an empty file is empty, a read error keeps its code', { skip }, () => {
  const native = kernfile()!;
  const dir = tempDir('kernfile-');
  const fifo = join(dir, 'fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const t0 = Date.now();
  const r = kernelReadResult(fifo, native.read(fifo, 4096, true));
  assert.ok(Date.now() - t0 < 2000, 'the open did not block');
  assert.ok(!r.ok && r.code === 'NOTREGULAR' && /is a FIFO/.test(r.reason), JSON.stringify(r));
  const empty = join(dir, 'empty');
  writeFileSync(empty, '');
  assert.deepEqual(kernelReadResult(empty, native.read(empty, 4096, false)), { ok: true, text: '', cut: null });
  assert.deepEqual(native.readMany([empty, empty], 4096, false, 2), ['', '']);
  // A regular file whose read fails: /proc/<pid>/mem of another process reads EIO at offset 0 (nothing mapped there).
  const e = kernelReadResult('/proc/self/mem', native.read('/proc/self/mem', 16, true));
  assert.ok(!e.ok && e.code === 'EIO', JSON.stringify(e));
  assert.throws(() => native.read(42 as unknown as string, 1, true), TypeError);
  assert.throws(() => native.readMany('x' as unknown as string[], 1, true, 1), TypeError);
});

test('kernfile: readMany and readManyAsync give each file what read() gives, in order, with one or two threads', { skip }, async () => {
  const native = kernfile()!;
  // Enough files for the helper thread (it starts at 256), this process's and its children's.
  const children = Array.from({ length: 4 }, () => spawn('sleep', ['30'], { stdio: 'ignore' }));
  try {
    await Promise.all(children.map((c) => new Promise((r) => c.once('spawn', r))));
    const pids = [process.pid, ...children.map((c) => c.pid!), 999999999];
    const paths: string[] = [];
    for (let i = 0; i < 80; i++) for (const pid of pids) paths.push(`/proc/${pid}/${i % 2 ? 'comm' : 'oom_score_adj'}`);
    const one = paths.map((p) => native.read(p, 4096, true));
    for (const threads of [1, 2]) {
      assert.deepEqual(native.readMany(paths, 4096, true, threads), one, `readMany, ${threads} thread(s)`);
      assert.deepEqual(await native.readManyAsync(paths, 4096, true, threads), one, `readManyAsync, ${threads} thread(s)`);
    }
    assert.deepEqual(native.readMany([], 4096, true, 2), []);
    assert.equal(one.at(-1), -2, 'the missing process: -ENOENT');
  } finally {
    for (const c of children) c.kill('SIGKILL');
  }
});

test('host: readPidValues and readPidValuesAsync are readSmallValue of each pid and file; null off the live host or for names that are not /proc/<pid> files', { skip }, async () => {
  const host = new Host();
  const pids = [String(process.pid), '999999999', '1'];
  const files = ['comm', 'oom_score_adj', 'stat'];
  const expected = new Map(files.map((f) => [f, pids.map((p) => host.readSmallValue(`/proc/${p}/${f}`))]));
  const steadyAll = (m: Map<string, (string | null)[]> | null) => m && new Map([...m].map(([f, v]) => [f, v.map((t) => (t === null ? null : steadyProcText(f, t)))]));
  assert.deepEqual(steadyAll(host.readPidValues(pids, files)), steadyAll(expected));
  assert.deepEqual(steadyAll(await host.readPidValuesAsync(pids, files)), steadyAll(expected));
  assert.equal(host.readPidValues(['self'], ['comm']), null);
  assert.equal(host.readPidValues(pids, ['fd/0']), null);
  assert.equal(new Host({ root: tempDir('kernfile-root-') }).readPidValues(pids, files), null);
  // The cap and its note hold in a batch as in one read.
  const small = new Host({ maxReadBytes: 3 });
  const cut = small.readPidValues([String(process.pid)], ['stat'])!.get('stat')!;
  assert.equal(cut[0]!.length, 3);
  assert.equal(small.cuts.length, 1);
});

test(
  "kernfile: readPidsAsync lists a directory and reads each all-digit entry's files on the pool, as a listing and readMany would; Host.readProcTableAsync is list + readPidValues",
  { skip },
  async () => {
    const native = kernfile()!;
    // A directory of its own, so the listing holds still: digit names with files, others skipped.
    const dir = tempDir('kernfile-pids-');
    for (const name of ['10', '9', '100', 'self', '1x', '007']) {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, 'a'), `a of ${name}\n`);
    }
    writeFileSync(join(dir, '12'), 'a file, not a process directory');
    mkfifoAt(join(dir, '9', 'b'));
    const [pids, raw] = await native.readPidsAsync(dir, ['a', 'b'], 4096, true, 2);
    assert.deepEqual(pids, ['007', '10', '100', '12', '9'], 'all-digit names, sorted as JavaScript sorts strings');
    const paths = ['a', 'b'].flatMap((f) => pids.map((p) => `${dir}/${p}/${f}`));
    assert.deepEqual(raw, native.readMany(paths, 4096, true, 1));
    assert.equal(raw[0], 'a of 007\n');
    assert.equal(typeof raw[pids.length + 4], 'number', 'the FIFO: not read (its S_IFMT)');
    assert.ok((raw[pids.length + 4] as number) > 0);
    assert.deepEqual(await native.readPidsAsync(join(dir, 'nowhere'), ['a'], 4096, true, 2), [[], []]);
    for (const bad of [() => native.readPidsAsync(dir, [], 4096, true, 2), () => native.readPidsAsync(dir, ['a/b'], 4096, true, 2), () => native.readPidsAsync(dir, ['a'], -1, true, 2)])
      assert.throws(bad);
    // The live table: the same pids as the listing (processes come and go between the two: compare
    // the ones both saw) and the values readPidValues gives.
    const host = new Host();
    const table = (await host.readProcTableAsync(['oom_score_adj', 'comm']))!;
    const listed = new Set((host.list('/proc') as { entries: string[] }).entries.filter((e) => /^\d+$/.test(e)));
    const both = table.pids.filter((p) => listed.has(p));
    assert.ok(both.length > table.pids.length * 0.9 && both.includes('1') && both.includes(String(process.pid)));
    const i = table.pids.indexOf(String(process.pid));
    assert.equal(table.values.get('comm')![i], host.readSmallValue(`/proc/${process.pid}/comm`));
    assert.equal(table.values.get('oom_score_adj')![i], host.readSmallValue(`/proc/${process.pid}/oom_score_adj`));
    assert.equal(await new Host({ root: tempDir('kernfile-root-') }).readProcTableAsync(['comm']), null, 'not the live host');
    assert.equal(await host.readProcTableAsync(['comm', 'limits']), null, 'files of two read modes: not one batch');
  },
);

function mkfifoAt(path: string): void {
  assert.equal(spawnSync('mkfifo', [path]).status, 0);
}
