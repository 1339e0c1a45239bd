import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { passDetail } from '../slab/core.js';
import { DEFAULT_RULE_INTERVAL_MS, matches, parseRules, parseSignal, parseTrigger, RuleError, slabDurationNs, type Trigger } from './core.js';

const dataFile = new URL('../../../test/data/record/rules.toml', import.meta.url);

function rulesOf(text: string, file = 'record.toml') {
  return parseRules((parseToml(text) as Record<string, unknown>).rule, text, file);
}

function fails(text: string, re: RegExp): void {
  assert.throws(
    () => rulesOf(text),
    (e: unknown) => e instanceof RuleError && re.test(e.message),
    `expected ${re}`,
  );
}

test('the documented example rules parse, with file:line of each [[rule]]', () => {
  const text = readFileSync(dataFile, 'utf8');
  const rules = rulesOf(text, '/etc/lantern/record.toml');
  assert.equal(rules.length, 4);
  assert.deepEqual(
    rules.map((r) => r.where),
    ['/etc/lantern/record.toml:5', '/etc/lantern/record.toml:9', '/etc/lantern/record.toml:14', '/etc/lantern/record.toml:18'],
  );
  assert.deepEqual(rules[0]!.trigger, { kind: 'hung_task' });
  assert.deepEqual(rules[0]!.actions, [{ kind: 'sysrq', letters: ['t', 'w'] }, { kind: 'snapshot' }, { kind: 'log' }]);
  assert.deepEqual(rules[1]!.trigger, { kind: 'signal', signals: [11], program: '/usr/bin/java' });
  assert.equal(rules[1]!.minIntervalMs, 600_000);
  assert.equal(rules[0]!.minIntervalMs, DEFAULT_RULE_INTERVAL_MS);
  assert.deepEqual(rules[2]!.trigger, { kind: 'slow_slab', op: '>', thresholdNs: 500e6 });
  assert.deepEqual(rules[3]!.actions, [{ kind: 'sysrq', letters: ['m'] }, { kind: 'snapshot' }]);
  assert.deepEqual(rulesOf('[record]\nname = "x"\n'), []);
});

test('signals by name, short name or number; several; thresholds with units', () => {
  assert.equal(parseSignal('SIGSEGV'), 11);
  assert.equal(parseSignal('segv'), 11);
  assert.equal(parseSignal('6'), 6);
  assert.equal(parseSignal('SIGFOO'), null);
  assert.equal(parseSignal('65'), null);
  assert.deepEqual(parseTrigger('signal SIGABRT,11,BUS'), { kind: 'signal', signals: [6, 11, 7], program: null });
  assert.deepEqual(parseTrigger('slow_slab >= 1.5s'), { kind: 'slow_slab', op: '>=', thresholdNs: 1.5e9 });
  assert.deepEqual(parseTrigger('slow_slab>250us'), { kind: 'slow_slab', op: '>', thresholdNs: 250e3 });
});

test('every kind of invalid rule is an error naming file:line and what was expected', () => {
  const one = (body: string) => `[record]\nname = "x"\n\n[[rule]]\n${body}\n`;
  fails(one('on = "hung_tsk"\ndo = ["log"]'), /^record\.toml:5: rule 1: on = "hung_tsk": expected a trigger: hung_task, oom_kill/);
  fails(one('do = ["log"]'), /^record\.toml:4: rule 1: on = "TRIGGER" is required/);
  fails(one('on = "hung_task"'), /^record\.toml:4: rule 1: do = \["ACTION", …\] is required/);
  fails(one('on = "hung_task"\ndo = []'), /^record\.toml:6: rule 1: do = \["ACTION", …\] is required/);
  fails(one('on = "hung_task"\ndo = ["reboot"]'), /^record\.toml:6: rule 1: do: expected an action: "sysrq LETTERS", "snapshot" or "log" \(got "reboot"\)/);
  fails(one('on = "hung_task"\ndo = ["sysrq b"]'), /:6: rule 1: do: expected SysRq dump letters only: t, w, m, l, d, p, q \(got "b"\)/);
  fails(one('on = "hung_task"\ndo = ["sysrq c"]'), /:6: .*got "c"/);
  fails(one('on = "hung_task"\ndo = ["sysrq"]'), /:6: .*sysrq LETTERS/);
  fails(one('on = "hung_task"\ndo = ["log", "log"]'), /:6: rule 1: do: log given twice/);
  fails(one('on = "hung_task"\ndo = ["snapshot /tmp/x"]'), /:6: .*snapshot takes nothing after it/);
  fails(one('on = "hung_task"\ndo = [3]'), /:6: .*an action string/);
  fails(one('on = "hung_task"\ndo = ["log"]\nmin_interval = "soon"'), /^record\.toml:7: rule 1: min_interval: expected a duration/);
  fails(one('on = "hung_task"\ndo = ["log"]\nwhen = 1'), /^record\.toml:7: rule 1: unknown key when \(expected on, do, min_interval\)/);
  fails(one('on = "hung_task now"\ndo = ["log"]'), /:5: .*hung_task takes nothing after it/);
  fails(one('on = "signal"\ndo = ["log"]'), /:5: .*signal NAME/);
  fails(one('on = "signal SIGFOO"\ndo = ["log"]'), /:5: .*a signal name like SIGSEGV or a number from 1 to 64 \(got "SIGFOO"\)/);
  fails(one('on = "signal SIGSEGV prog=/bin/x"\ndo = ["log"]'), /:5: .*program=\/absolute\/path/);
  fails(one('on = "signal SIGSEGV program=java"\ndo = ["log"]'), /:5: .*program= an absolute path/);
  fails(one('on = "slow_slab > 500"\ndo = ["log"]'), /:5: .*slow_slab > DURATION with a unit/);
  fails(one('on = "slow_slab < 5ms"\ndo = ["log"]'), /:5: .*slow_slab > DURATION/);
  fails(one('on = "slow_stat > 500"\ndo = ["log"]'), /:5: .*slow_stat > DURATION with a unit, e.g. "slow_stat > 500ms"/);
  fails(one('on = "slow_io >= soon"\ndo = ["log"]'), /:5: .*slow_io > DURATION with a unit/);
  // The second rule is named by its own header line.
  fails('[[rule]]\non = "hung_task"\ndo = ["log"]\n\n[[rule]]\non = "oom_kill"\ndo = ["kill"]\n', /^record\.toml:7: rule 2: do:/);
  // Not [[rule]] tables: the file, without a line.
  fails('rule = "hung_task"\n', /^record\.toml: rule must be \[\[rule\]\] tables/);
  fails('rule = [1]\n', /^record\.toml: rule 1 must be a table/);
});

test('matcher: signal numbers and program filter, oom kills, hung tasks, slab thresholds', () => {
  const rec = (type: string, over: Partial<{ signal: number | null; program: string | null; detail: string | null }> = {}) => ({ type, signal: null, program: null, detail: null, ...over });
  const segv = parseTrigger('signal SIGSEGV program=/usr/bin/java') as Trigger;
  assert.equal(matches(segv, rec('signal', { signal: 11, program: '/usr/bin/java' })), true);
  assert.equal(matches(segv, rec('signal', { signal: 11, program: '/usr/bin/javac' })), false);
  assert.equal(matches(segv, rec('signal', { signal: 6, program: '/usr/bin/java' })), false);
  assert.equal(matches(segv, rec('exit', { program: '/usr/bin/java' })), false);
  const any = parseTrigger('signal 6,SIGSEGV') as Trigger;
  assert.equal(matches(any, rec('signal', { signal: 6, program: '/bin/x' })), true);
  assert.equal(matches(any, rec('signal', { signal: 9 })), false);
  const oom = parseTrigger('oom_kill') as Trigger;
  assert.equal(matches(oom, rec('signal', { signal: 9, detail: 'oom-killer' })), true);
  assert.equal(matches(oom, rec('signal', { signal: 9 })), false);
  assert.equal(matches(parseTrigger('hung_task') as Trigger, rec('hung')), true);
  assert.equal(matches(parseTrigger('hung_task') as Trigger, rec('rule')), false);
  // The slab record's detail as the slab detector writes it.
  const pass = (ms: number) =>
    passDetail(
      'slow',
      {
        start: { shr: '0x1', shrink: '0xffffffff81000000', nid: 0, nrObjectsToShrink: 1, gfpFlags: 0xcc0, cacheItems: 10, delta: 1, totalScan: 1, priority: 12 },
        end: null,
        durationNs: ms * 1e6,
        pid: 1,
      } as unknown as Parameters<typeof passDetail>[1],
      'super_cache_scan',
    );
  assert.equal(slabDurationNs(pass(612.5)), 612.5e6);
  const slow = parseTrigger('slow_slab > 500ms') as Trigger;
  assert.equal(matches(slow, rec('slab', { detail: pass(612.5) })), true);
  assert.equal(matches(slow, rec('slab', { detail: pass(500) })), false);
  assert.equal(matches(parseTrigger('slow_slab >= 500ms') as Trigger, rec('slab', { detail: pass(500) })), true);
  assert.equal(matches(slow, rec('slab', { detail: pass(1.25) })), false);
  assert.equal(matches(slow, rec('dentry', { detail: '999.000 ms' })), false);
});

test('packaging/record.toml: no rules as shipped; its commented examples parse when uncommented', () => {
  const text = readFileSync(new URL('../../../packaging/record.toml', import.meta.url), 'utf8');
  assert.deepEqual(rulesOf(text), []);
  const examples = text
    .slice(text.indexOf('# [[rule]]'))
    .split('\n')
    .map((l) => l.replace(/^# ?/, ''))
    .join('\n');
  const rules = rulesOf(examples);
  assert.deepEqual(
    rules.map((r) => r.on),
    ['hung_task', 'signal SIGSEGV program=/usr/bin/java', 'slow_slab > 500ms', 'slow_io > 2s', 'oom_kill'],
  );
});
