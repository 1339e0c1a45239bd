/**
 * packaging/systemd/lantern-console.service for real: `systemd-analyze verify` accepts it; its
 * ExecStart runs as systemd would start it (clean environment, `lantern` through PATH, with
 * NoNewPrivileges and the capability bounding set through setpriv when root), only the
 * configuration path swapped for a temporary one; ExecReload (SIGHUP) after a rename;
 * KillSignal stops it with exit 0 within TimeoutStopSec.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { facilitySkip, tempDir } from '../common/testenv.js';
import { DEFAULT_CONFIG_PATH, DEFAULT_DIR, DEFAULT_STATE_DIR } from './config.js';
import { LANTERN, read, today, waitFor } from './test-helpers.js';
import { asTheUnitStarts, serviceSection, unitWords } from '../netconsole/test-helpers.js';

const UNIT = new URL('../../packaging/systemd/lantern-console.service', import.meta.url).pathname;

const noAnalyze = spawnSync('systemd-analyze', ['--version']).error ? 'systemd-analyze is not installed (Debian package systemd)' : undefined;

test('systemd unit: systemd-analyze verify accepts lantern-console.service without a warning', { skip: facilitySkip(noAnalyze) }, () => {
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', UNIT], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.error, undefined);
  const ours = (r.stderr + r.stdout).split('\n').filter((l) => l.includes('lantern-console'));
  assert.deepEqual(ours, [], r.stderr);
  assert.equal(r.status, 0, r.stderr);
});

test('systemd unit: paths are the defaults; ExecStart captures, ExecReload reopens, SIGTERM flushes and exits 0', async () => {
  const unit = serviceSection(readFileSync(UNIT, 'utf8'));
  assert.deepEqual(unit.get('ReadWritePaths')!.split(/\s+/).sort(), [DEFAULT_DIR, DEFAULT_STATE_DIR].sort());
  assert.equal(`/run/${unit.get('RuntimeDirectory')}`, DEFAULT_STATE_DIR);
  assert.equal(`/var/log/${unit.get('LogsDirectory')}`, DEFAULT_DIR);
  const exec = unitWords(unit.get('ExecStart')!);
  assert.equal(exec[0], '/usr/bin/env');
  assert.equal(exec[exec.indexOf('--config') + 1], DEFAULT_CONFIG_PATH);

  const root = tempDir('console-unit-');
  const logs = join(root, 'log');
  const state = join(root, 'run');
  const watched = join(root, 'guest.log');
  writeFileSync(watched, '');
  const cfg = join(root, 'console.toml');
  writeFileSync(cfg, `dir = "${logs}"\nstate_dir = "${state}"\n[source.guest]\ntype = "file"\npath = "${watched}"\npoll = "50ms"\n`);
  const bin = join(root, 'bin');
  mkdirSync(bin);
  symlinkSync(LANTERN, join(bin, 'lantern'));
  const argv = exec.map((w, i) => (i === exec.indexOf('--config') + 1 ? cfg : w));
  const cmd = asTheUnitStarts(unit, argv);
  const proc = spawn(cmd[0]!, cmd.slice(1), { env: { PATH: `${bin}:${dirname(process.execPath)}:/usr/sbin:/usr/bin:/sbin:/bin`, LANG: 'C.UTF-8' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  try {
    await waitFor(
      'the receiver',
      () => existsSync(join(state, 'stats.json')),
      15_000,
      () => stderr,
    );
    const out = join(logs, 'guest', `${today()}.log`);
    appendFileSync(watched, 'before the rotation\n');
    await waitFor(
      'the first line',
      () => read(out).includes('before the rotation'),
      10_000,
      () => stderr,
    );
    renameSync(out, `${out}.1`);
    const reload = unit
      .get('ExecReload')!
      .split(/\s+/)
      .map((w) => (w === '$MAINPID' ? String(proc.pid) : w));
    assert.equal(spawnSync(reload[0]!, reload.slice(1)).status, 0);
    await waitFor(
      'SIGHUP handled',
      () => stderr.includes('SIGHUP: reopening log files'),
      10_000,
      () => stderr,
    );
    appendFileSync(watched, 'after the rotation\nno end');
    await waitFor(
      'the line after',
      () => read(out).includes('after the rotation'),
      10_000,
      () => stderr,
    );
    proc.kill((unit.get('KillSignal') ?? 'SIGTERM') as NodeJS.Signals);
    const end = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), Number(unit.get('TimeoutStopSec') ?? 90) * 1000).unref())]);
    assert.deepEqual(end, { code: 0, signal: null }, stderr);
    assert.match(read(`${out}.1`), /^\S+Z guest before the rotation\n$/);
    assert.match(read(out), /^\S+Z guest after the rotation\n\S+Z guest \[partial: shutdown\] no end\n$/);
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
});
