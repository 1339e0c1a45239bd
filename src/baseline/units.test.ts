/** Unit states: masked units, SysV start links (runlevel directories and chkconfig --list), their diff and display. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, posix } from 'node:path';
import { test } from 'node:test';
import { paint } from '../common/term.js';
import { Host } from '../host/host.js';
import { collectSnapshot, RUNLEVELS, UNIT_DIRS } from './collect.js';
import { diffSnapshots } from './diff.js';
import { snapshotProblem, type Snapshot, type Units } from './model.js';
import { parseChkconfigList, sysvStartService } from '../host/formats/chkconfig.js';
import { maskedFromUnitFiles } from '../host/formats/systemd-units.js';
import { renderDiff, renderSectionData } from './render.js';
import { copyFixture, DATA, del, fixture, link, put, snap } from './testkit.js';
import { unitChanges, unitRows } from './units.js';

const noColour = paint({ isTTY: false } as NodeJS.WriteStream);

function units(s: Snapshot): Units {
  const u = s.sections.units;
  assert.equal(u.status, 'ok', JSON.stringify(u));
  return u.status === 'ok' ? u.data : { enabled: {} };
}

function unitLines(d: ReturnType<typeof diffSnapshots>): string[] {
  const text = renderDiff(d, noColour);
  const at = text.indexOf('units (');
  assert.ok(at >= 0, text);
  return text
    .slice(at)
    .split('\n\n')[0]!
    .split('\n')
    .slice(1)
    .map((l) => l.trim());
}

test('chkconfig --list: RHEL 6 services with the runlevels they start in; off services and xinetd left out', () => {
  const p = parseChkconfigList(readFileSync(join(DATA, 'sosreport-rhel6/sos_commands/services/chkconfig_--list'), 'utf8'));
  assert.equal(p.bad, 0);
  assert.deepEqual(p.value.get('kdump'), ['3', '4', '5']);
  assert.deepEqual(p.value.get('sysstat'), ['1', '2', '3', '4', '5']);
  assert.equal(p.value.has('netconsole'), false);
  assert.equal(p.value.has('rsync'), false);
  assert.equal(p.value.size, 15);
  // RHEL 7+: the "Note:" paragraph is not a service.
  const p7 = parseChkconfigList(readFileSync(join(DATA, 'sosreport-rhel7/sos_commands/services/chkconfig_--list'), 'utf8'));
  assert.deepEqual([...p7.value], [['network', ['2', '3', '4', '5']]]);
  assert.equal(p7.bad, 0);
  // A line that starts like a service but does not parse is counted.
  assert.equal(parseChkconfigList('kdump 0:off 1:off\nbash: chkconfig: command not found\n').bad, 2);
});

test('list-unit-files: masked and masked-runtime; SysV start link names', () => {
  const m = maskedFromUnitFiles(readFileSync(join(DATA, 'sosreport-rhel7/sos_commands/systemd/systemctl_list-unit-files'), 'utf8'));
  assert.deepEqual(
    [...m],
    [
      ['kdump.service', 'masked'],
      ['tuned.service', 'masked-runtime'],
    ],
  );
  assert.equal(sysvStartService('S26kdump'), 'kdump');
  assert.equal(sysvStartService('S01hwclock.sh'), 'hwclock.sh');
  assert.equal(sysvStartService('K90network'), null);
  assert.equal(sysvStartService('README'), null);
  assert.equal(sysvStartService('S10../x'), null);
});

test('RHEL 7 tree: masks in /etc (masked) and /run (masked-runtime), an admin copy shadows nothing masked, SysV network', () => {
  const u = units(snap(fixture('rhel7-tree')));
  assert.deepEqual(u.masked, { 'kdump.service': 'masked', 'tuned.service': 'masked-runtime' });
  assert.deepEqual(u.sysv, { network: ['2', '3', '4', '5'] });
  assert.deepEqual(u.enabled['kdump.service'], ['multi-user.target']);
  const rows = unitRows(u);
  assert.deepEqual(rows.slice(0, 3), [
    { unit: 'kdump.service', state: 'masked', detail: 'still wanted by multi-user.target' },
    { unit: 'tuned.service', state: 'masked-runtime', detail: 'until reboot; still wanted by multi-user.target' },
    { unit: 'network', state: 'sysv-enabled', detail: 'runlevels 2 3 4 5' },
  ]);
  assert.ok(rows.some((r) => r.unit === 'crond.service' && r.state === 'enabled'));
  const s = snap(fixture('rhel7-tree'));
  assert.match(renderSectionData(s, 'units'), /^kdump\.service masked \(still wanted by multi-user\.target\)$/m);
  assert.match(renderSectionData(s, 'units'), /^network sysv-enabled \(runlevels 2 3 4 5\)$/m);
});

test('RHEL 6 tree (no systemd): SysV start links from /etc/rc.d/rcN.d, masks not recorded', () => {
  const s = snap(fixture('rhel6'));
  const u = units(s);
  assert.deepEqual(u.sysv, { auditd: ['3'], kdump: ['3'], sysstat: ['3'] });
  assert.deepEqual(u.enabled, {});
  assert.equal(u.masked, undefined);
  assert.ok(s.sections.units.status === 'ok' && s.sections.units.notes?.some((n) => /not a systemd host/.test(n)));
});

test('sosreports: chkconfig --list (RHEL 6) and list-unit-files masks (RHEL 7); none of either: not recorded', () => {
  const s6 = snap(fixture('sosreport-rhel6'));
  const u6 = units(s6);
  assert.deepEqual(u6.sysv!['kdump'], ['3', '4', '5']);
  assert.ok(s6.sections.units.status === 'ok' && s6.sections.units.sources.some((p) => p.endsWith('chkconfig_--list') || p.endsWith('/chkconfig')));
  const u7 = units(snap(fixture('sosreport-rhel7')));
  assert.deepEqual(u7.masked, { 'kdump.service': 'masked', 'tuned.service': 'masked-runtime' });
  assert.deepEqual(u7.sysv, { network: ['2', '3', '4', '5'] });
  assert.ok('sshd.service' in u7.enabled && !('kdump.service' in u7.enabled));
  // The RHEL 8 sosreport of test/data/check has neither chkconfig nor etc/rc.d: SysV not recorded (absent, not empty).
  const s8 = snap(fixture('sosreport'));
  assert.equal(units(s8).sysv, undefined);
  assert.ok(s8.sections.units.status === 'ok' && s8.sections.units.notes?.some((n) => /SysV start links not recorded/.test(n)));
});

test('diff: masking, unmasking, a runtime mask gone, SysV start links removed and added', () => {
  const base = snap(fixture('rhel7-tree'));
  const t = copyFixture('rhel7-tree');
  link(t, '/etc/systemd/system/sshd.service', '/dev/null'); // systemctl mask sshd
  del(t, '/etc/systemd/system/kdump.service'); // systemctl unmask kdump
  del(t, '/run/systemd/system/tuned.service'); // reboot
  link(t, '/run/systemd/system/irqbalance.service', '/dev/null'); // systemctl mask --runtime irqbalance
  del(t, '/etc/rc.d/rc3.d/S10network'); // chkconfig --level 3 network off
  link(t, '/etc/rc.d/rc3.d/K90network', '../init.d/network');
  link(t, '/etc/rc.d/rc3.d/S50netconsole', '../init.d/netconsole'); // chkconfig --level 3 netconsole on
  del(t, '/etc/rc.d/rc3.d/K50netconsole');
  link(t, '/run/systemd/system/multi-user.target.wants/chronyd.service', '/usr/lib/systemd/system/chronyd.service'); // systemctl enable --runtime chronyd
  const d = diffSnapshots(base, snap(t));
  assert.deepEqual(units(snap(t)).enabled['chronyd.service'], ['multi-user.target (runtime)']);
  assert.deepEqual(unitLines(d), [
    '+ chronyd.service  (enabled)',
    '~ irqbalance.service: enabled → masked-runtime  (until reboot)',
    '~ kdump.service: masked → enabled  (unmasked)',
    '+ netconsole: runlevel 3  (SysV start link added)',
    '~ network: runlevels 2 3 4 5 → runlevels 2 4 5  (SysV start link removed from runlevel 3)',
    '~ sshd.service: enabled → masked',
    '~ tuned.service: masked-runtime → enabled  (unmasked)',
  ]);
  assert.equal(d.summary.exitCode, 1);
  // The other way round.
  const back = unitLines(diffSnapshots(snap(t), base));
  assert.ok(back.includes('- netconsole: runlevel 3  (SysV start link removed)'), back.join('\n'));
  assert.ok(back.includes('~ kdump.service: enabled → masked'), back.join('\n'));
});

test('diff: a unit masked that was never enabled, and a SysV service whose start link is removed (RHEL 6)', () => {
  const base = snap(fixture('rhel6'));
  const t = copyFixture('rhel6');
  del(t, '/etc/rc.d/rc3.d/S01sysstat');
  assert.deepEqual(unitLines(diffSnapshots(base, snap(t))), ['- sysstat: runlevel 3  (SysV start link removed)']);
  const b9 = snap(fixture('rhel9'));
  const t9 = copyFixture('rhel9');
  link(t9, '/etc/systemd/system/kdump.service', '/dev/null');
  link(t9, '/etc/systemd/system/debug-shell.service', '/dev/null');
  assert.deepEqual(unitLines(diffSnapshots(b9, snap(t9))), ['+ debug-shell.service: masked', '~ kdump.service: enabled → masked']);
  // --ignore reaches unit keys, SysV ones included.
  assert.equal(diffSnapshots(base, snap(t), { ignore: ['units:sys*'] }).summary.differences, 0);
});

test('diff with a snapshot from before masks and SysV links were recorded: said, not compared, no false change', () => {
  const cur = snap(fixture('rhel7-tree'));
  const old = JSON.parse(JSON.stringify(cur)) as Snapshot;
  assert.ok(old.sections.units.status === 'ok');
  delete old.sections.units.data.masked;
  delete old.sections.units.data.sysv;
  assert.equal(snapshotProblem(old), null);
  const d = diffSnapshots(old, cur);
  assert.equal(d.summary.differences, 0);
  assert.deepEqual(d.sections.find((s) => s.section === 'units')!.notes, ['masked units: not recorded in the baseline, not compared', 'SysV start links: not recorded in the baseline, not compared']);
  const text = renderDiff(d, noColour);
  assert.match(text, /^ {2}\? units: masked units: not recorded in the baseline, not compared$/m);
  const notes: string[] = [];
  assert.deepEqual(unitChanges({ enabled: {}, sysv: { a: ['3'] } }, { enabled: {} }, notes), []);
  assert.deepEqual(notes, ['SysV start links: not recorded in the current state, not compared']);
});

test('snapshot validation: bad mask states and SysV runlevels are refused', () => {
  const s = JSON.parse(JSON.stringify(snap(fixture('rhel7-tree'))));
  s.sections.units.data.masked['x.service'] = 'enabled';
  assert.equal(snapshotProblem(s), 'section units: masked malformed');
  const t = JSON.parse(JSON.stringify(snap(fixture('rhel7-tree'))));
  t.sections.units.data.sysv.network = '2345';
  assert.equal(snapshotProblem(t), 'section units: sysv malformed');
});

test('odd start link names in a runlevel directory are counted as input problems, the rest read', () => {
  const t = copyFixture('rhel6');
  put(t, '/etc/rc.d/rc3.d/S99bad name', '');
  const s = snap(t);
  assert.deepEqual(units(s).sysv, { auditd: ['3'], kdump: ['3'], sysstat: ['3'] });
  assert.ok(
    s.inputProblems.some((p) => /rc3\.d: 1 start link\(s\) with a name no init script has/.test(p)),
    JSON.stringify(s.inputProblems),
  );
});

test('live host: masks and SysV start links match what the directories hold', () => {
  const u = collectSnapshot(new Host(), { commands: false, version: 'test' }).sections.units;
  if (!existsSync('/etc/systemd/system') && !RUNLEVELS.some((r) => existsSync(`/etc/rc${r}.d`) || existsSync(`/etc/rc.d/rc${r}.d`))) {
    assert.equal(u.status, 'unknown');
    return;
  }
  assert.equal(u.status, 'ok', JSON.stringify(u));
  if (u.status !== 'ok') return;
  // Read independently, with plain fs calls, in systemd's precedence order.
  if (existsSync('/etc/systemd/system')) {
    const expected: Record<string, string> = {};
    const decided = new Set<string>();
    for (const [dir, state] of UNIT_DIRS) {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const n of names) {
        if (!/\.(service|socket|timer|target|path|mount|automount|swap|slice|scope|device)$/.test(n) || decided.has(n)) continue;
        decided.add(n);
        let target: string | null = null;
        try {
          target = readlinkSync(join(dir, n));
        } catch {
          /* not a symlink */
        }
        if (target !== null && posix.resolve(dir, target) === '/dev/null') expected[n] = state;
      }
    }
    assert.deepEqual(u.data.masked, expected);
  }
  const sysv: Record<string, string[]> = {};
  for (const rl of RUNLEVELS) {
    const dir = [`/etc/rc${rl}.d`, `/etc/rc.d/rc${rl}.d`].find((d) => existsSync(d));
    if (!dir) continue;
    for (const e of readdirSync(dir)) {
      const m = /^S\d+(.+)$/.exec(e);
      if (m) (sysv[m[1]!] ??= []).push(rl);
    }
  }
  assert.deepEqual(u.data.sysv, sysv);
});
