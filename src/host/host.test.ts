import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, symlinkSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Host, HostError } from './host.js';
import { tempDir } from '../common/testenv.js';

function tree(): string {
  const root = tempDir('lantern-host-');
  mkdirSync(join(root, 'proc/sys/kernel'), { recursive: true });
  mkdirSync(join(root, 'etc/sysctl.d'), { recursive: true });
  writeFileSync(join(root, 'proc/cmdline'), 'BOOT_IMAGE=/vmlinuz root=/dev/sda1 quiet\n');
  writeFileSync(join(root, 'proc/sys/kernel/sysrq'), '16\n');
  writeFileSync(join(root, 'etc/sysctl.d/10-a.conf'), 'kernel.sysrq = 1\n');
  // an absolute symlink, as copied trees have: must stay inside the root
  symlinkSync('/etc/sysctl.d/10-a.conf', join(root, 'etc/sysctl.conf'));
  return root;
}

test('reads live paths under a copied root', () => {
  const root = tree();
  const host = new Host({ root });
  assert.equal(host.kind, 'tree');
  const r = host.readValue('/proc/sys/kernel/sysrq');
  assert.ok(r.ok);
  assert.equal(r.text, '16');
  assert.equal(r.path, join(root, 'proc/sys/kernel/sysrq'));
});

test('absolute symlinks inside a tree are re-rooted, never followed out of it', () => {
  const root = tree();
  const host = new Host({ root });
  const r = host.readText('/etc/sysctl.conf');
  assert.ok(r.ok);
  assert.equal(r.text, 'kernel.sysrq = 1\n');
  assert.equal(host.mapPath('/../../etc/passwd'), join(root, 'etc/passwd'));
});

test('a missing datum in a snapshot is NOTCOLLECTED with a reason, not a throw', () => {
  const host = new Host({ root: tree() });
  const r = host.readText('/sys/kernel/kexec_crash_size');
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.code, 'NOTCOLLECTED');
    assert.match(r.reason, /not collected/);
  }
});

test('alternates are tried in order', () => {
  const root = tree();
  mkdirSync(join(root, 'sos_commands/general'), { recursive: true });
  writeFileSync(join(root, 'sos_commands/general/uptime'), ' 10:00:00 up 3 days\n');
  const host = new Host({ root });
  assert.equal(host.kind, 'sosreport');
  host.addAlternates('/sos_commands/host/uptime', ['/sos_commands/general/uptime']);
  const r = host.readText('/sos_commands/host/uptime');
  assert.ok(r.ok && r.text.includes('up 3 days'));
});

test('a directory where a file was expected is an error result, not a throw', () => {
  const r = new Host({ root: tree() }).readText('/etc/sysctl.d');
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.code, 'EISDIR');
});

test('reads /proc files of the live host (size 0 in stat)', () => {
  const host = new Host();
  assert.equal(host.kind, 'live');
  const r = host.readText('/proc/self/status');
  assert.ok(r.ok && r.text.includes('Pid:'));
});

test('SysRq writes go to the configured trigger and only for known keys', () => {
  const root = tree();
  const trigger = join(root, 'sysrq-trigger');
  writeFileSync(trigger, '');
  const host = new Host({ root, sysrqTrigger: trigger });
  assert.deepEqual(host.triggerSysrq('t'), { ok: true, path: trigger });
  assert.equal(host.triggerSysrq('x; rm -rf /').ok, false);
  assert.equal(host.triggerSysrq('z').ok, false);
  assert.equal(readFileSync(trigger, 'utf8'), 't');
});

test('Host.open gives one clear error for a path that is not a root', () => {
  const dir = tempDir('lantern-empty-');
  assert.throws(
    () => Host.open({ root: dir }),
    (e: unknown) => e instanceof HostError && /not a host root or sosreport/.test((e as Error).message),
  );
  assert.throws(() => Host.open({ root: join(dir, 'missing') }), HostError);
  assert.throws(() => Host.open({ root: tree(), requireSosreport: true }), /not a sosreport/);
});
