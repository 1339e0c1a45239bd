/**
 * Live commands started ahead (Sources.startCommands, runChecksAhead): they end as they would
 * when run when asked, a run with them gives the report a run without them gives, and the
 * checks' hints name what the checks really read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Host } from '../host/host.js';
import { Facts } from '../host/facts.js';
import { commandDatum, type CommandOutcome, runCommand, Sources } from '../host/sources.js';
import { CHECKS } from './checks/index.js';
import { reporter } from './checks/common.js';
import { runChecks, runChecksAhead } from './run.js';
import { fixture } from './testkit.js';

/** How execFileSync ends the same argv, told as a CommandOutcome (what Sources does when a command was not started ahead). */
function whenAsked(argv: string[], timeoutMs: number): CommandOutcome {
  try {
    return { stdout: execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] }), status: 0, errorCode: null };
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stdout?: string; status?: number | null };
    return { stdout: typeof err.stdout === 'string' ? err.stdout : '', status: err.status ?? null, errorCode: typeof err.code === 'string' ? err.code : null };
  }
}

test('ahead: a command run without waiting ends as execFileSync ends it (output, exit status, missing program, timeout, rpm)', async () => {
  const cases: [string[], number][] = [
    [['sh', '-c', 'echo hello; echo to-stderr >&2'], 5000],
    [['sh', '-c', 'echo partial; exit 3'], 5000],
    [['rpm', '-q', 'lantern-no-such-package'], 5000],
    [['lantern-no-such-program'], 5000],
    [['sleep', '30'], 300],
  ];
  const t0 = Date.now();
  const outcomes = await Promise.all(cases.map(([argv, t]) => runCommand(argv, t)));
  assert.ok(Date.now() - t0 < 10_000);
  cases.forEach(([argv, t], i) => assert.deepEqual(commandDatum(argv, outcomes[i]!), commandDatum(argv, whenAsked(argv, t)), argv.join(' ')));
  assert.deepEqual(commandDatum(['sh'], outcomes[1]!), { ok: false, reason: 'sh: exit status 3', tried: ['command: sh'], notCollected: false });
  assert.match((commandDatum(['sleep', '30'], outcomes[4]!) as { reason: string }).reason, /: timed out$/);
  assert.match((commandDatum(['x'], outcomes[3]!) as { reason: string }).reason, /^x: x not installed$/);
});

test('ahead: on the live host the catalog commands started ahead give what running them when asked gives', async () => {
  const ids = ['dmesg', 'listUnits', 'rpmList', 'auditctlStatus', 'chkconfig'] as const;
  const ahead = new Sources(new Host());
  await ahead.startCommands([...ids]);
  const alone = new Sources(new Host());
  for (const id of ids) {
    const a = ahead.get(id);
    const b = alone.get(id);
    // dmesg may gain a line between the two: compare what cannot move.
    assert.equal(a.ok, b.ok, id);
    if (a.ok && b.ok) assert.equal(a.path, b.path, id);
    else assert.deepEqual(a, b, id);
  }
  // A program that is not installed is told without forking, as execFileSync tells it.
  const chk = ['chkconfig', '--list'];
  assert.deepEqual(alone.get('chkconfig'), commandDatum(chk, whenAsked(chk, 3000)));
  // Nothing is started on a copied tree, nor with --no-commands.
  const tree = new Sources(new Host({ root: fixture('rhel9') }));
  await tree.startCommands([...ids]);
  assert.ok(!tree.get('dmesg').ok, 'a tree runs no dmesg');
  assert.equal((new Sources(new Host(), { commands: false }).get('dmesg') as { reason: string }).reason, '`dmesg` not run (--no-commands)');
});

test('ahead: runChecksAhead gives the report runChecks gives (fixtures byte for byte; the live host finding by finding)', async () => {
  const now = new Date(0);
  for (const r of ['rhel9', 'rhel6', 'debian12', 'sosreport']) {
    assert.deepEqual(await runChecksAhead(new Host({ root: fixture(r) }), CHECKS, { now }), runChecks(new Host({ root: fixture(r) }), CHECKS, { now }), r);
  }
  const a = await runChecksAhead(new Host(), CHECKS, { now });
  const b = runChecks(new Host(), CHECKS, { now });
  assert.deepEqual(
    a.findings.map((f) => f.id),
    b.findings.map((f) => f.id),
  );
  // Counts of processes and threads move between two runs; the verdicts do not.
  for (const id of ['kdump.service', 'kdump.reserved', 'sysstat', 'audit', 'oom.exempt']) {
    assert.equal(a.findings.find((f) => f.id === id)!.status, b.findings.find((f) => f.id === id)!.status, id);
  }
});

test('ahead: the hints name what the checks read on every run (commands, here on the live host; the process table)', () => {
  type Id = Parameters<Sources['get']>[0];
  class Recording extends Sources {
    readonly asked = new Set<Id>();
    override get(id: Id) {
      this.asked.add(id);
      return super.get(id);
    }
  }
  assert.deepEqual(
    CHECKS.filter((c) => c.processTable).map((c) => [c.id, c.processTable]),
    [
      ['printk.logbuf', 'threads'],
      ['oom.exempt', 'processes'],
    ],
  );
  assert.ok(CHECKS.filter((c) => c.commands?.length).length >= 4);
  for (const c of CHECKS.filter((x) => x.commands?.length || x.processTable)) {
    const src = new Recording(new Host());
    const f = new Facts(src);
    c.run(reporter(c), f);
    for (const id of (c.commands ?? []).filter((x) => x !== 'procConfigGz')) assert.ok(src.asked.has(id), `${c.id} did not read ${id}`);
    // The thread count of the live host is loadavg's (facts.ts threadCount): no /proc/<pid> file is read for it.
    if (c.processTable === 'processes') assert.ok(f.procTable().reads > 0, `${c.id} read no /proc/<pid> file`);
    if (c.processTable === 'threads') assert.equal(f.procTable().reads, 0, `${c.id} read /proc/<pid> files for the thread count`);
  }
});
