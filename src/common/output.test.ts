/**
 * writeOutput and ensureDirectory on real files, real device nodes (mknod), real FIFOs with a real
 * reader process, real sockets, planted symbolic links and real tmpfs mounts (read-only, full).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CliError, EXIT } from './exit.js';
import { ClosedPipeError, ensureDirectory, ownDescriptor, pseudoFileSystem, writeOutput } from './output.js';
import { facilitySkip, tempDir } from './testenv.js';

const isRoot = process.getuid?.() === 0;
const needRoot = facilitySkip(isRoot ? undefined : 'needs root (mknod, mount)');

const tmp = (tag: string): string => tempDir(`lantern-output-${tag}-`);
const mounts: string[] = [];
after(() => {
  for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
});

function mknod(path: string, type: 'c' | 'b', major: number, minor: number): void {
  execFileSync('mknod', [path, type, String(major), String(minor)]);
}
function mkfifo(path: string): void {
  execFileSync('mkfifo', [path]);
}
/** The IOERR CliError whose message matches. */
function ioerr(re: RegExp) {
  return (e: unknown) => e instanceof CliError && e.exitCode === EXIT.IOERR && re.test(e.message);
}
const rdev = (p: string) => statSync(p).rdev;

test('a new file: created whole with mode 0640 (umask aside), no temporary file left', () => {
  const d = tmp('new');
  const f = join(d, 'snap.json');
  const old = process.umask(0o077);
  try {
    assert.equal(writeOutput(f, '{"a":1}\n'), 'created');
  } finally {
    process.umask(old);
  }
  assert.equal(readFileSync(f, 'utf8'), '{"a":1}\n');
  assert.equal(statSync(f).mode & 0o777, 0o640);
  assert.deepEqual(readdirSync(d), ['snap.json']);
});

test('a regular file is replaced by rename (new inode), keeping its permission bits', () => {
  const d = tmp('replace');
  const f = join(d, 'report.md');
  writeFileSync(f, 'old\n');
  chmodSync(f, 0o604);
  const ino = statSync(f).ino;
  assert.equal(writeOutput(f, 'new\n'), 'replaced');
  assert.equal(readFileSync(f, 'utf8'), 'new\n');
  assert.notEqual(statSync(f).ino, ino);
  assert.equal(statSync(f).mode & 0o777, 0o604);
  assert.deepEqual(readdirSync(d), ['report.md']);
});

test('symbolic links planted at every temporary name: none is followed, the write retries past them', () => {
  const d = tmp('planted');
  const victim = join(d, 'victim');
  writeFileSync(victim, 'precious\n');
  const f = join(d, 'out.json');
  // The old scheme's name, and the ones a mkstemp-style writer might be guessed to use.
  for (const n of [`out.json.tmp-${process.pid}`, 'out.json.tmp', '.out.json.tmp']) symlinkSync(victim, join(d, n));
  // With predictable names (the test hook), every one but the last is a planted link.
  const names = Array.from({ length: 10 }, (_, i) => `.planted-${i}`);
  for (const n of names.slice(0, -1)) symlinkSync(victim, join(d, n));
  let i = 0;
  assert.equal(writeOutput(f, 'data\n', { tempNames: () => names[i++]! }), 'created');
  assert.equal(i, 10);
  assert.equal(readFileSync(f, 'utf8'), 'data\n');
  assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
  for (const n of names.slice(0, -1)) assert.ok(lstatSync(join(d, n)).isSymbolicLink());
  assert.equal(existsSync(join(d, names[9]!)), false);
  // A dangling planted link (O_CREAT would create its target) and one to a directory: refused too.
  const g = join(d, 'g');
  symlinkSync(join(d, 'created-by-link'), join(d, '.dangling'));
  symlinkSync(d, join(d, '.todir'));
  const seq = ['.dangling', '.todir', '.fresh'];
  let j = 0;
  assert.equal(writeOutput(g, 'x', { tempNames: () => seq[j++]! }), 'created');
  assert.equal(existsSync(join(d, 'created-by-link')), false);
  // All names taken: a clear error, nothing written anywhere.
  assert.throws(() => writeOutput(join(d, 'h'), 'x', { tempNames: () => '.planted-0' }), ioerr(/100 names in a row were taken/));
  assert.equal(existsSync(join(d, 'h')), false);
  assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
});

test('a symbolic link at the output path: refused unless it leads to a character device or FIFO', { skip: needRoot }, () => {
  const d = tmp('linkout');
  const victim = join(d, 'victim');
  writeFileSync(victim, 'precious\n');
  const f = join(d, 'report.md');
  symlinkSync(victim, f);
  assert.throws(() => writeOutput(f, 'evil\n'), ioerr(/is a symbolic link to a regular file; not written through/));
  assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
  assert.ok(lstatSync(f).isSymbolicLink());
  const dangling = join(d, 'dangling');
  symlinkSync(join(d, 'would-be-created'), dangling);
  assert.throws(() => writeOutput(dangling, 'x'), ioerr(/symbolic link to nothing/));
  assert.equal(existsSync(join(d, 'would-be-created')), false);
  const todir = join(d, 'todir');
  symlinkSync(d, todir);
  assert.throws(() => writeOutput(todir, 'x'), ioerr(/symbolic link to a directory/));
  // A link to a device is written through, and the device stays a device.
  const nul = join(d, 'null');
  mknod(nul, 'c', 1, 3);
  const tonull = join(d, 'tonull');
  symlinkSync(nul, tonull);
  assert.equal(writeOutput(tonull, 'gone\n'), 'device');
  assert.ok(statSync(nul).isCharacterDevice());
  assert.ok(lstatSync(tonull).isSymbolicLink());
});

test('character devices are written straight and stay device nodes (null, full: ENOSPC is an error)', { skip: needRoot }, () => {
  const d = tmp('dev');
  const nul = join(d, 'null');
  mknod(nul, 'c', 1, 3);
  const before = rdev(nul);
  assert.equal(writeOutput(nul, Buffer.alloc(3 << 20, 0x61)), 'device');
  assert.ok(lstatSync(nul).isCharacterDevice());
  assert.equal(rdev(nul), before);
  const full = join(d, 'full');
  mknod(full, 'c', 1, 7);
  assert.throws(() => writeOutput(full, 'x'), ioerr(/full: cannot write \(ENOSPC\)/));
  assert.ok(lstatSync(full).isCharacterDevice());
  assert.deepEqual(readdirSync(d).sort(), ['full', 'null']);
});

test('a FIFO with a reader gets every byte (more than a pipe buffer) and stays a FIFO; without one, a bounded wait then an error', { skip: needRoot }, async () => {
  const d = tmp('fifo');
  const p = join(d, 'pipe');
  mkfifo(p);
  const copy = join(d, 'copy');
  const reader = spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', p, copy], { stdio: 'ignore' });
  const done = new Promise<number | null>((r) => reader.on('exit', r));
  const data = Buffer.alloc(1 << 20);
  for (let i = 0; i < data.length; i++) data[i] = i % 251;
  assert.equal(writeOutput(p, data, { fifoReaderWaitMs: 20_000 }), 'fifo');
  assert.equal(await done, 0);
  assert.ok(readFileSync(copy).equals(data));
  assert.ok(lstatSync(p).isFIFO());
  const t0 = Date.now();
  assert.throws(() => writeOutput(p, 'x', { fifoReaderWaitMs: 300 }), ioerr(/FIFO without a reader \(waited 300 ms/));
  assert.ok(Date.now() - t0 < 5000);
  assert.ok(lstatSync(p).isFIFO());
  // A reader that leaves early: the closed pipe, not a crash.
  const quitter = spawn('sh', ['-c', 'head -c 10 "$1" > /dev/null', 'sh', p], { stdio: 'ignore' });
  const gone = new Promise((r) => quitter.on('exit', r));
  assert.throws(
    () => writeOutput(p, Buffer.alloc(4 << 20), { fifoReaderWaitMs: 20_000 }),
    (e) => e instanceof ClosedPipeError,
  );
  await gone;
  assert.ok(lstatSync(p).isFIFO());
});

test('sockets, block devices and directories are refused before anything is written', { skip: needRoot }, async () => {
  const d = tmp('special');
  const sock = join(d, 'sock');
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(sock, r));
  try {
    assert.throws(() => writeOutput(sock, 'x'), ioerr(/sock: is a socket; output goes only to a regular file, a FIFO or a character device/));
    assert.ok(lstatSync(sock).isSocket());
  } finally {
    srv.close();
  }
  const blk = join(d, 'loop');
  mknod(blk, 'b', 7, 0);
  assert.throws(() => writeOutput(blk, 'x'), ioerr(/is a block device 7:0/));
  assert.ok(lstatSync(blk).isBlockDevice());
  assert.throws(() => writeOutput(d, 'x'), ioerr(/is a directory/));
  assert.deepEqual(readdirSync(d).sort(), ['loop']);
});

test('a read-only file system and a full one: a clear error, the old file intact, no temporary file left', { skip: needRoot }, () => {
  const ro = tmp('ro');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', ro]);
  mounts.push(ro);
  writeFileSync(join(ro, 'old.md'), 'old\n');
  execFileSync('mount', ['-o', 'remount,ro', ro]);
  assert.throws(() => writeOutput(join(ro, 'old.md'), 'new\n'), ioerr(/cannot create a temporary file in .* \(EROFS\)/));
  assert.equal(readFileSync(join(ro, 'old.md'), 'utf8'), 'old\n');
  const small = tmp('full');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', small]);
  mounts.push(small);
  writeFileSync(join(small, 'old.md'), 'old\n');
  assert.throws(() => writeOutput(join(small, 'old.md'), Buffer.alloc(1 << 20, 0x62)), ioerr(/old\.md: cannot write \(ENOSPC\)/));
  assert.equal(readFileSync(join(small, 'old.md'), 'utf8'), 'old\n');
  assert.deepEqual(readdirSync(small), ['old.md']);
});

test('pseudo file systems: no output file there, no directory made there', () => {
  assert.equal(pseudoFileSystem('/proc'), 'procfs');
  assert.equal(pseudoFileSystem('/sys'), 'sysfs');
  assert.equal(pseudoFileSystem(tmpdir()), null);
  assert.throws(() => writeOutput('/proc/lantern-nope.json', 'x'), ioerr(/lies on procfs/));
  assert.throws(() => writeOutput('/sys/kernel/lantern-nope.json', 'x'), ioerr(/lies on sysfs/));
  assert.throws(() => ensureDirectory('/proc/nope/deeper'), ioerr(/cannot create \/proc\/nope: \/proc is on procfs/));
  assert.throws(() => ensureDirectory('/sys/nope'), ioerr(/\/sys is on sysfs/));
  assert.throws(() => ensureDirectory('/proc/self'), ioerr(/is on procfs/));
  if (pseudoFileSystem('/sys/kernel/tracing') === 'tracefs') assert.throws(() => ensureDirectory('/sys/kernel/tracing/lantern-nope'), ioerr(/tracefs/));
  assert.equal(existsSync('/sys/kernel/tracing/lantern-nope'), false);
});

test('ensureDirectory: one component at a time, each new one 0750; a file or dangling link on the way is refused', () => {
  const d = tmp('dirs');
  const deep = join(d, 'a', 'b', 'c');
  const old = process.umask(0o022);
  try {
    ensureDirectory(deep);
  } finally {
    process.umask(old);
  }
  assert.ok(statSync(deep).isDirectory());
  assert.equal(statSync(join(d, 'a')).mode & 0o777, 0o750);
  ensureDirectory(deep); // already there: fine
  writeFileSync(join(d, 'file'), '');
  assert.throws(() => ensureDirectory(join(d, 'file', 'x')), ioerr(/file is a regular file, not a directory/));
  symlinkSync(join(d, 'nowhere'), join(d, 'dangling'));
  assert.throws(() => ensureDirectory(join(d, 'dangling', 'x')), ioerr(/dangling symbolic link/));
  mkdirSync(join(d, 'real'));
  symlinkSync(join(d, 'real'), join(d, 'linked'));
  ensureDirectory(join(d, 'linked', 'sub')); // a link among the directories is the user's layout: followed
  assert.ok(statSync(join(d, 'real', 'sub')).isDirectory());
});

test("the process's own descriptor names", () => {
  assert.equal(ownDescriptor('/dev/stdout'), 1);
  assert.equal(ownDescriptor('/dev/stderr'), 2);
  assert.equal(ownDescriptor('/dev/fd/7'), 7);
  assert.equal(ownDescriptor('/proc/self/fd/3'), 3);
  assert.equal(ownDescriptor(`/proc/${process.pid}/fd/4`), 4);
  assert.equal(ownDescriptor('//dev//stdout'), 1);
  assert.equal(ownDescriptor('/dev/stdoutx'), null);
  assert.equal(ownDescriptor('dev/stdout'), null);
  assert.throws(() => writeOutput('/dev/fd/987', 'x'), ioerr(/descriptor 987 is not open/));
});

test(
  'regularFileOnly (state files): a device node, FIFO, link or descriptor name at the path is refused, untouched; a regular file is replaced; sync: false still writes whole',
  { skip: needRoot },
  () => {
    const d = tmp('regular');
    const opts = { regularFileOnly: true, sync: false };
    const nul = join(d, 'null');
    mknod(nul, 'c', 1, 3);
    assert.throws(() => writeOutput(nul, 'x', opts), ioerr(/null: is a character device 1:3; only a regular file is written here \(not replaced\)/));
    assert.ok(lstatSync(nul).isCharacterDevice());
    const fifo = join(d, 'fifo');
    mkfifo(fifo);
    assert.throws(() => writeOutput(fifo, 'x', opts), ioerr(/is a FIFO; only a regular file/));
    const tonull = join(d, 'tonull');
    symlinkSync(nul, tonull);
    assert.throws(() => writeOutput(tonull, 'x', opts), ioerr(/is a symbolic link; only a regular file/));
    assert.ok(lstatSync(tonull).isSymbolicLink());
    assert.throws(() => writeOutput('/dev/stdout', 'x', opts), ioerr(/names a descriptor; only a regular file/));
    const state = join(d, 'state.json');
    assert.equal(writeOutput(state, 'one\n', { ...opts, mode: 0o600 }), 'created');
    assert.equal(statSync(state).mode & 0o777, 0o600);
    assert.equal(writeOutput(state, 'two\n', opts), 'replaced');
    assert.equal(readFileSync(state, 'utf8'), 'two\n');
    assert.deepEqual(readdirSync(d).sort(), ['fifo', 'null', 'state.json', 'tonull']);
  },
);
