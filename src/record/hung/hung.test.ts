/**
 * The hung-task detector on the real kernel (root): a writer held in D state by `fsfreeze -f` on
 * a loop-mounted ext4 image trips a lowered hung-task timeout; the SysRq letters land on a
 * trigger file, the snapshot and kernel-log capture land in the store, `lantern analyze` finds the
 * hung task in the capture. Then the /dev/kmsg source with injected lines and the old-seq rule
 * across a restart, and the restore of the sysctls after SIGKILL of the recorder.
 * Every freeze, mount, loop device and sysctl is undone in `finally`, on failure too.
 */
import { facilitySkip } from '../../common/testenv.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DEFAULT_OPTIONS, Recorder } from '../recorder.js';
import { Store } from '../store/store.js';
import { hungKmsgLines, pidHistory } from '../query.js';
import { DEFAULT_HUNG, type HungOptions } from './detector.js';
import { HUNG_TIMEOUT, HUNG_WARNINGS } from './sysctl.js';
import type { HungSnapshot } from './snapshot.js';
import { parseRules } from '../rules/core.js';
import { parse as parseToml } from 'smol-toml';
import { exited, liveSkipReason, sleep, tempDir, uniqueName, waitFor } from '../live.testutil.js';

const bin = new URL('../../../bin/lantern.js', import.meta.url).pathname;

function missing(): string | undefined {
  const live = liveSkipReason();
  if (live) return live;
  for (const p of [HUNG_TIMEOUT, HUNG_WARNINGS]) if (!existsSync(p)) return `no ${p} (kernel without CONFIG_DETECT_HUNG_TASK)`;
  if (!existsSync('/dev/kmsg')) return 'no /dev/kmsg';
  for (const tool of ['mkfs.ext4', 'fsfreeze', 'mount', 'umount', 'losetup']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0) return `${tool} is not installed (e2fsprogs, util-linux, mount in .ci/packages)`;
  }
  return undefined;
}
const skip = facilitySkip(missing());
if (skip) console.log(`# skipping live hung-task tests: ${skip}`);

const readSysctl = (p: string) => readFileSync(p, 'utf8').trim();

/** Snapshot the hung-task sysctls now; the returned function puts them back (each report decrements warnings). */
function keepSysctls(): () => void {
  const saved = [HUNG_TIMEOUT, HUNG_WARNINGS].map((p) => [p, readSysctl(p)] as const);
  return () => {
    for (const [p, v] of saved) writeFileSync(p, v);
  };
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message || `exit ${r.status}`}`);
}

/** A loop-mounted ext4 image; freeze() blocks its writers in D state; undo() is safe to call in any state. */
function loopFs(dir: string) {
  const img = join(dir, 'img');
  const mnt = join(dir, 'mnt');
  run('truncate', ['-s', '32M', img]);
  run('mkfs.ext4', ['-q', '-F', img]);
  run('mkdir', ['-p', mnt]);
  run('mount', ['-o', 'loop', img, mnt]);
  let frozen = false;
  return {
    mnt,
    freeze() {
      run('fsfreeze', ['-f', mnt]);
      frozen = true;
    },
    thaw() {
      if (frozen) spawnSync('fsfreeze', ['-u', mnt], { stdio: 'ignore', timeout: 30_000 });
      frozen = false;
    },
    undo() {
      this.thaw();
      spawnSync('umount', [mnt], { stdio: 'ignore', timeout: 30_000 });
      // mount -o loop detaches on umount; a loop device still holding the image is detached here.
      const held = spawnSync('losetup', ['-j', img], { encoding: 'utf8' }).stdout;
      for (const dev of held
        .split('\n')
        .map((l) => l.split(':')[0]!)
        .filter(Boolean))
        spawnSync('losetup', ['-d', dev], { stdio: 'ignore' });
    },
  };
}

function hungOpts(dir: string, extra: Partial<HungOptions>): HungOptions {
  return { ...DEFAULT_HUNG, sysrqTrigger: join(dir, 'sysrq-trigger'), captureMs: 1500, ...extra };
}

function lantern(args: string[], input?: string) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000, input });
}

test('a writer blocked by fsfreeze trips the lowered timeout: SysRq letters, D-state snapshot, capture, once per incident', { skip, timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const restoreSysctls = keepSysctls();
  const original = { timeout: readSysctl(HUNG_TIMEOUT), warnings: readSysctl(HUNG_WARNINGS) };
  const fs = loopFs(dir);
  let rec: Recorder | null = null;
  let writer: ReturnType<typeof spawn> | null = null;
  try {
    // A trigger rule on the same reports (record.toml [[rule]]): its own SysRq letter, once per min_interval.
    const ruleText = '[[rule]]\non = "hung_task"\ndo = ["sysrq m", "log"]\n';
    const rules = parseRules((parseToml(ruleText) as Record<string, unknown>).rule, ruleText, 'record.toml');
    const said: string[] = [];
    rec = Recorder.start({
      ...DEFAULT_OPTIONS,
      storePath: join(dir, 'record.db'),
      name: uniqueName('hung'),
      pollMs: 50,
      hung: hungOpts(dir, { timeoutSecs: 2 }),
      rules: { rules, maxTasks: 10, sysrqTrigger: join(dir, 'rule-sysrq-trigger') },
      say: (l) => said.push(l),
    });
    rec.run();
    assert.equal(rec.hung!.status.source, 'tracepoint');
    assert.equal(readSysctl(HUNG_TIMEOUT), '2', 'timeout lowered while recording');
    assert.ok(Number(readSysctl(HUNG_WARNINGS)) >= 1000 || readSysctl(HUNG_WARNINGS) === '-1', 'warnings raised');
    fs.freeze();
    writer = spawn('sh', ['-c', `echo x > ${fs.mnt}/f`], { stdio: 'ignore' });
    const wpid = writer.pid!;
    const hungOf = () => rec!.store.query({ types: ['hung'], pid: wpid });
    // First report after 2-4 s, the next one 2 s later: two reports, one incident.
    await waitFor(() => rec!.hung!.status.reports >= 2 && hungOf().length >= 2, 25_000, 'two hung reports of the writer');
    fs.thaw();
    await exited(writer);
    await sleep(300);
    rec.stop();
    assert.equal(readSysctl(HUNG_TIMEOUT), original.timeout, 'timeout restored at stop');
    assert.equal(readSysctl(HUNG_WARNINGS), original.warnings, 'warnings restored at stop (each report decremented it)');
    const st = rec.status('stopped').hung!;
    assert.equal(st.incidents, 1, 'one action for the incident');
    assert.ok(st.suppressed >= 1);
    assert.equal(readFileSync(join(dir, 'sysrq-trigger'), 'utf8'), 'wt', 'the configured letters, once');
    const rule = rec.status('stopped').rules!.rules[0]!;
    assert.ok(rule.matched >= 2 && rule.acted === 1, `the hung_task rule matched every report, acted once: ${JSON.stringify(rule)}`);
    assert.equal(readFileSync(join(dir, 'rule-sysrq-trigger'), 'utf8'), 'm', "the rule's letter, once");
    assert.ok(
      said.some((l) => /rule 1 .* fired on #\d+ \(hung\)/.test(l)),
      said.join('\n'),
    );

    const store = Store.open(join(dir, 'record.db'), { readonly: true });
    try {
      const reports = store.query({ types: ['hung'], pid: wpid });
      assert.ok(reports.length >= 2, `${reports.length} hung records of the writer`);
      const acted = reports.filter((r) => store.hungEvidence(r.id) !== null);
      assert.equal(acted.length, 1, 'one of them carries the evidence');
      const ev = store.hungEvidence(acted[0]!.id)!;
      const snap = ev.snapshot as HungSnapshot;
      const task = snap.dTasks.find((t) => t.tid === wpid);
      assert.ok(task, `the writer ${wpid} is in the D-state snapshot (${snap.dTasks.map((t) => t.tid).join(',')})`);
      assert.ok((task.stack ?? '').includes('percpu_rwsem') || (task.wchan ?? '').length > 0, `stack or wchan: ${task.wchan} ${task.stack}`);
      assert.match(task.status ?? '', /State:\s+D/);
      assert.equal(task.domain, store.name(acted[0]!.domain_id!), 'its domain from the process history');
      assert.match(task.domain!, /\/sh$/);
      for (const f of ['/proc/meminfo', '/proc/slabinfo', '/proc/sys/fs/dentry-state', '/proc/loadavg']) assert.ok(snap.files[f], `${f} in the snapshot`);
      const lines = hungKmsgLines(store, acted[0]!);
      assert.ok(
        lines.some((l) => l.includes(`INFO: task sh:${wpid} blocked for more than`)),
        lines.join('\n'),
      );
      assert.match(reports.find((r) => r.id !== acted[0]!.id)!.detail!, /same incident as #\d+/);
      const [view] = pidHistory(store, wpid);
      assert.ok(view!.hung.length >= 2, 'history pid shows the reports');
    } finally {
      store.close();
    }
    const storePath = join(dir, 'record.db');
    const events = lantern(['events', '--store', storePath, '--type', 'hung']);
    assert.equal(events.status, 0, events.stderr);
    assert.match(
      events.stdout,
      new RegExp(
        `hung \\S*sh pid=${wpid} tid=${wpid} comm=sh: (?:blocked for more than \\d+ s|blocked \\(duration not in the kernel log\\)) \\(tracepoint\\); incident; SysRq w,t sent; snapshot of \\d+ D tasks?`,
      ),
    );
    const history = lantern(['history', 'pid', String(wpid), '--store', storePath]);
    assert.match(history.stdout, /  hung      \S+ tid \d+ \(sh\): blocked/);
    const kmsg = lantern(['events', '--store', storePath, '--type', 'hung', '--kmsg']);
    assert.equal(kmsg.status, 0, kmsg.stderr);
    const analyzed = lantern(['analyze', '-', '--json'], kmsg.stdout);
    assert.equal(analyzed.status, 0, analyzed.stderr);
    const doc = JSON.parse(analyzed.stdout) as { summary: { byKind: Record<string, number> } };
    assert.ok((doc.summary.byKind.hung_task ?? 0) >= 1, `analyze finds the hung task in the capture: ${JSON.stringify(doc.summary.byKind)}`);
    assert.match(lantern(['analyze', '-'], kmsg.stdout).stdout, new RegExp(`sh:${wpid}`));
    const status = lantern(['record', 'status', '--store', storePath]);
    assert.match(status.stdout, /hung       tracepoint sched:sched_process_hang; \d+ reports: 1 incidents acted on/);
  } finally {
    fs.undo();
    if (writer) await exited(writer);
    rec?.abort();
    restoreSysctls();
    cleanup();
  }
});

test('kmsg source: an injected report is acted on once; after a restart old seqs are skipped, one written meanwhile is acted on', { skip, timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const storePath = join(dir, 'record.db');
  const tag = `lt${process.pid}x${Math.floor(Math.random() * 1e6)}`;
  const line = (n: number) => `<4>INFO: task ${tag}:${4_000_000 + n} blocked for more than 120 seconds.\n`;
  const start = () => {
    const r = Recorder.start({ ...DEFAULT_OPTIONS, storePath, name: uniqueName('hkm'), pollMs: 50, hung: hungOpts(dir, { source: 'kmsg', minIntervalMs: 0, captureMs: 200 }), say: () => {} });
    r.run();
    return r;
  };
  const mine = (s: Store) => s.query({ types: ['hung'] }).filter((e) => e.comm === tag);
  let rec: Recorder | null = null;
  try {
    rec = start();
    assert.equal(rec.hung!.status.source, 'kmsg');
    writeFileSync('/dev/kmsg', line(1));
    await waitFor(() => mine(rec!.store).length === 1, 10_000, 'the injected report');
    rec.stop();
    rec = null;
    writeFileSync('/dev/kmsg', line(2)); // while no recorder runs
    rec = start();
    await sleep(600);
    writeFileSync('/dev/kmsg', line(3));
    await waitFor(() => mine(rec!.store).length === 3, 10_000, 'reports 2 and 3');
    await sleep(300);
    const st = rec.stop().hung!;
    rec = null;
    assert.ok(st.oldSkipped >= 1, 'the first report, still in the kernel buffer, is old now');
    const store = Store.open(storePath, { readonly: true });
    try {
      const got = mine(store);
      assert.deepEqual(
        got.map((e) => e.pid),
        [4_000_001, 4_000_002, 4_000_003],
        'each report acted on exactly once',
      );
      for (const e of got) assert.match(e.detail!, /blocked for more than 120 s \(kmsg seq \d+\); incident; SysRq w,t sent/);
      assert.ok(hungKmsgLines(store, got[1]!).some((l) => l.endsWith(`INFO: task ${tag}:4000002 blocked for more than 120 seconds.`)));
    } finally {
      store.close();
    }
    // Three incidents, each the configured letters in order (a real report of another task meanwhile would add one).
    const sent = readFileSync(join(dir, 'sysrq-trigger'), 'utf8');
    assert.match(sent, /^(wt){3,}$/, sent);
  } finally {
    rec?.abort();
    cleanup();
  }
});

test('SIGKILL of a recorder with --hung-timeout: the next start on its store restores the sysctls; abort() restores them too', { skip, timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const restoreSysctls = keepSysctls();
  const original = readSysctl(HUNG_TIMEOUT);
  const storePath = join(dir, 'record.db');
  const lowered = original === '97' ? '98' : '97';
  let rec: Recorder | null = null;
  try {
    const child = spawn(process.execPath, [bin, 'record', '--store', storePath, '--name', uniqueName('hkill'), '--hung-timeout', lowered, '--hung-source', 'kmsg'], { stdio: 'ignore' });
    try {
      await waitFor(() => readSysctl(HUNG_TIMEOUT) === lowered, 15_000, 'the recorder to lower the timeout');
    } finally {
      child.kill('SIGKILL');
      await exited(child);
    }
    assert.equal(readSysctl(HUNG_TIMEOUT), lowered, 'nothing restored it: the recorder was killed');
    rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath, name: uniqueName('hrest'), pollMs: 50, say: () => {} });
    assert.equal(readSysctl(HUNG_TIMEOUT), original, 'restored by the next start');
    rec.stop();
    rec = null;
    // The uncaught-error path (abort) gives them back too.
    rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath, name: uniqueName('habort'), pollMs: 50, hung: hungOpts(dir, { source: 'kmsg', timeoutSecs: Number(lowered) }), say: () => {} });
    assert.equal(readSysctl(HUNG_TIMEOUT), lowered);
    rec.abort();
    rec.store.close();
    rec = null;
    assert.equal(readSysctl(HUNG_TIMEOUT), original, 'restored by abort()');
    const again = Store.open(storePath, { readonly: true });
    assert.equal(again.getMeta('hung.sysctl'), null, 'nothing left to restore');
    again.close();
  } finally {
    rec?.abort();
    restoreSysctls();
    cleanup();
  }
});
