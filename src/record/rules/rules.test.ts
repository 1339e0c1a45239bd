/**
 * Trigger rules end to end. Live (root, real kernel): a recorder with a
 * `signal SIGSEGV program=<sh>` rule whose `sysrq w` goes to a trigger FILE; a real child dies of
 * SIGSEGV: the letter lands in the file, a `rule` record is in the store (and in `lantern events
 * --type rule`, `lantern record status`); a second death within min_interval does not act again.
 * Always: the real CLI with an invalid rule exits 65 naming file:line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { DEFAULT_OPTIONS, Recorder } from '../recorder.js';
import { Store } from '../store/store.js';
import { parseRules } from './core.js';
import { exited, liveSkipReason, sleep, tempDir, uniqueName, waitFor } from '../live.testutil.js';

const bin = new URL('../../../bin/lantern.js', import.meta.url).pathname;
const lantern = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });

const skip = liveSkipReason();
if (skip) console.log(`# skipping live rule tests: ${skip}`);

test('the real CLI refuses an invalid rule: exit 65, file:line and what was expected', () => {
  const { dir, cleanup } = tempDir();
  try {
    const cfg = join(dir, 'record.toml');
    writeFileSync(cfg, `[record]\nstore = "${join(dir, 'r.db')}"\n\n[[rule]]\non = "hung_task"\ndo = ["log"]\n\n[[rule]]\non = "signal SIGSEGV"\ndo = ["snapshot", "sysrq b"]\n`);
    const r = lantern(['record', '--config', cfg]);
    assert.equal(r.status, 65, r.stderr);
    assert.equal(r.stderr, `lantern: config ${cfg}:10: rule 2: do: expected SysRq dump letters only: t, w, m, l, d, p, q (got "b")\n`);
    writeFileSync(cfg, `[[rule]]\non = "slow_io > 2"\ndo = ["log"]\n`);
    const r2 = lantern(['record', '--config', cfg]);
    assert.equal(r2.status, 65);
    assert.match(r2.stderr, new RegExp(`^lantern: config ${cfg}:2: rule 1: on = "slow_io > 2": expected slow_io > DURATION with a unit`));
  } finally {
    cleanup();
  }
});

test('a real SIGSEGV death fires its rule once: SysRq letter in the trigger file, rule record, rate-limited second death', { skip, timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  // The recorder names a program by its directory's real path and the name exec'd.
  const shFound = spawnSync('sh', ['-c', 'command -v sh'], { encoding: 'utf8' }).stdout.trim();
  const sh = join(realpathSync(dirname(shFound)), 'sh');
  const text = `[[rule]]\non = "signal SIGSEGV program=${sh}"\ndo = ["sysrq w", "log"]\n\n[[rule]]\non = "signal 11 program=/no/such/program"\ndo = ["sysrq t"]\n\n[[rule]]\non = "hung_task"\ndo = ["log"]\n`;
  const rules = parseRules((parseToml(text) as Record<string, unknown>).rule, text, 'record.toml');
  const trigger = join(dir, 'sysrq-trigger');
  const said: string[] = [];
  const storePath = join(dir, 'record.db');
  let rec: Recorder | null = null;
  try {
    rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath, name: uniqueName('rule'), pollMs: 50, rules: { rules, sysrqTrigger: trigger, maxTasks: 200 }, say: (l) => said.push(l) });
    rec.run();
    // The hung-task detector is off here: the hung_task rule is said, at start, to be unable to fire.
    assert.deepEqual(said, ['lantern record: rule at record.toml:9 on "hung_task": cannot fire: the hung-task detector is off ([hung] enabled = false or --no-hung)']);
    const first = spawn(sh, ['-c', 'kill -SEGV $$'], { stdio: 'ignore' });
    assert.equal((await exited(first)).signal, 'SIGSEGV');
    await waitFor(() => rec!.rules!.status.rules[0]!.acted === 1, 10_000, 'the rule to act');
    const second = spawn(sh, ['-c', 'kill -SEGV $$'], { stdio: 'ignore' });
    assert.equal((await exited(second)).signal, 'SIGSEGV');
    await waitFor(() => rec!.rules!.status.rules[0]!.matched === 2, 10_000, 'the second death to match');
    await sleep(200);
    const st = rec.stop().rules!;
    rec = null;
    assert.equal(readFileSync(trigger, 'utf8'), 'w', 'the letter once: the second death was within min_interval');
    assert.deepEqual([st.rules[0]!.matched, st.rules[0]!.acted, st.rules[0]!.suppressed], [2, 1, 1]);
    assert.deepEqual([st.rules[1]!.matched, st.rules[1]!.acted], [0, 0], 'the program filter keeps the other rule quiet');
    assert.equal(st.sysrqSent, 1);
    assert.equal(said.filter((l) => l.includes('rule 1')).length, 1, `one log line: ${said.join(' | ')}`);

    const store = Store.open(storePath, { readonly: true });
    try {
      const fired = store.query({ types: ['rule'] });
      assert.equal(fired.length, 1);
      const on = store.query({ types: ['signal'], pid: first.pid! });
      assert.equal(on.length, 1, 'the first death is a signal record');
      assert.equal(fired[0]!.from_id, on[0]!.id, 'the rule record names the record it fired on');
      assert.equal(fired[0]!.pid, first.pid);
      assert.equal(fired[0]!.detail, `rule 1 (record.toml:1) on = "signal SIGSEGV program=${sh}" fired on #${on[0]!.id} (signal): sysrq w sent; log`);
    } finally {
      store.close();
    }
    const ev = lantern(['events', '--store', storePath, '--type', 'rule']);
    assert.equal(ev.status, 0, ev.stderr);
    assert.match(ev.stdout, /rule: rule 1 \(record\.toml:1\) on = "signal SIGSEGV program=.*" fired on #\d+ \(signal\): sysrq w sent; log/);
    const json = JSON.parse(lantern(['events', '--store', storePath, '--type', 'rule', '--json']).stdout.trim()) as Record<string, unknown>;
    assert.equal(json.type, 'rule');
    assert.equal(json.pid, first.pid);
    assert.equal(typeof json.fired_on, 'number');
    assert.match(String(json.detail), /sysrq w sent; log$/);
    const status = lantern(['record', 'status', '--store', storePath]);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /rules      3 rules; SysRq to .*sysrq-trigger: 1 sent, 0 failed; 0 snapshots/);
    assert.match(status.stdout, /record\.toml:1 on "signal SIGSEGV program=.*" do sysrq w, log: 2 matched, 1 acted, 1 within min_interval 60s/);
    assert.match(status.stdout, /records .*rule 1/);
    assert.match(status.stdout, /record\.toml:9 on "hung_task" do log: 0 matched, 0 acted, 0 within min_interval 60s; cannot fire: the hung-task detector is off/);
    console.log(
      `# events --type rule:\n# ${ev.stdout.trim()}\n# ${status.stdout
        .split('\n')
        .filter((l) => /rules|record\.toml|records /.test(l))
        .join('\n# ')}`,
    );
  } finally {
    rec?.stop();
    cleanup();
  }
});
