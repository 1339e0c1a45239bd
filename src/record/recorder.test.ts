/**
 * The recorder on the real kernel: known process trees, exit codes, fatal signals with a known
 * sender, and lost-event reporting with a tiny buffer. Needs root and tracefs (CI has both).
 */
import { skipUnlessCI } from '../common/testenv.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, realpathSync, writeFileSync, writeSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DEFAULT_OPTIONS, Recorder, type RecorderStatus } from './recorder.js';
import { Store, type StoredEvent } from './store/store.js';
import { TraceInstance } from './tracefs/instance.js';
import { CliError, EXIT } from '../common/exit.js';
import { historyOf, pidHistory, priorImages } from './query.js';
import { eventJson, renderLine } from './render.js';
import { exited, liveSkipReason, sleep, smallMemcg, tempDir, uniqueName, waitFor } from './live.testutil.js';
import { parseRules } from './rules/core.js';
import { parse as parseToml } from 'smol-toml';

const skip = liveSkipReason();
/** This test process's comm as the kernel knows it ("node", or "nodejs" on some distributions). */
const selfComm = readFileSync('/proc/self/comm', 'utf8').trim();
if (skip) console.log(`# skipping live recorder tests: ${skip}`);

function startRecorder(dir: string, tag: string, extra: Partial<typeof DEFAULT_OPTIONS> = {}): Recorder {
  const rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath: join(dir, 'record.db'), name: uniqueName(tag), pollMs: 50, ...extra });
  rec.run();
  return rec;
}

function script(dir: string, name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

/** The shell's own path as TOMOYO names it: directory resolved, last component kept. */
function shName(): string {
  return join(realpathSync('/bin'), 'sh');
}

test('a known tree: domains follow exec chains, ancestry and exit codes are right', { skip, timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const rec = startRecorder(dir, 'tree');
  try {
    const c = script(dir, 'c.sh', 'exit 6');
    const b = script(dir, 'b.sh', `"${c}"\nexit 4`);
    const a = script(dir, 'a.sh', `exec "${b}"`);
    const child = spawn(a, [], { stdio: 'ignore' });
    assert.deepEqual(await exited(child), { code: 4, signal: null });
    const endedMs = Date.now();
    const seven = spawn('sh', ['-c', 'exit 7'], { stdio: 'ignore' });
    assert.equal((await exited(seven)).code, 7);
    await sleep(200);
    rec.stop();
    const store = Store.open(join(dir, 'record.db'), { readonly: true });
    try {
      const node = realpathSync(process.execPath);
      const [outer] = pidHistory(store, child.pid!);
      assert.ok(outer, 'the spawned script was recorded');
      assert.deepEqual(
        outer.images.map((i) => i.program),
        [a, b],
        'exec without fork is a transition in the same pid',
      );
      assert.deepEqual(priorImages(store, outer.images[1]!), [a]);
      assert.match(
        renderLine(outer.images[1]!, (id) => store.name(id), priorImages(store, outer.images[1]!)),
        new RegExp(`^\\[\\d{4}/\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d\\] starting ${b} by uid=0 from ${selfComm}\\(${process.pid}\\) ${a}; pid=${child.pid} domain <kernel> `),
      );
      assert.ok(outer.domain!.endsWith(`${node} ${a} ${b}`), outer.domain!);
      assert.equal(outer.ppid, process.pid);
      assert.equal(outer.end!.type, 'exit');
      assert.equal(outer.end!.exit_code, 4);
      // Trace-clock timestamps map to wall time (boot clock + offsets) to well within a second.
      assert.ok(Math.abs(outer.end!.time_us / 1000 - endedMs) < 3000, `exit at ${outer.end!.time_us / 1000}, seen ${endedMs}`);
      assert.ok(outer.startUs! <= outer.end!.time_us);
      assert.equal(outer.children.length, 1);
      const grand = outer.children[0]!;
      assert.equal(grand.program, c);
      assert.equal(grand.end!.exit_code, 6);
      const [g] = pidHistory(store, grand.pid);
      assert.ok(g!.domain!.endsWith(`${node} ${a} ${b} ${c}`), g!.domain!);
      assert.match(g!.history, new RegExp(`${selfComm}\\(\\d{4}/\\d\\d/\\d\\d-\\d\\d:\\d\\d:\\d\\d\\)=>a\\.sh\\(.*\\)=>b\\.sh\\(.*\\)=>c\\.sh\\(`));
      const [s7] = pidHistory(store, seven.pid!);
      assert.equal(s7!.end!.exit_code, 7);
      assert.equal(s7!.images[0]!.program, shName());
      assert.equal(s7!.uid, 0);
    } finally {
      store.close();
    }
  } finally {
    rec.stop();
    cleanup();
  }
});

test('uid of a short-lived process that changed its uid before exec comes from the trace', { skip, timeout: 60_000 }, async (t) => {
  const nobody = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());
  if (!Number.isInteger(nobody) || spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).status !== 0) {
    skipUnlessCI(t, 'needs user nobody and setpriv(1) (util-linux)');
    return;
  }
  const { dir, cleanup } = tempDir();
  // No drain timer: every event is processed by stop(), after all these processes are gone, so
  // nothing can be looked up in /proc any more and only kernel data can give their uid.
  const rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath: join(dir, 'record.db'), name: uniqueName('uid') });
  try {
    const truePath = join(realpathSync('/bin'), 'true');
    // setresuid(2) then exec (setpriv), setuid(2) then exec (python os.setuid), setuid in su's child.
    const viaSetpriv = spawn('setpriv', [`--reuid=${nobody}`, `--regid=${nobody}`, '--clear-groups', '/bin/true'], { stdio: 'ignore' });
    assert.equal((await exited(viaSetpriv)).code, 0);
    const py = `import os; os.setgid(${nobody}); os.setuid(${nobody}); os.execv('/bin/true', ['true'])`;
    const viaPython = spawn('python3', ['-c', py], { stdio: 'ignore' });
    assert.equal((await exited(viaPython)).code, 0);
    const viaSu = spawn('su', ['-s', '/bin/true', 'nobody'], { stdio: 'ignore' });
    const suEnd = await exited(viaSu);
    // A root-owned control: same exec, no uid change.
    const asRoot = spawn('/bin/true', [], { stdio: 'ignore' });
    await exited(asRoot);
    await sleep(200);
    rec.stop();
    const store = Store.open(join(dir, 'record.db'), { readonly: true });
    try {
      const execOfTrue = (pid: number) => store.query({ pid, types: ['exec'] }).filter((e) => e.program === truePath);
      for (const [what, pid] of [
        ['setpriv', viaSetpriv.pid!],
        ['python3 os.setuid', viaPython.pid!],
      ] as const) {
        const rows = execOfTrue(pid);
        assert.equal(rows.length, 1, `${what}: one exec of ${truePath} by pid ${pid}`);
        assert.equal(rows[0]!.uid, nobody, `${what}: the exec after the uid change is by nobody`);
        const [end] = store.query({ pid, types: ['exit'] });
        assert.equal(end!.uid, nobody, `${what}: and so is its exit`);
      }
      // The process that set the uid had exec'd as root.
      const setprivExec = store.query({ pid: viaSetpriv.pid!, types: ['exec'] }).find((e) => e.program !== truePath);
      assert.equal(setprivExec!.uid, 0);
      if (suEnd.code === 0) {
        const suChild = store.query({ types: ['exec'] }).filter((e) => e.program === truePath && e.ppid === viaSu.pid);
        assert.equal(suChild.length, 1, "su's child exec'd /bin/true");
        assert.equal(suChild[0]!.uid, nobody);
      } else {
        console.log(`# su -s /bin/true nobody exited ${suEnd.code} here (PAM); its case is not checked`);
      }
      assert.equal(execOfTrue(asRoot.pid!)[0]!.uid, 0);
    } finally {
      store.close();
    }
  } finally {
    rec.stop();
    cleanup();
  }
});

test('fatal signals: victim, signal and sender for SIGTERM, SIGKILL and SIGSEGV', { skip, timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const rec = startRecorder(dir, 'sig');
  try {
    // SIGTERM from a known sender process (a shell running kill).
    const termVictim = spawn('sleep', ['30'], { stdio: 'ignore' });
    await sleep(100);
    const killer = spawnSync('sh', ['-c', `kill -TERM ${termVictim.pid}`]);
    assert.equal(killer.status, 0);
    assert.equal((await exited(termVictim)).signal, 'SIGTERM');
    // SIGKILL from this test process.
    const killVictim = spawn('sleep', ['30'], { stdio: 'ignore' });
    await sleep(100);
    process.kill(killVictim.pid!, 'SIGKILL');
    assert.equal((await exited(killVictim)).signal, 'SIGKILL');
    // SIGSEGV sent to itself, and a real crash: a fault the kernel turns into SIGSEGV.
    const selfSegv = spawn('sh', ['-c', 'kill -SEGV $$'], { stdio: 'ignore' });
    assert.equal((await exited(selfSegv)).signal, 'SIGSEGV');
    const crash = spawn('python3', ['-c', 'import ctypes; ctypes.string_at(0)'], { stdio: 'ignore' });
    assert.equal((await exited(crash)).signal, 'SIGSEGV');
    // A handled SIGTERM is not a death: the process exits normally afterwards.
    const trapper = spawn('sh', ['-c', 'trap "exit 9" TERM; kill -TERM $$; exit 1'], { stdio: 'ignore' });
    assert.equal((await exited(trapper)).code, 9);
    await sleep(200);
    rec.stop();
    const store = Store.open(join(dir, 'record.db'), { readonly: true });
    try {
      const end = (pid: number): StoredEvent => {
        const rows = store.query({ pid, types: ['exit', 'signal'] });
        assert.equal(rows.length, 1, `one end record for pid ${pid}`);
        return rows[0]!;
      };
      const t = end(termVictim.pid!);
      assert.deepEqual([t.type, t.signal, t.sender_pid, t.sender_kind, t.program], ['signal', 15, killer.pid, 'process', join(realpathSync('/bin'), 'sleep')]);
      assert.equal(t.sender_program, shName());
      const k = end(killVictim.pid!);
      assert.deepEqual([k.type, k.signal, k.sender_pid, k.sender_kind], ['signal', 9, process.pid, 'process']);
      assert.equal(k.sender_comm, selfComm);
      const s = end(selfSegv.pid!);
      assert.deepEqual([s.type, s.signal, s.sender_pid, s.sender_kind, s.tid], ['signal', 11, selfSegv.pid, 'process', selfSegv.pid]);
      const c = end(crash.pid!);
      assert.deepEqual([c.type, c.signal, c.sender_pid, c.sender_kind], ['signal', 11, crash.pid, 'kernel']);
      assert.ok((c.sig_code ?? 0) > 0, 'a fault code such as SEGV_MAPERR');
      const tr = end(trapper.pid!);
      assert.deepEqual([tr.type, tr.exit_code], ['exit', 9]);
      assert.match(historyOf(store, t), /=>sleep\(/);
    } finally {
      store.close();
    }
  } finally {
    rec.stop();
    cleanup();
  }
});

test('lost events are reported, never silent: tiny buffer, nobody reading for a moment', { skip, timeout: 60_000 }, () => {
  const { dir, cleanup } = tempDir();
  // Not run(): no timer drains the buffer while the storm runs.
  const rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath: join(dir, 'record.db'), name: uniqueName('lost'), bufferKb: 4 });
  try {
    const storm = spawnSync('sh', ['-c', 'i=0; while [ $i -lt 400 ]; do /bin/true; i=$((i+1)); done']);
    assert.equal(storm.status, 0);
    rec.tick();
    const st = rec.stop();
    assert.ok(st.lost.stats > 0, `per-CPU stats report overruns (${JSON.stringify(st.lost)})`);
    const store = Store.open(join(dir, 'record.db'), { readonly: true });
    try {
      const lost = store.query({ types: ['lost'] });
      assert.ok(lost.length > 0, 'lost records are stored');
      assert.equal(
        lost.filter((l) => /stats/.test(l.detail ?? '')).reduce((n, l) => n + (l.lost ?? 0), 0),
        st.lost.stats,
      );
      assert.equal(store.getMeta<{ lost: { stats: number } }>('status')!.lost.stats, st.lost.stats);
    } finally {
      store.close();
    }
  } finally {
    rec.stop();
    cleanup();
  }
});

test('a missing kernel event is a clear error naming it; nothing is left behind', { skip }, () => {
  const name = uniqueName('missing');
  assert.throws(
    () =>
      TraceInstance.create({
        name,
        bufferKb: 64,
        events: [
          { system: 'sched', event: 'sched_process_exec' },
          { system: 'nosuch', event: 'no_such_event' },
        ],
      }),
    (e: unknown) => e instanceof CliError && e.exitCode === EXIT.UNAVAILABLE && /nosuch\/no_such_event/.test(e.message),
  );
  assert.throws(
    () => TraceInstance.create({ name: 'bad/name', bufferKb: 64, events: [] }),
    (e: unknown) => e instanceof CliError && e.exitCode === EXIT.USAGE,
  );
  assert.throws(
    () => TraceInstance.create({ name, bufferKb: 64, events: [], tracefs: '/nonexistent-tracefs' }),
    (e: unknown) => e instanceof CliError,
  );
});

test('exec from a thread, a deep exec chain and a wide fan-out', { skip, timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const rec = startRecorder(dir, 'shape');
  try {
    // A non-leader thread execs: the kernel gives it the leader's pid (old_pid says which thread).
    const threaded = spawn('python3', ['-c', "import os,threading,time\nthreading.Thread(target=lambda: os.execv('/bin/true', ['true'])).start()\ntime.sleep(10)"], { stdio: 'ignore' });
    assert.equal((await exited(threaded)).code, 0);
    // 60 levels of fork+exec, each level one more program in the domain.
    const deep = script(dir, 'deep.sh', 'if [ "$1" -gt 0 ]; then "$0" $(($1 - 1)); exit $?; fi; exit 3');
    const d = spawn(deep, ['60'], { stdio: 'ignore' });
    assert.equal((await exited(d)).code, 3);
    // 200 children of one shell at once.
    const wide = spawn('sh', ['-c', 'i=0; while [ $i -lt 200 ]; do /bin/true & i=$((i+1)); done; wait'], { stdio: 'ignore' });
    assert.equal((await exited(wide)).code, 0);
    await sleep(300);
    const st = rec.stop();
    assert.equal(st.lost.stats, 0);
    const store = Store.open(join(dir, 'record.db'), { readonly: true });
    try {
      const t = store.query({ pid: threaded.pid!, types: ['exec'] });
      const last = t[t.length - 1]!;
      assert.equal(last.program, join(realpathSync('/bin'), 'true'));
      assert.notEqual(last.tid, threaded.pid, 'the exec came from a thread (old_pid)');
      const tEnd = store.query({ pid: threaded.pid!, types: ['exit', 'signal'] });
      assert.deepEqual(
        tEnd.map((e) => [e.type, e.exit_code]),
        [['exit', 0]],
      );
      const deepExecs = store.query({ types: ['exec'] }).filter((e) => e.program === deep);
      assert.equal(deepExecs.length, 61);
      const deepest = deepExecs[deepExecs.length - 1]!;
      assert.equal(
        store
          .name(deepest.domain_id!)
          .split(' ')
          .filter((p) => p === deep).length,
        61,
      );
      const deepEnds = store.query({ types: ['exit'] }).filter((e) => e.program === deep);
      assert.equal(deepEnds.length, 61);
      assert.ok(deepEnds.every((e) => e.exit_code === 3));
      const [w] = pidHistory(store, wide.pid!);
      assert.equal(w!.children.length, 200);
      assert.ok(w!.children.every((c) => c.end?.type === 'exit' && c.end.exit_code === 0));
    } finally {
      store.close();
    }
  } finally {
    rec.stop();
    cleanup();
  }
});

test('a failing store write is counted and retried, records are not lost', { skip, timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  // flushMs 0 (the default, said here because the test relies on it): this tick writes.
  const rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath: join(dir, 'record.db'), name: uniqueName('disk'), flushMs: 0 });
  try {
    const realWrite = rec.store.write.bind(rec.store);
    rec.store.write = () => {
      throw new Error('SQLITE_FULL: database or disk is full (simulated)');
    };
    const p = spawn('sh', ['-c', 'exit 21'], { stdio: 'ignore' });
    assert.equal((await exited(p)).code, 21);
    await sleep(100);
    rec.tick();
    const during = rec.status();
    assert.equal(during.storeErrors, 1);
    assert.ok(during.unwrittenRecords > 0);
    rec.store.write = realWrite;
    const st = rec.stop();
    assert.equal(st.unwrittenRecords, 0);
    assert.equal(st.droppedRecords, 0);
    const store = Store.open(join(dir, 'record.db'), { readonly: true });
    try {
      assert.deepEqual(
        store.query({ pid: p.pid!, types: ['exit'] }).map((e) => e.exit_code),
        [21],
      );
    } finally {
      store.close();
    }
  } finally {
    rec.stop();
    cleanup();
  }
});

test("an OOM kill is attributed to the kernel's OOM killer", { skip, timeout: 60_000 }, async (t) => {
  const cg = smallMemcg(uniqueName('oom'), 48 * 1024 * 1024);
  if ('reason' in cg) {
    skipUnlessCI(t, cg.reason);
    return;
  }
  const { dir, cleanup } = tempDir();
  // A trigger rule on OOM kills (record.toml [[rule]]), with its SysRq letter on a trigger file.
  const ruleText = '[[rule]]\non = "oom_kill"\ndo = ["sysrq m", "log"]\n';
  const said: string[] = [];
  const rec = startRecorder(dir, 'oom', {
    rules: { rules: parseRules((parseToml(ruleText) as Record<string, unknown>).rule, ruleText, 'record.toml'), maxTasks: 10, sysrqTrigger: join(dir, 'sysrq-trigger') },
    say: (l: string) => said.push(l),
  });
  try {
    // The shell moves itself into the small cgroup, then becomes a python that wants 256 MiB.
    const hog = spawn('sh', ['-c', `echo $$ > "${cg.procs}" && exec python3 -c "x = b'x' * (256 * 1024 * 1024)"`], { stdio: 'ignore' });
    assert.equal((await exited(hog)).signal, 'SIGKILL');
    await waitFor(() => said.some((l) => /rule 1 .* fired on #\d+ \(signal\)/.test(l)), 10_000, `the oom_kill rule to fire: ${said.join('\n')}`);
    rec.stop();
    assert.equal(readFileSync(join(dir, 'sysrq-trigger'), 'utf8'), 'm', "the oom_kill rule's letter");
    const store = Store.open(join(dir, 'record.db'), { readonly: true });
    try {
      const [end] = store.query({ pid: hog.pid!, types: ['signal', 'exit'] });
      assert.deepEqual([end!.type, end!.signal, end!.sender_kind, end!.detail], ['signal', 9, 'kernel', 'oom-killer']);
      assert.match(end!.program!, /python3/);
    } finally {
      store.close();
    }
  } finally {
    rec.stop();
    cg.remove();
    cleanup();
  }
});

/** A real small tmpfs for the store, filled to the last byte and grown again (root). */
function smallTmpfs(dir: string, size: string): { mnt: string; fill: () => number; resize: (size: string) => void; umount: () => void } | { reason: string } {
  const mnt = join(dir, 'small');
  mkdirSync(mnt);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt], { encoding: 'utf8' });
  if (m.status !== 0) return { reason: `cannot mount a tmpfs: ${m.stderr.trim()}` };
  let n = 0;
  return {
    mnt,
    /** Append to a filler file until ENOSPC; returns the bytes added. */
    fill: () => {
      const fd = openSync(join(mnt, `filler${n++}`), 'w');
      const chunk = Buffer.alloc(16384, 0x55);
      let bytes = 0;
      try {
        for (;;) bytes += writeSync(fd, chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      } finally {
        closeSync(fd);
      }
      // The last partial page too, down to single bytes.
      const fd1 = openSync(join(mnt, `filler${n++}`), 'w');
      try {
        for (;;) bytes += writeSync(fd1, Buffer.alloc(1));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      } finally {
        closeSync(fd1);
      }
      return bytes;
    },
    resize: (s: string) => {
      const r = spawnSync('mount', ['-o', `remount,size=${s}`, mnt], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    },
    umount: () => {
      spawnSync('umount', ['-l', mnt]);
    },
  };
}

/** Every record the model produced is written, skipped as a duplicate, waiting, or counted as lost. */
function assertAccounted(st: RecorderStatus, when: string): void {
  assert.equal(st.records + st.duplicateRecords + st.unwrittenRecords + st.droppedRecords, st.recordsSeen, `${when}: ${JSON.stringify({ ...st, enabledEvents: undefined, counters: undefined })}`);
  assert.equal(st.droppedRecords, st.droppedOverBacklog + st.droppedAtExit, when);
  assert.ok(st.unwrittenRecords <= st.backlogRecords, `${when}: backlog ${st.unwrittenRecords} within its bound ${st.backlogRecords}`);
}

test('records are held for one flush (flushMs), counted as waiting meanwhile, and all written at stop', { skip, timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const storePath = join(dir, 'record.db');
  // A flush interval far beyond the test: only the stop (SIGTERM's path) writes these records.
  const rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath, name: uniqueName('flush'), pollMs: 50, flushMs: 3_600_000 });
  let pid = 0;
  try {
    const p = spawn('sh', ['-c', 'exit 23'], { stdio: 'ignore' });
    pid = p.pid!;
    assert.equal((await exited(p)).code, 23);
    await sleep(150);
    rec.tick();
    const held = rec.status();
    assert.ok(held.unwrittenRecords >= 1, `the exit waits for the flush: ${held.unwrittenRecords}`);
    assert.equal(held.storeErrors, 0);
    assertAccounted(held, 'held');
    const reader = Store.open(storePath, { readonly: true });
    try {
      assert.deepEqual(reader.query({ pid: p.pid!, types: ['exit'] }), [], 'not in the store before the flush');
    } finally {
      reader.close();
    }
    const st = rec.stop();
    assert.equal(st.unwrittenRecords, 0);
    assert.equal(st.droppedRecords, 0);
    assertAccounted(st, 'stopped');
  } finally {
    rec.stop();
  }
  const store = Store.open(storePath, { readonly: true });
  try {
    assert.deepEqual(
      store.query({ pid, types: ['exit'] }).map((e) => e.exit_code),
      [23],
    );
  } finally {
    store.close();
    cleanup();
  }
});

test('held records are written once they reach the backlog bound, before any could be dropped', { skip, timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const storePath = join(dir, 'record.db');
  const rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath, name: uniqueName('flushn'), pollMs: 50, flushMs: 3_600_000, backlogRecords: 20 });
  try {
    const s = spawn('sh', ['-c', 'i=0; while [ $i -lt 30 ]; do /bin/true; i=$((i+1)); done; exit 24'], { stdio: 'ignore' });
    assert.equal((await exited(s)).code, 24);
    await sleep(150);
    rec.tick();
    const st = rec.status();
    assert.equal(st.droppedRecords, 0, 'nothing dropped: the bound triggered a write');
    assert.ok(st.records >= 60, `written: ${st.records}`);
    assert.ok(st.unwrittenRecords < 20);
    assertAccounted(st, 'after the storm');
  } finally {
    rec.stop();
    cleanup();
  }
});

test('a full disk: the recorder survives, keeps a bounded backlog, counts every drop, writes again when the disk grows', { skip, timeout: 120_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  const fs = smallTmpfs(dir, '4m');
  if ('reason' in fs) {
    cleanup();
    skipUnlessCI(t, fs.reason);
    return;
  }
  const storePath = join(fs.mnt, 'record.db');
  const backlog = 300;
  const lines: string[] = [];
  let started: Recorder | null = null;
  try {
    // A store left by a stopped recorder, then the disk fills: the next recorder still starts.
    const first = Recorder.start({ ...DEFAULT_OPTIONS, storePath, name: uniqueName('full0') }).stop();
    fs.fill();
    const rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath, name: uniqueName('full'), pollMs: 50, backlogRecords: backlog, onLine: (l) => lines.push(l) });
    started = rec;
    rec.run();
    assertAccounted(rec.status(), 'after start on the full disk');
    // A script the store has never seen: its domains are new while the disk is full (Store.intern).
    const storm = script(dir, 'storm-on-full.sh', 'i=0; while [ $i -lt 400 ]; do /bin/true; i=$((i+1)); done; exit 31');
    const s1 = spawn(storm, [], { stdio: 'ignore' });
    assert.equal((await exited(s1)).code, 31);
    await waitFor(() => rec.status().droppedOverBacklog > 0, 20_000, 'records dropped over the backlog bound');
    const full = rec.status();
    assert.equal(full.state, 'running');
    assert.ok(full.storeErrors > 0, 'the store failed');
    assert.match(full.lastStoreError ?? '', /full/);
    assert.ok(full.unwrittenRecords > 0 && full.unwrittenRecords <= backlog, `waiting ${full.unwrittenRecords}`);
    assertAccounted(full, 'disk full');
    // The newest records in the backlog: another script first met while the disk is full. (The
    // storm's own records may all be dropped by now: every process on the machine adds to the
    // 300-record backlog, and on a busy machine other tests' execs push the storm's out.)
    const late = script(dir, 'late-on-full.sh', '/bin/true; /bin/true; exit 34');
    const dropsBeforeLate = rec.status().droppedOverBacklog;
    const s3 = spawn(late, [], { stdio: 'ignore' });
    assert.equal((await exited(s3)).code, 34);
    const exit34 = new RegExp(`^\\S+ \\S+ exit \\S+ pid=${s3.pid} .*code=34 `);
    await waitFor(() => lines.some((l) => exit34.test(l)), 20_000, 'the late script seen');

    // The disk grows: the backlog is written, and then the records made after it.
    fs.resize('16m');
    await waitFor(() => rec.status().unwrittenRecords === 0, 20_000, 'the backlog to be written');
    const later = spawn('sh', ['-c', 'exit 32'], { stdio: 'ignore' });
    assert.equal((await exited(later)).code, 32);
    const exit32 = new RegExp(`^\\S+ \\S+ exit \\S+ pid=${later.pid} .*code=32 `);
    await waitFor(() => lines.some((l) => exit32.test(l)) && rec.status().unwrittenRecords === 0, 20_000, 'the exit 32 record written');
    const grown = rec.status();
    assertAccounted(grown, 'after the disk grew');
    const droppedBeforeStop = grown.droppedOverBacklog;

    // Full again, and stopped (the SIGTERM/SIGINT path) with records still waiting: flushed
    // first, and what the store could not take is counted as lost at exit.
    fs.fill();
    const s2 = spawn('sh', ['-c', 'i=0; while [ $i -lt 50 ]; do /bin/true; i=$((i+1)); done; exit 33'], { stdio: 'ignore' });
    assert.equal((await exited(s2)).code, 33);
    await waitFor(() => rec.status().unwrittenRecords > 0, 20_000, 'records waiting on the full disk');
    const st = rec.stop();
    assert.ok(st.droppedAtExit > 0, `unwritten at exit counted: ${st.droppedAtExit}`);
    assert.equal(st.unwrittenRecords, 0);
    assertAccounted(st, 'stopped on a full disk');

    fs.resize('32m');
    const store = Store.open(storePath, { readonly: true });
    try {
      // What was counted as written is in the store, with one loss record per run of drops.
      const markers = store.query({ types: ['lost'] }).filter((l) => /records dropped while the store could not be written/.test(l.detail ?? ''));
      assert.ok(markers.length >= 1);
      assert.match(
        renderLine(markers[0]!, (id) => store.name(id)),
        /LOST \d+ records \(store: \d+ records dropped while the store could not be written \(backlog bound 300\)\)$/,
      );
      assert.equal(eventJson(markers[0]!, (id) => store.name(id)).lost_unit, 'records');
      assert.equal(
        markers.reduce((n, l) => n + (l.lost ?? 0), 0),
        droppedBeforeStop,
        'the loss is in the store too',
      );
      const total = Object.values(store.counts()).reduce((a, b) => a + b, 0);
      assert.equal(total, first.records + st.records + markers.length, 'rows in the store = records counted as written (+ the loss markers)');
      assert.deepEqual(
        store.query({ pid: later.pid!, types: ['exit'] }).map((e) => e.exit_code),
        [32],
        'written after the disk grew',
      );
      // Domains made while the disk was full were written with the records that use them.
      const unnamed = store.query({ types: ['exec'] }).filter((e) => store.name(e.domain_id!).includes('<?>'));
      assert.deepEqual(unnamed, []);
      // The late script's exec can only be missing when the backlog dropped records after it began:
      // on a busy machine (seen on CI) other tests' execs may push all of it out before the disk grows.
      const lateNamed = store.query({ types: ['exec'] }).some((e) => store.name(e.domain_id!).includes(` ${late} `));
      if (!lateNamed) {
        assert.ok(droppedBeforeStop > dropsBeforeLate, `the late script's exec is missing though nothing was dropped after it (${dropsBeforeLate} drops before it, ${droppedBeforeStop} after)`);
        console.log(`# note: the late script's records were pushed out of the backlog (${droppedBeforeStop - dropsBeforeLate} drops after it began); its domain is not checked`);
      }
    } finally {
      store.close();
    }
  } finally {
    started?.stop();
    fs.umount();
    cleanup();
  }
});
