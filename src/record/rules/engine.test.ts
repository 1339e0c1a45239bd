/**
 * The rule engine over a real store and a real SysRq trigger file (no root needed): records shaped
 * as the detectors make them go in, `rule` records, snapshots and trigger-file letters come out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { Host } from '../../host/host.js';
import { newRecord, type ProcessRecord } from '../process/model.js';
import { Store } from '../store/store.js';
import { tempDir } from '../live.testutil.js';
import { parseRules } from './core.js';
import { RuleEngine } from './engine.js';

function engine(dir: string, text: string, trigger = join(dir, 'sysrq-trigger')) {
  const store = Store.open(join(dir, 'r.db'));
  const rules = parseRules((parseToml(text) as Record<string, unknown>).rule, text, 'r.toml');
  const said: string[] = [];
  const e = new RuleEngine(
    { rules, maxTasks: 50 },
    {
      store,
      host: new Host(),
      sysrqHost: new Host({ sysrqTrigger: trigger }),
      say: (l) => said.push(l),
      domainOf: () => null,
      limitOf: () => null,
    },
  );
  return { store, e, said };
}

function record(store: Store, type: ProcessRecord['type'], over: Partial<ProcessRecord> = {}): ProcessRecord {
  return newRecord({
    id: store.nextId(),
    type,
    timeUs: Date.now() * 1000,
    pid: 4242,
    tid: 4242,
    ppid: 1,
    pstartUs: 1,
    uid: 0,
    program: '/usr/bin/java',
    comm: 'java',
    domainId: store.root,
    ...over,
  });
}

test('hung_task, oom_kill, slow_slab: actions in order, outcomes in the rule record, snapshot evidence; rate limit per rule, again after min_interval', () => {
  const { dir, cleanup } = tempDir();
  try {
    const { store, e, said } = engine(
      dir,
      `[[rule]]\non = "hung_task"\ndo = ["sysrq w,t", "snapshot", "log"]\nmin_interval = "5s"\n\n[[rule]]\non = "oom_kill"\ndo = ["sysrq m"]\n\n[[rule]]\non = "slow_slab > 500ms"\ndo = ["log"]\n`,
    );
    const hung = record(store, 'hung', { detail: 'blocked for more than 2 s (tracepoint); incident' });
    const oom = record(store, 'signal', { signal: 9, detail: 'oom-killer', senderKind: 'kernel' });
    const kill = record(store, 'signal', { signal: 9 });
    const slow = record(store, 'slab', { detail: 'slow shrink_slab pass 612.345 ms: super_cache_scan nid 0' });
    const quick = record(store, 'slab', { detail: 'slow shrink_slab pass 120.000 ms: super_cache_scan nid 0' });
    const t0 = 1_000_000;
    const out = e.run([hung, oom, kill, slow, quick], t0);
    assert.deepEqual(
      out.records.map((r) => [r.type, r.fromId]),
      [
        ['rule', hung.id],
        ['rule', oom.id],
        ['rule', slow.id],
      ],
    );
    assert.match(out.records[0]!.detail!, /^rule 1 \(r\.toml:1\) on = "hung_task" fired on #\d+ \(hung\): sysrq w,t sent; snapshot of \d+ D tasks?; log$/);
    assert.match(out.records[1]!.detail!, /: sysrq m sent$/);
    assert.equal(readFileSync(join(dir, 'sysrq-trigger'), 'utf8'), 'wtm');
    assert.equal(out.evidence.length, 1);
    assert.equal(out.evidence[0]!.eventId, out.records[0]!.id);
    assert.ok('/proc/meminfo' in out.evidence[0]!.snapshot!.files);
    assert.equal(said.length, 2, 'rule 1 and rule 3 log, rule 2 does not');
    // Within 5 s: nothing; after it: acts again. The other rules keep their own limiters.
    assert.equal(e.run([record(store, 'hung')], t0 + 4_999).records.length, 0);
    assert.equal(e.run([record(store, 'hung')], t0 + 5_000).records.length, 1);
    assert.equal(e.run([record(store, 'signal', { signal: 9, detail: 'oom-killer' })], t0 + 5_000).records.length, 0, 'oom rule: default 1m');
    // Rule records never trigger rules.
    assert.equal(e.run(out.records, t0 + 600_000).records.length, 0);
    const st = e.status.rules.map((r) => [r.matched, r.acted, r.suppressed]);
    assert.deepEqual(st, [
      [3, 2, 1],
      [2, 1, 1],
      [1, 1, 0],
    ]);
    assert.deepEqual([e.status.sysrqSent, e.status.sysrqFailed, e.status.snapshots], [5, 0, 2]);
    store.close();
  } finally {
    cleanup();
  }
});

test('a SysRq write that fails is in the rule record and counted; the other actions still run', () => {
  const { dir, cleanup } = tempDir();
  try {
    const notFile = join(dir, 'a-directory');
    mkdirSync(notFile);
    const { store, e } = engine(dir, `[[rule]]\non = "signal SIGSEGV"\ndo = ["sysrq w", "log"]\n`, notFile);
    const out = e.run([record(store, 'signal', { signal: 11 })], 1);
    assert.match(out.records[0]!.detail!, /: sysrq - sent, failed w: .+; log$/);
    assert.deepEqual([e.status.sysrqSent, e.status.sysrqFailed], [0, 1]);
    store.close();
  } finally {
    cleanup();
  }
});
