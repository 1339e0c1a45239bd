/** packaging/systemd/lantern-forward.service: systemd-analyze verify accepts it, and its ExecStart is a real command line. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { facilitySkip } from '../common/testenv.js';

const UNIT = fileURLToPath(new URL('../../packaging/systemd/lantern-forward.service', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/lantern.js', import.meta.url));
const noAnalyze = spawnSync('systemd-analyze', ['--version']).error ? 'systemd-analyze is not installed (Debian package systemd)' : undefined;

test('systemd-analyze verify accepts lantern-forward.service', { skip: facilitySkip(noAnalyze) }, () => {
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', UNIT], { encoding: 'utf8', timeout: 60_000 });
  const ours = (r.stderr + r.stdout).split('\n').filter((l) => l.includes('lantern-forward'));
  assert.deepEqual(ours, [], r.stderr);
  assert.equal(r.status, 0, r.stderr);
});

test("the unit's ExecStart options are ones lantern forward knows", () => {
  const exec = /^ExecStart=(.*)$/m.exec(readFileSync(UNIT, 'utf8'))![1]!.split(/\s+/);
  assert.deepEqual(exec.slice(0, 3), ['/usr/bin/env', 'lantern', 'forward']);
  const help = spawnSync(process.execPath, [BIN, 'forward', '--help'], { encoding: 'utf8' }).stdout;
  for (const w of exec.slice(3).filter((x) => x.startsWith('--'))) assert.ok(help.includes(w), `${w} is an option of lantern forward`);
  // Without destinations it says what to give, not a stack trace.
  const r = spawnSync(process.execPath, [BIN, 'forward', '/tmp'], { encoding: 'utf8' });
  assert.equal(r.status, 64);
  assert.equal(r.stderr, 'lantern: forward: give at least one --to URL (e.g. --to syslog+tcp://127.0.0.1:514)\n');
});
