/** The real CLI: live host, fixtures, usage errors, and the fix script. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyFixture, fixture, put, tempDir } from './testkit.js';
import type { CheckReport } from './run.js';
import { CHECKS } from './checks/index.js';

const BIN = fileURLToPath(new URL('../../bin/lantern.js', import.meta.url));

function lantern(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('lantern check --json on this live machine: a valid document, exit 0/1/2', () => {
  const r = lantern('check', '--json');
  assert.ok([0, 1, 2].includes(r.code!), `exit ${r.code}: ${r.err}`);
  const doc = JSON.parse(r.out) as CheckReport;
  assert.equal(doc.schemaVersion, 1);
  assert.equal(doc.host.kind, 'live');
  assert.equal(doc.findings.length, CHECKS.length);
  assert.equal(doc.summary.exitCode, r.code);
  const statuses = new Set(['ok', 'info', 'warn', 'fail', 'unknown']);
  for (const f of doc.findings) {
    assert.ok(statuses.has(f.status), f.id);
    assert.equal(typeof f.summary, 'string');
    assert.ok(Array.isArray(f.evidence));
    for (const e of f.evidence) assert.ok(e.value !== null || typeof e.reason === 'string', `${f.id}: evidence without value needs a reason`);
  }
});

test('human output: table grouped by severity, summary line, exit code by worst status', () => {
  const r = lantern('check', '--root', fixture('rhel9'));
  assert.equal(r.code, 1);
  const rows = r.out
    .split('\n')
    .filter((l) => /^│ (FAIL|WARN|UNKNOWN|INFO|OK)/.test(l))
    .map((l) => l.split('│')[1]!.trim());
  assert.deepEqual(
    rows,
    [...rows].sort((a, b) => ['FAIL', 'WARN', 'UNKNOWN', 'INFO', 'OK'].indexOf(a) - ['FAIL', 'WARN', 'UNKNOWN', 'INFO', 'OK'].indexOf(b)),
  );
  assert.match(r.out, /lantern check: 0 fail, 2 warn, 0 unknown, 3 info, 16 ok — tree .*rhel9 \(app02\.example\.com, kernel 5\.14\.0/);
  assert.doesNotMatch(r.out, /\x1b\[/, 'no colour when not a TTY');
  const forced = spawnSync(process.execPath, [BIN, 'check', '--root', fixture('rhel9'), '--only', 'sysrq.mask'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '', FORCE_COLOR: '1' } });
  assert.match(forced.stdout, /\x1b\[33mWARN/, 'FORCE_COLOR paints as a TTY would');
  assert.equal(lantern('check', '--root', fixture('rhel6')).code, 2);
  const v = lantern('check', '--root', fixture('rhel9'), '-v', '--only', 'sysrq.mask');
  assert.match(v.out, /evidence: kernel\.sysrq \(runtime\) = 16 \(sync\)  \(.*rhel9\/proc\/sys\/kernel\/sysrq\)/);
  assert.match(v.out, /why: On a hung server/);
  assert.equal(lantern('check', '--root', fixture('rhel9'), '--only', 'hung,oom.panic').code, 0);
});

test('usage errors exit 64; a path that is not a host root or sosreport is one clear line, exit 66', () => {
  assert.equal(lantern('check', '--only', 'nope').code, 64);
  assert.match(lantern('check', '--only', 'nope').err, /unknown check id\(s\): nope/);
  assert.equal(lantern('check', '--root', '/tmp', '--sosreport', '/tmp').code, 64);
  assert.equal(lantern('check', '--bogus').code, 64);
  const empty = tempDir('lantern-notaroot-');
  const r = lantern('check', '--root', empty);
  assert.equal(r.code, 66);
  assert.equal(r.err.trim().split('\n').length, 1);
  assert.match(r.err, /not a host root or sosreport/);
  const s = lantern('check', '--sosreport', fixture('rhel9'));
  assert.equal(s.code, 66);
  assert.match(s.err, /not a sosreport/);
  assert.equal(lantern('check', '--root', join(empty, 'missing')).code, 66);
  assert.equal(lantern('check', '--root', '/proc').code, 66, '/proc has a sys/ but is no host root');
});

test('--fix-script: valid sh, safe steps active, reboot steps commented, no host data can inject', () => {
  const t = copyFixture('rhel6');
  // A process name is host data: a newline in it must not end a comment line.
  put(t, '/proc/3100/comm', 'java\nrm -rf /\n');
  put(t, '/proc/3100/status', 'Name:\tjava\\nrm -rf /\nPPid:\t1\n');
  const r = lantern('check', '--root', t, '--fix-script');
  assert.equal(r.code, 2);
  const script = r.out;
  assert.ok(script.startsWith('#!/bin/sh\n'));
  const syntax = spawnSync('sh', ['-n'], { input: script, encoding: 'utf8' });
  assert.equal(syntax.status, 0, syntax.stderr);
  const active = script.split('\n').filter((l) => l && !l.startsWith('#'));
  assert.ok(active.includes('sysctl -q -w kernel.sysrq=1'));
  assert.ok(active.includes('grubby --update-kernel=ALL --remove-args="quiet rhgb"'));
  assert.ok(!active.some((l) => /crashkernel=/.test(l)), 'crashkernel changes are left for review');
  assert.ok(script.includes('# grubby --update-kernel=ALL --args="crashkernel=256M"'));
  assert.ok(!active.some((l) => /rm -rf/.test(l)));
  assert.match(script, /# trade-off: Security baselines \(Lynis KRNL-6000/);
});

test('--fix-script sysctl steps are idempotent (run twice on a copy of sysctl.conf)', () => {
  const r = lantern('check', '--root', fixture('rhel6'), '--fix-script');
  const steps = r.out.split('\n').filter((l) => l.startsWith('grep -qxF'));
  assert.ok(steps.length >= 2);
  const dir = tempDir('lantern-fix-');
  const conf = join(dir, 'sysctl.conf');
  writeFileSync(conf, readFileSync(join(fixture('rhel6'), 'etc/sysctl.conf')));
  const body = steps.map((s) => s.replaceAll('/etc/sysctl.conf', conf)).join('\n') + '\n';
  const run = () => spawnSync('sh', ['-e'], { input: body, encoding: 'utf8' });
  assert.equal(run().status, 0);
  const once = readFileSync(conf, 'utf8');
  assert.equal(run().status, 0);
  assert.equal(readFileSync(conf, 'utf8'), once);
  assert.match(once, /^#lantern# kernel\.sysrq = 0$/m);
  assert.match(once, /^kernel\.sysrq = 1$/m);
  assert.equal(once.match(/^kernel\.sysrq/gm)!.length, 1);
});

test('--sosreport on the sosreport fixture, and a live run with --no-commands', () => {
  const r = lantern('check', '--sosreport', fixture('sosreport'), '--json');
  assert.equal(r.code, 1);
  const doc = JSON.parse(r.out) as CheckReport;
  assert.equal(doc.host.kind, 'sosreport');
  assert.equal(doc.findings.find((f) => f.id === 'printk.time')?.status, 'unknown');
  const live = lantern('check', '--json', '--no-commands', '--only', 'printk,oom');
  assert.ok([0, 1, 2].includes(live.code!));
  assert.equal((JSON.parse(live.out) as CheckReport).findings.length, 4);
});

test('--fix-script grub edits on Debian are idempotent and replace an existing value', () => {
  const t = copyFixture('debian12');
  put(t, '/proc/cmdline', 'BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 ro quiet log_buf_len=64K crashkernel=384M-:128M\n');
  const r = lantern('check', '--root', t, '--fix-script');
  const lines = r.out.split('\n');
  const grubLines = lines.filter((l) => /\/etc\/default\/grub/.test(l) && !/console=/.test(l)).map((l) => l.replace(/^# /, ''));
  assert.ok(lines.filter((l) => l === 'update-grub').length >= 2, 'update-grub after each active grub edit');
  const dir = tempDir('lantern-grub-');
  const body = grubLines.map((l) => l.replaceAll('/etc/default/grub', join(dir, 'grub'))).join('\n') + '\n';
  writeFileSync(join(dir, 'grub'), readFileSync(join(t, 'etc/default/grub')));
  spawnSync('mkdir', ['-p', join(dir, 'grub.d')]);
  writeFileSync(join(dir, 'grub.d/kdump-tools.cfg'), readFileSync(join(t, 'etc/default/grub.d/kdump-tools.cfg')));
  writeFileSync(join(dir, 'grub'), readFileSync(join(dir, 'grub'), 'utf8').replace('GRUB_CMDLINE_LINUX_DEFAULT="quiet"', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet log_buf_len=64K"'));
  const run = () => spawnSync('sh', ['-e'], { input: body, encoding: 'utf8' });
  assert.equal(run().status, 0);
  const once = readFileSync(join(dir, 'grub'), 'utf8') + readFileSync(join(dir, 'grub.d/kdump-tools.cfg'), 'utf8');
  assert.equal(run().status, 0);
  assert.equal(readFileSync(join(dir, 'grub'), 'utf8') + readFileSync(join(dir, 'grub.d/kdump-tools.cfg'), 'utf8'), once);
  assert.match(once, /^GRUB_CMDLINE_LINUX_DEFAULT=" ?log_buf_len=1M"$/m, 'quiet removed, log_buf_len replaced, not duplicated');
  assert.match(once, /crashkernel=256M"$/m, 'kdump-tools snippet carries the new crashkernel');
  assert.doesNotMatch(once, /crashkernel=384M/);
});

test('check --sosreport on a tarball: evidence paths are named relative to the sosreport, never inside the deleted temporary directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-check-tarball-'));
  try {
    const top = 'sosreport-db02-2026-11-20-abcdefg';
    cpSync(fixture('sosreport-debian12'), join(dir, top), { recursive: true });
    const tarball = join(dir, `${top}.tar.gz`);
    const t = spawnSync('tar', ['-czf', tarball, '-C', dir, top], { encoding: 'utf8' });
    assert.equal(t.status, 0, t.stderr);
    const r = lantern('check', '--sosreport', tarball, '--json');
    assert.ok([0, 1, 2].includes(r.code!), r.err);
    const doc = JSON.parse(r.out) as CheckReport;
    assert.equal(doc.host.kind, 'sosreport');
    assert.equal(doc.host.root, tarball, 'the report names what the user gave');
    assert.doesNotMatch(r.out, /lantern-sos-/, 'no path into the temporary directory');
    const paths = doc.findings.flatMap((f) => f.evidence.map((e) => e.path)).filter((p): p is string => p !== null && !p.startsWith('command:'));
    assert.ok(paths.length > 5);
    for (const p of paths) assert.ok(p.startsWith(`${top}/`), p);
    assert.ok(paths.includes(`${top}/proc/cmdline`));
    const v = lantern('check', '--sosreport', tarball, '-v');
    assert.match(v.out, new RegExp(`kernel command line = .*\\(${top}/proc/cmdline\\)`));
    assert.doesNotMatch(v.out + v.err, /lantern-sos-/);
    const fix = lantern('check', '--sosreport', tarball, '--fix-script');
    assert.match(fix.out, new RegExp(`for sosreport ${tarball.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\.`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('check --sosreport on a directory keeps the real paths', () => {
  const r = lantern('check', '--sosreport', fixture('sosreport-debian12'), '--json');
  const doc = JSON.parse(r.out) as CheckReport;
  assert.equal(doc.host.root, fixture('sosreport-debian12'));
  assert.ok(doc.findings.some((f: { evidence: { path: string | null }[] }) => f.evidence.some((e) => e.path === join(fixture('sosreport-debian12'), 'proc/cmdline'))));
});

test('-v shows the advice and trade-off of an info finding (hung.timeout at 120 s)', () => {
  const r = lantern('check', '--root', fixture('rhel9'), '--only', 'hung.timeout', '-v');
  assert.equal(r.code, 0, 'info does not change the exit status');
  assert.match(r.out, /hung\.timeout \(info\): hung tasks reported only after 120 s/);
  assert.match(r.out, /advice: Report tasks stuck 10 s in D state \(see the trade-off\)\.\n {10}grep -qxF 'kernel\.hung_task_timeout_secs = 10'/);
  assert.match(r.out, /trade-off: A short timeout also reports tasks that are only slow/);
  const fix = lantern('check', '--root', fixture('rhel9'), '--only', 'hung.timeout', '--fix-script');
  assert.doesNotMatch(fix.out, /hung_task_timeout_secs/, 'an info is advice, not a step of the fix script');
});
