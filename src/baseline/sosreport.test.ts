/**
 * A real sosreport of this machine, made by the `sos` tool itself, against a live snapshot taken
 * at the same time: the same host read two ways must show no differences.
 */
import { skipUnlessCI } from '../common/testenv.js';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Host } from '../host/host.js';
import { collectSnapshot } from './collect.js';
import { diffSnapshots } from './diff.js';
import { tmpDir } from './testkit.js';

function sosAvailable(): boolean {
  try {
    execFileSync('sos', ['--help'], { stdio: 'ignore', timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

test('a real sosreport of this host (sos report --build) reads like the live host', (t) => {
  if (process.getuid?.() !== 0) return skipUnlessCI(t, 'sos report needs root');
  if (!sosAvailable()) return skipUnlessCI(t, 'sos not installed (CI installs the sosreport package from .ci/packages)');
  const dir = tmpDir('sos');
  // Fixed argv: only the plugins the snapshot reads (Debian: dpkg; naming a plugin the distro
  // lacks, e.g. rpm, makes sos refuse to run); --build leaves the tree uncompressed.
  execFileSync('sos', ['report', '--batch', '--quiet', '--build', '--tmp-dir', dir, '--only-plugins', 'kernel,filesys,dpkg,processor,systemd,host,memory'], {
    stdio: 'ignore',
    timeout: 240_000,
  });
  const tree = readdirSync(dir).find((n) => n.startsWith('sosreport-'));
  assert.ok(tree, `no sosreport-* directory in ${dir}`);
  const sos = collectSnapshot(Host.open({ root: join(dir, tree), requireSosreport: true }), { version: 'test' });
  const live = collectSnapshot(new Host(), { version: 'test' });
  assert.equal(sos.host.source.kind, 'sosreport');
  // Sections that need no running systemd, so they must read the same on any CI machine.
  for (const name of ['kernel', 'cmdline', 'sysctls', 'mounts', 'packages', 'memory', 'cpus'] as const) {
    assert.equal(sos.sections[name].status, live.sections[name].status, `${name}: ${JSON.stringify(sos.sections[name]).slice(0, 300)}`);
  }
  assert.ok(sos.sections.sysctls.status === 'ok' && sos.sections.sysctls.sources.some((p) => p.endsWith('sos_commands/kernel/sysctl_-a')));
  // Masks read from the unit directories must be what systemctl list-unit-files itself says.
  const lu = live.sections.units;
  const su = sos.sections.units;
  if (lu.status === 'ok' && su.status === 'ok' && lu.data.masked && su.data.masked && su.sources.some((p) => p.endsWith('systemctl_list-unit-files'))) {
    assert.deepEqual(lu.data.masked, su.data.masked, 'masked units: unit directories vs systemctl list-unit-files');
  }
  const d = diffSnapshots(live, sos);
  const strict = new Set(['kernel', 'cmdline', 'sysctls', 'packages', 'memory', 'cpus']);
  for (const sec of d.sections.filter((x) => x.changes.length)) {
    // Mounts belong to whatever else runs meanwhile; units, OOM exemptions and readiness are read
    // differently from a sosreport (systemctl listing, ps, fewer files), so they are only reported.
    if (strict.has(sec.section)) assert.fail(`${sec.section}: live and sosreport differ: ${JSON.stringify(sec.changes.slice(0, 10))}`);
    t.diagnostic(`${sec.section} differ: ${JSON.stringify(sec.changes.slice(0, 10))}`);
  }
});
