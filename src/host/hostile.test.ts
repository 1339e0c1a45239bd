/**
 * Hostile roots: trees and sosreports made by somebody else, as an attacker or a careless user
 * would make them. Real links, FIFOs, device nodes and tarballs (root: CI runs these as root).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Host, HostError, MAX_SYMLINK_HOPS } from './host.js';
import { unpackSosreport } from './archive.js';
import { skipUnlessCI, tempDir } from '../common/testenv.js';

const BIN = fileURLToPath(new URL('../../bin/lantern.js', import.meta.url));
const SOS = fileURLToPath(new URL('../../test/data/check/sosreport', import.meta.url));
const isRoot = process.getuid?.() === 0;

/** A minimal copied root with the files `check` reads first. */
function smallTree(): string {
  const root = tempDir('lantern-hostile-');
  mkdirSync(join(root, 'proc/sys/kernel'), { recursive: true });
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'proc/cmdline'), 'BOOT_IMAGE=/vmlinuz root=/dev/sda1 crashkernel=256M\n');
  writeFileSync(join(root, 'proc/sys/kernel/sysrq'), '1\n');
  writeFileSync(join(root, 'etc/os-release'), 'ID=debian\nVERSION_ID="12"\n');
  return root;
}

/** An outside file whose content must never show up as the tree's evidence. */
function outsideSecret(): string {
  const dir = tempDir('lantern-outside-');
  const f = join(dir, 'secret');
  writeFileSync(f, 'OUTSIDE-SECRET\n');
  return f;
}

function runLantern(args: string[], timeoutMs = 60_000) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: timeoutMs });
}

// 1. Symbolic link chains

test('a chain of more links than the kernel follows is ELOOP, never the outside file', () => {
  const root = smallTree();
  const secret = outsideSecret();
  mkdirSync(join(root, 'c'));
  // proc/cmdline -> /c/l1 -> ... -> /c/lN -> <outside path>: re-rooting makes the last hop point
  // inside the tree; before the fix the hop limit handed the rest of the chain to the kernel.
  const n = MAX_SYMLINK_HOPS + 5;
  for (let i = 1; i < n; i++) symlinkSync(`/c/l${i + 1}`, join(root, `c/l${i}`));
  symlinkSync(secret, join(root, `c/l${n}`));
  rmSync(join(root, 'proc/cmdline'));
  symlinkSync('/c/l1', join(root, 'proc/cmdline'));
  const host = new Host({ root });
  const r = host.readText('/proc/cmdline');
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.code === 'ELOOP', JSON.stringify(r));
  assert.match(!r.ok ? r.reason : '', /more than 40 symbolic links/);
  // The check on that tree says unknown for the command line and never shows the secret.
  const out = runLantern(['check', '--json', '--root', root]);
  assert.ok([0, 1, 2].includes(out.status!), out.stderr);
  assert.doesNotMatch(out.stdout, /OUTSIDE-SECRET/);
});

test('a chain below the limit resolves inside the root; a loop is ELOOP', () => {
  const root = smallTree();
  mkdirSync(join(root, 'c'));
  for (let i = 1; i < 30; i++) symlinkSync(`../c/l${i + 1}`, join(root, `c/l${i}`));
  symlinkSync('/etc/os-release', join(root, 'c/l30'));
  const host = new Host({ root });
  const r = host.readText('/c/l1');
  assert.ok(r.ok && r.text.startsWith('ID=debian'), JSON.stringify(r));
  symlinkSync('/loop/b', join(root, 'a'));
  mkdirSync(join(root, 'loop'));
  symlinkSync('/a', join(root, 'loop/b'));
  const l = host.readText('/a');
  assert.ok(!l.ok && l.code === 'ELOOP');
  assert.equal(host.exists('/a'), false);
  assert.equal(host.list('/a').ok, false);
});

test('a chain on a directory never makes a copied tree report the machine running Lantern', () => {
  const root = tempDir('lantern-hostile-dir-');
  mkdirSync(join(root, 'c'));
  const n = MAX_SYMLINK_HOPS + 3;
  for (let i = 1; i < n; i++) symlinkSync(`/c/d${i + 1}`, join(root, `c/d${i}`));
  symlinkSync('/proc', join(root, `c/d${n}`));
  symlinkSync('/c/d1', join(root, 'proc'));
  mkdirSync(join(root, 'etc'));
  const host = new Host({ root });
  assert.equal(host.isDirectory('/proc'), false);
  assert.equal(host.readText('/proc/cmdline').ok, false);
  assert.equal(host.list('/proc').ok, false);
  const live = readFileSync('/proc/cmdline', 'utf8').trim();
  const out = runLantern(['check', '--json', '--root', root]);
  assert.ok([0, 1, 2].includes(out.status!), out.stderr);
  assert.ok(!out.stdout.includes(live), 'the live command line leaked into the tree audit');
});

test('an opened file is checked to lie inside the root, whatever the path did', () => {
  const root = smallTree();
  const secret = outsideSecret();
  // A bind-mount-free way to reach outside: a hard link is inside; a link is not followed as the last component.
  symlinkSync(secret, join(root, 'etc/hostname'));
  const host = new Host({ root });
  const r = host.readText('/etc/hostname');
  // Re-rooted: the absolute target is looked up inside the tree, where it does not exist.
  assert.equal(r.ok, false);
  assert.ok(!r.ok && (r.code === 'NOTCOLLECTED' || r.code === 'ENOENT'), JSON.stringify(r));
  // A relative link climbing out with '..' is clamped at the root.
  symlinkSync('../../../../../../../../' + secret.slice(1), join(root, 'etc/motd'));
  const m = host.readText('/etc/motd');
  assert.equal(m.ok, false);
});

test('writes never leave the root: setting files and configfs directories behind planted links', () => {
  const root = smallTree();
  const outside = tempDir('lantern-outside-w-');
  mkdirSync(join(root, 'sys/kernel'), { recursive: true });
  mkdirSync(join(root, 'c'));
  const n = MAX_SYMLINK_HOPS + 2;
  for (let i = 1; i < n; i++) symlinkSync(`/c/k${i + 1}`, join(root, `c/k${i}`));
  symlinkSync(outside, join(root, `c/k${n}`));
  symlinkSync('/c/k1', join(root, 'sys/kernel/config'));
  const host = new Host({ root });
  const d = host.makeSettingDir('/sys/kernel/config/netconsole');
  assert.equal(d.ok, false);
  const w = host.writeSetting('/sys/kernel/config/netconsole/target1/enabled', '1');
  assert.equal(w.ok, false);
  // A link as the last component of a setting file is not written through.
  mkdirSync(join(root, 'proc/sys/net/core'), { recursive: true });
  symlinkSync(join(outside, 'victim'), join(root, 'proc/sys/net/core/rmem_max'));
  const s = host.writeSetting('/proc/sys/net/core/rmem_max', '1');
  // Re-rooted: the link's target is looked up inside the tree (where its directory is missing).
  assert.ok(!s.ok || s.path.startsWith(root + '/'), JSON.stringify(s));
  assert.deepEqual(readdirSync(outside), [], 'nothing was created outside the root');
  // netconsole setup --apply on such a tree creates nothing outside it.
  const r = runLantern(['netconsole', 'setup', '--root', root, '--apply', '--dev', 'lo', '--local-ip', '127.0.0.1', '--remote-mac', '00:00:00:00:00:00', '--remote', '127.0.0.1:6666']);
  assert.ok(r.status !== null, 'setup finished');
  assert.deepEqual(readdirSync(outside), [], `setup wrote outside the root: ${r.stdout}${r.stderr}`);
});

// 2. FIFOs and device nodes

test('a FIFO or a device node in a tree is refused before it is opened: no hang, no live data', { timeout: 60_000 }, (t) => {
  if (!isRoot) return skipUnlessCI(t, 'mknod needs root');
  const root = smallTree();
  rmSync(join(root, 'proc/cmdline'));
  assert.equal(spawnSync('mkfifo', [join(root, 'proc/cmdline')]).status, 0);
  rmSync(join(root, 'etc/os-release'));
  // The character device of /dev/kmsg (1:11): reading it would return this machine's kernel log.
  assert.equal(spawnSync('mknod', [join(root, 'etc/os-release'), 'c', '1', '11']).status, 0);
  assert.equal(spawnSync('mknod', [join(root, 'proc/sys/kernel/sysrq'), 'b', '7', '0'], {}).status === 0 || true, true);
  const host = new Host({ root });
  const c = host.readText('/proc/cmdline');
  assert.ok(!c.ok && c.code === 'NOTREGULAR' && /FIFO/.test(c.reason), JSON.stringify(c));
  const o = host.readText('/etc/os-release');
  assert.ok(!o.ok && o.code === 'NOTREGULAR' && /character device 1:11/.test(o.reason), JSON.stringify(o));
  assert.equal(host.readHead('/proc/cmdline'), null);
  const start = Date.now();
  const out = runLantern(['check', '--json', '--root', root], 30_000);
  assert.equal(out.signal, null, 'check hung on a FIFO');
  assert.ok([0, 1, 2].includes(out.status!), out.stderr);
  assert.ok(Date.now() - start < 30_000);
  const doc = JSON.parse(out.stdout) as { findings: { evidence: { reason?: string }[] }[]; inputProblems: string[] };
  const reasons = doc.findings.flatMap((f) => f.evidence.map((e) => e.reason ?? '')).join('\n');
  assert.match(reasons, /FIFO, not a regular file/);
  // Every refusal is listed once with the run, whichever check met it.
  assert.match(doc.inputProblems.join('\n'), /\/etc\/os-release: is a character device 1:11, not a regular file \(not read\)/);
  assert.match(doc.inputProblems.join('\n'), /\/proc\/cmdline: is a FIFO/);
});

test('a sosreport tarball with FIFOs and device nodes unpacks without them, and says so', { timeout: 60_000 }, (t) => {
  if (!isRoot) return skipUnlessCI(t, 'mknod needs root');
  const work = tempDir('lantern-sos-special-');
  const top = join(work, 'sosreport-evil-2026-12-01');
  cpSync(SOS, top, { recursive: true });
  rmSync(join(top, 'proc/cmdline'), { force: true });
  assert.equal(spawnSync('mkfifo', [join(top, 'proc/cmdline')]).status, 0);
  rmSync(join(top, 'etc/os-release'), { force: true });
  assert.equal(spawnSync('mknod', [join(top, 'etc/os-release'), 'c', '1', '11']).status, 0);
  const archive = join(work, 'sosreport-evil-2026-12-01.tar.xz');
  assert.equal(spawnSync('tar', ['-cJf', archive, '-C', work, 'sosreport-evil-2026-12-01']).status, 0);
  const parent = tempDir('lantern-unpack-');
  const u = unpackSosreport(archive, {}, parent);
  assert.equal(existsSync(join(u.root, 'proc/cmdline')), false);
  assert.equal(existsSync(join(u.root, 'etc/os-release')), false);
  assert.match(u.notes.join('\n'), /1 CharacterDevice, 1 FIFO member\(s\) not unpacked/);
  // No permission bits from the archive: nothing setuid, nothing group/world accessible.
  const st = lstatSync(join(u.root, 'sos_commands'));
  assert.equal(st.mode & 0o7077, 0);
  const out = runLantern(['check', '--json', '--sosreport', archive], 30_000);
  assert.ok([0, 1, 2].includes(out.status!), out.stderr);
  const doc = JSON.parse(out.stdout) as { inputProblems: string[] };
  assert.match(doc.inputProblems.join('\n'), /not unpacked/);
});

// 3. Size

test('an over-long datum is cut at its cap, fast, and the cut is reported', { timeout: 60_000 }, () => {
  const root = smallTree();
  const big = join(root, 'proc/cmdline');
  writeFileSync(big, 'BOOT_IMAGE=/vmlinuz quiet ' + 'x'.repeat(50 * 1024 * 1024) + '\n');
  const host = new Host({ root });
  const r = host.readText('/proc/cmdline');
  assert.ok(r.ok && r.cut !== undefined && r.text.length === 64 * 1024, 'cut at 64 KiB');
  assert.match(host.cuts.join('\n'), /\/proc\/cmdline: 52,428,827 bytes, only the first 64 KiB read/);
  const start = Date.now();
  const out = runLantern(['check', '--json', '--root', root]);
  assert.ok([0, 1, 2].includes(out.status!), out.stderr);
  assert.ok(Date.now() - start < 20_000, `check took ${Date.now() - start} ms`);
  const doc = JSON.parse(out.stdout) as { inputProblems: string[] };
  assert.match(doc.inputProblems.join('\n'), /\/proc\/cmdline: .* only the first 64 KiB read/);
  const snap = join(tempDir('lantern-cut-snap-'), 's.json');
  const b = runLantern(['baseline', 'save', '--root', root, '--out', snap, '--no-commands']);
  assert.equal(b.status, 0, b.stderr);
  assert.ok(readFileSync(snap).length < 2 * 1024 * 1024, 'the snapshot holds the cut datum, not 50 MB');
  const d = runLantern(['diff', snap, snap]);
  assert.equal(d.status, 0, d.stderr);
});

// 4. Archive bombs and leaks

/** A sosreport tarball with one big all-zero member: a few hundred KiB compressed. */
function bomb(bytes: number): { archive: string; work: string } {
  const work = tempDir('lantern-bomb-');
  const top = join(work, 'sosreport-bomb-2026-12-01');
  cpSync(SOS, top, { recursive: true });
  const f = join(top, 'var/log/zeros');
  mkdirSync(join(top, 'var/log'), { recursive: true });
  writeFileSync(f, '');
  truncateSync(f, bytes);
  const archive = join(work, 'sosreport-bomb-2026-12-01.tar.gz');
  const r = spawnSync('tar', ['-czf', archive, '-C', work, 'sosreport-bomb-2026-12-01']);
  assert.equal(r.status, 0, r.stderr?.toString());
  rmSync(top, { recursive: true });
  return { archive, work };
}

test('an archive bomb is stopped by the ratio and size limits; nothing is left in the temp directory', { timeout: 120_000 }, () => {
  const { archive } = bomb(300 * 1024 * 1024);
  const parent = tempDir('lantern-bomb-tmp-');
  const start = Date.now();
  assert.throws(
    () => unpackSosreport(archive, {}, parent),
    (e: unknown) => e instanceof HostError && /times its .* bytes \(a decompression bomb\?\).*--max-unpacked/.test((e as Error).message),
  );
  assert.deepEqual(readdirSync(parent), [], 'the extraction directory was removed');
  assert.ok(Date.now() - start < 30_000);
  assert.throws(() => unpackSosreport(archive, { maxBytes: 10 * 1024 * 1024, maxRatio: 0 }, parent), /more than 10,485,760 bytes unpacked/);
  assert.throws(() => unpackSosreport(archive, { maxFiles: 5 }, parent), /more than 5 members/);
  assert.deepEqual(readdirSync(parent), []);
  const r = spawnSync(process.execPath, [BIN, 'check', '--sosreport', archive], { encoding: 'utf8', env: { ...process.env, TMPDIR: parent } });
  assert.equal(r.status, 66, r.stderr);
  assert.match(r.stderr, /^lantern: .*decompression bomb.*--max-unpacked SIZE/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.deepEqual(readdirSync(parent), []);
  const bad = runLantern(['check', '--sosreport', archive, '--max-unpacked', 'lots']);
  assert.equal(bad.status, 64);
});

test('SIGINT and SIGTERM during the extraction remove the extraction directory', { timeout: 120_000 }, async () => {
  const { archive } = bomb(1536 * 1024 * 1024);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    const parent = tempDir('lantern-sig-tmp-');
    const child = spawn(process.execPath, [BIN, 'check', '--sosreport', archive, '--max-unpacked', '4G'], { env: { ...process.env, TMPDIR: parent }, stdio: 'ignore', detached: true });
    // Wait until the extraction is under way (its directory exists and is being filled).
    for (let i = 0; i < 400 && !(readdirSync(parent).length && readdirSync(join(parent, readdirSync(parent)[0]!)).length); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(readdirSync(parent).length, 'extraction started');
    // Signal the whole process group, as a terminal's Ctrl-C (or systemd's stop) does.
    process.kill(-child.pid!, sig);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res) => child.on('exit', (c, s) => res([c, s])));
    assert.equal(signal ?? code, signal ? sig : code, `ended by ${signal ?? code}`);
    assert.deepEqual(readdirSync(parent), [], `${sig}: the extraction directory was removed`);
  }
});
