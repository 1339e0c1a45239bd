/**
 * The latency detector on the real kernel: a FUSE file system whose getattr sleeps (compiled at
 * test time against libfuse3) makes slow stats — coreutils `stat` (statx) and a C fstatat()
 * (newfstatat) with a relative path — recorded with the right pid, program, call and resolved path,
 * and a `slow_stat` rule fires; O_DIRECT writes on a loop-mounted ext4 image with the slow-I/O
 * threshold at 0 give slow_io records with the loop device and dd's pid, and per-device
 * percentiles. The FUSE test runs on both slow-stat backends (raw_tp: native/bpfstat; bpftrace).
 * A SIGKILLed recorder leaves no bpftrace and no BPF program. Every mount and process is undone in `finally`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { facilitySkip } from '../../common/testenv.js';
import { findBpftrace } from '../../common/bpftrace.js';
import { DEFAULT_OPTIONS, Recorder } from '../recorder.js';
import { Store } from '../store/store.js';
import { parseRules } from '../rules/core.js';
import { exited, liveSkipReason, sleep, tempDir, tracefsRoot, uniqueName, waitFor } from '../live.testutil.js';
import { eventJson } from '../render.js';
import { loadBpfstat } from './native.js';

const DATA = new URL('../../../test/data/latency/', import.meta.url).pathname;

function missing(): string | undefined {
  const bt = findBpftrace();
  if ('missing' in bt) return bt.missing;
  if (!existsSync(join(tracefsRoot(), 'events/syscalls/sys_enter_statx'))) return 'no syscalls:sys_enter_statx tracepoint';
  for (const tool of ['gcc', 'pkg-config', 'fusermount3', 'mkfs.ext4', 'mount', 'umount', 'losetup', 'dd']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0) return `${tool} is not installed (see .ci/packages)`;
  }
  if (spawnSync('pkg-config', ['--exists', 'fuse3']).status !== 0) return 'libfuse3-dev is not installed (pkg-config fuse3)';
  if (!existsSync('/dev/fuse')) return '/dev/fuse is missing';
  return undefined;
}

const skip = liveSkipReason() ?? facilitySkip(missing());
if (skip) console.log(`# skipping live latency tests: ${skip}`);

function run(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message || `exit ${r.status}`}`);
  return r.stdout;
}

function isMounted(dir: string): boolean {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === dir);
}

/**
 * The FUSE file system whose getattr sleeps (test/data/latency/slowfs.c; /slow 600 ms, /stuck 2.4 s)
 * at DIR/mnt: mount() compiles and mounts it, unmount() undoes it (for `finally`: also after a failed mount()).
 */
function slowFs(dir: string): { mnt: string; mount: () => Promise<void>; unmount: () => void } {
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  let fs: ChildProcess | null = null;
  return {
    mnt,
    async mount() {
      const fuse = run('pkg-config', ['fuse3', '--cflags', '--libs']).trim().split(/\s+/);
      run('gcc', ['-O1', '-o', join(dir, 'slowfs'), join(DATA, 'slowfs.c'), ...fuse]);
      fs = spawn(join(dir, 'slowfs'), ['-f', '-s', mnt], { env: { ...process.env, SLOWFS_MS: '600' }, stdio: 'ignore' });
      await waitFor(() => isMounted(mnt), 10_000, 'the FUSE mount');
    },
    unmount() {
      if (isMounted(mnt)) spawnSync('fusermount3', ['-u', mnt], { stdio: 'ignore' });
      if (fs && fs.exitCode === null) fs.kill('SIGKILL');
      if (isMounted(mnt)) spawnSync('umount', ['-l', mnt], { stdio: 'ignore' });
    },
  };
}

const bpfstat = loadBpfstat();
const rawSkip = skip ?? facilitySkip('error' in bpfstat ? `native/bpfstat not built: ${bpfstat.error}` : undefined);

/** Whether a BPF program with this id is still loaded (freed a moment after its last fd closes). */
function progLoaded(id: number): boolean {
  return 'mod' in bpfstat && bpfstat.mod.progIds().includes(id);
}

for (const backend of ['raw_tp', 'bpftrace'] as const)
  test(
    `slow stats through FUSE (${backend}): statx (coreutils stat) and newfstatat (fstatat, relative path) recorded with pid, program, path; a slow_stat rule fires`,
    { skip: backend === 'raw_tp' ? rawSkip : skip, timeout: 90_000 },
    async () => {
      const { dir, cleanup } = tempDir();
      const slow = slowFs(dir);
      const mnt = slow.mnt;
      let rec: Recorder | null = null;
      let stopped = false;
      try {
        await slow.mount();
        run('gcc', ['-O1', '-o', join(dir, 'statat'), join(DATA, 'statat.c')]);

        const text = '[[rule]]\non = "slow_stat > 400ms"\ndo = ["sysrq t", "log"]\nmin_interval = "0s"\n';
        const rules = parseRules((parseToml(text) as Record<string, unknown>).rule, text, 'r.toml');
        const said: string[] = [];
        rec = Recorder.start({
          ...DEFAULT_OPTIONS,
          storePath: join(dir, 'r.db'),
          name: uniqueName('lat'),
          pollMs: 50,
          say: (l) => said.push(l),
          latency: { stat: { thresholdNs: 400e6 }, io: null, statBackend: backend },
          rules: { rules, maxTasks: 10, sysrqTrigger: join(dir, 'sysrq-trigger') },
        });
        await rec.attachLatency();
        rec.run();
        const l0 = rec.status().latency!;
        assert.equal(l0.statBackend, backend);
        const btPid = l0.bpftracePid;
        const progIds = l0.progIds ?? [];
        if (backend === 'bpftrace') assert.ok(btPid && existsSync(`/proc/${btPid}`));
        else {
          assert.equal(btPid, null, 'no bpftrace when only slow stats are asked for');
          assert.equal(progIds.length, 2);
          assert.ok(progIds.every(progLoaded), 'both programs loaded');
        }

        const stat = spawn('/usr/bin/stat', [join(mnt, 'slow')], { stdio: 'ignore' });
        // getattr of /stuck sleeps 2.4 s: seen in flight (the map printed every second) before it returns.
        const stuck = spawn('/usr/bin/stat', [join(mnt, 'stuck')], { stdio: 'ignore' });
        const statat = spawn(join(dir, 'statat'), ['slow'], { cwd: mnt, stdio: ['ignore', 'ignore', 'inherit'] });
        // A fast stat of the same kind must not be recorded.
        run('/usr/bin/stat', [dir]);
        assert.equal((await exited(stat)).code, 0);
        assert.equal((await exited(statat)).code, 0);
        assert.equal((await exited(stuck)).code, 0);
        await waitFor(() => rec!.status().latency!.stat!.slow >= 3 && rec!.status().latency!.stat!.inProgress >= 1, 15_000, 'slow stats').catch((e) => {
          // The whole detector status (lost, malformed and its first line), to tell a lost record from one never made.
          throw new Error(`${e.message}: ${JSON.stringify(rec!.status().latency)} ${JSON.stringify((rec as unknown as { latencyDetector: { lines: unknown } }).latencyDetector.lines)}`);
        });
        if (backend === 'raw_tp') await waitFor(() => (rec!.status().latency!.stat!.forgotten ?? 0) >= 1, 5000, "the exited stat processes' entries to be removed");
        await sleep(200);
        await rec.detachLatency();
        const st = rec.stop();
        stopped = true;
        if (btPid) assert.equal(existsSync(`/proc/${btPid}`), false, 'bpftrace ended');
        if (backend === 'raw_tp') {
          await waitFor(() => !progIds.some(progLoaded), 5000, 'the programs to be freed after stop');
          const s = st.latency!.stat!;
          assert.ok((s.timed ?? 0) >= s.slow, JSON.stringify(s));
          assert.ok(s.p99Us !== null && s.p99Us !== undefined, 'a histogram of the timed calls');
        }
        assert.equal(st.latency!.lost, 0);
        assert.equal(st.latency!.malformed, 0, st.latency!.firstMalformed ?? '');
        assert.ok(st.rules!.rules[0]!.acted >= 1);
        assert.match(readFileSync(join(dir, 'sysrq-trigger'), 'utf8'), /^t+$/);
        assert.ok(
          said.some((l) => /rule 1 .* fired on #\d+ \(slow_stat\)/.test(l)),
          said.join('\n'),
        );

        const store = Store.open(join(dir, 'r.db'), { readonly: true });
        try {
          const recs = store.query({ types: ['slow_stat'] }).map((e) => eventJson(e, (id) => store.name(id)));
          const ofStat = recs.filter((r) => r.pid === stat.pid && !r.in_progress);
          const ofStuck = recs.filter((r) => r.pid === stuck.pid);
          const inFlight = ofStuck.filter((r) => r.in_progress === true);
          assert.ok(inFlight.length >= 1, JSON.stringify(ofStuck));
          for (const r of inFlight) {
            assert.equal(r.tid, stuck.pid);
            assert.equal(r.program, '/usr/bin/stat');
            assert.ok((r.duration_ms as number) >= 400 && (r.duration_ms as number) < 9600, String(r.duration_ms));
          }
          assert.ok(
            ofStuck.some((r) => r.call === 'statx' && r.path === join(mnt, 'stuck') && (r.duration_ms as number) >= 2400),
            'and again when it returns',
          );
          const ofStatat = recs.filter((r) => r.pid === statat.pid && !r.in_progress);
          // stat does LOOKUP then GETATTR of /slow: each a getattr that sleeps (at least one slow statx).
          assert.ok(ofStat.length >= 1, JSON.stringify(recs));
          for (const r of ofStat) {
            assert.equal(r.call, 'statx');
            assert.equal(r.program, '/usr/bin/stat');
            assert.equal(r.comm, 'stat');
            assert.equal(r.path, join(mnt, 'slow'));
            assert.equal(r.ret, 0);
            assert.ok((r.duration_ms as number) >= 400, String(r.duration_ms));
            assert.equal(r.tid, stat.pid);
            assert.match(String(r.domain), /\/usr\/bin\/stat$/);
          }
          assert.ok(ofStatat.length >= 1, JSON.stringify(recs));
          for (const r of ofStatat) {
            assert.equal(r.call, 'newfstatat');
            assert.equal(r.program, join(dir, 'statat'));
            assert.equal(r.path, 'slow', 'as passed');
            assert.equal(r.resolved, join(mnt, 'slow'), 'against the cwd');
            assert.ok((r.duration_ms as number) >= 400);
          }
          assert.equal(recs.filter((r) => r.path === dir).length, 0, 'the fast stat stayed in the kernel');
          const rule = store.query({ types: ['rule'] });
          assert.ok(rule.some((r) => recs.some((s) => s.id === r.from_id)));
        } finally {
          store.close();
        }
        // The same through the real CLI: events --type slow_stat and the status line.
        const bin = new URL('../../../bin/lantern.js', import.meta.url).pathname;
        const ev = spawnSync(process.execPath, [bin, 'events', '--store', join(dir, 'r.db'), '--type', 'slow_stat'], { encoding: 'utf8' });
        assert.equal(ev.status, 0, ev.stderr);
        assert.match(
          ev.stdout,
          new RegExp(`slow_stat /usr/bin/stat pid=${stat.pid} tid=${stat.pid} comm=stat: \\d+\\.\\d{3} ms statx\\(${JSON.stringify(join(mnt, 'slow')).replace(/[/.]/g, '\\$&')}\\) = 0 `),
        );
        const status = spawnSync(process.execPath, [bin, 'record', 'status', '--store', join(dir, 'r.db')], { encoding: 'utf8' });
        if (backend === 'bpftrace')
          assert.match(status.stdout, /^slow_stat  bpftrace \S+ \(pid \d+\): stat, lstat, fstat, newfstatat, statx slower than 400 ms; \d+ recorded.*; backend: LANTERN_SLOW_STAT_BACKEND=bpftrace;/m);
        else
          assert.match(
            status.stdout,
            /^slow_stat  raw_tp sys_enter, (?:tp_btf|raw_tp) sys_exit \(native\/bpfstat, BPF programs \d+, \d+\): stat, lstat, fstat, newfstatat, statx slower than 400 ms; [1-9]\d* recorded, [1-9]\d* seen still in flight, 0 lost; \d+ calls timed in the kernel \(p50 <= .*, p99 <= .*\), \d+ unpaired, \d+ threads tracked; backend: LANTERN_SLOW_STAT_BACKEND=raw_tp;/m,
          );
        assert.match(status.stdout, /^slow_io    detector off/m);
      } finally {
        if (rec && !stopped) rec.abort();
        slow.unmount();
        cleanup();
      }
    },
  );

test('bpftrace backend with a map of one call: a stuck stat holds it, the enters refused meanwhile are counted as not timed', { skip, timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const slow = slowFs(dir);
  let rec: Recorder | null = null;
  let stopped = false;
  try {
    await slow.mount();
    rec = Recorder.start({
      ...DEFAULT_OPTIONS,
      storePath: join(dir, 'r.db'),
      name: uniqueName('latfull'),
      pollMs: 50,
      latency: { stat: { thresholdNs: 400e6 }, io: null, statBackend: 'bpftrace', mapKeysMax: 1 },
    });
    await rec.attachLatency();
    rec.run();
    // getattr of /stuck sleeps 2.4 s: its statx holds the map's only entry; every stat-family call
    // entered meanwhile (ten coreutils stats make dozens) is refused an entry.
    const stuck = spawn('/usr/bin/stat', [join(slow.mnt, 'stuck')], { stdio: 'ignore' });
    await sleep(500);
    for (let i = 0; i < 10; i++) run('/usr/bin/stat', [dir]);
    assert.equal((await exited(stuck)).code, 0);
    await waitFor(
      () => rec!.status().latency!.stat!.slow >= 1 && (rec!.status().latency!.stat!.startFailed ?? 0) >= 10,
      10_000,
      `the stuck stat recorded and the refused enters counted: ${JSON.stringify(rec.status().latency)}`,
    );
    await rec.detachLatency();
    const st = rec.stop();
    stopped = true;
    assert.ok((st.latency!.stat!.startFailed ?? 0) >= 10, JSON.stringify(st.latency));
    assert.equal(st.latency!.lost, 0);
    const store = Store.open(join(dir, 'r.db'), { readonly: true });
    try {
      assert.ok(store.query({ types: ['slow_stat'] }).some((e) => e.pid === stuck.pid));
    } finally {
      store.close();
    }
    const bin = new URL('../../../bin/lantern.js', import.meta.url).pathname;
    const status = spawnSync(process.execPath, [bin, 'record', 'status', '--store', join(dir, 'r.db')], { encoding: 'utf8' });
    assert.match(status.stdout, /^slow_stat  bpftrace .*; [1-9]\d+ calls not timed \(map of calls full\);/m);
  } finally {
    if (rec && !stopped) rec.abort();
    slow.unmount();
    cleanup();
  }
});

test("slow I/O with the threshold at 0: O_DIRECT writes on a loop device recorded with the device and dd's pid; per-device percentiles", { skip, timeout: 90_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const img = join(dir, 'fs.img');
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  let rec: Recorder | null = null;
  let stopped = false;
  try {
    run('dd', ['if=/dev/zero', `of=${img}`, 'bs=1M', 'count=16', 'status=none']);
    run('mkfs.ext4', ['-q', '-F', img]);
    run('mount', ['-o', 'loop', img, mnt]);
    const dev = statSync(mnt).dev;
    const devText = `${Math.floor(dev / 256) & 0xfff}:${(dev & 0xff) | ((dev >> 12) & 0xfff00)}`;
    rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath: join(dir, 'r.db'), name: uniqueName('lat'), pollMs: 50, latency: { stat: null, io: { thresholdNs: 0, histIntervalMs: 200 } } });
    await rec.attachLatency();
    rec.run();
    const dd = spawn('dd', ['if=/dev/zero', `of=${join(mnt, 'out')}`, 'bs=64k', 'count=20', 'oflag=direct', 'status=none'], { stdio: 'ignore' });
    assert.equal((await exited(dd)).code, 0);
    await waitFor(() => (rec!.status().latency!.io!.devices.find((d) => d.dev === devText)?.requests ?? 0) >= 20, 15_000, `requests on ${devText}`).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(rec!.status().latency?.io?.devices)}`);
    });
    await rec.detachLatency();
    const st = rec.stop();
    stopped = true;
    const d = st.latency!.io!.devices.find((x) => x.dev === devText)!;
    assert.match(d.name ?? '', /^loop\d+$/);
    assert.ok(d.p50Us !== null && d.p99Us !== null && d.maxUs !== null && d.p50Us <= d.p99Us, JSON.stringify(d));
    const store = Store.open(join(dir, 'r.db'), { readonly: true });
    try {
      const recs = store.query({ types: ['slow_io'] }).map((e) => eventJson(e, (id) => store.name(id)));
      const mine = recs.filter((r) => r.device === devText && r.pid === dd.pid && r.op === 'write');
      // 20 writes of 64 KiB (the loop device may split them): all 1,310,720 bytes by dd.
      assert.ok(mine.length >= 20, JSON.stringify(recs.slice(0, 5)));
      assert.equal(
        mine.reduce((a, r) => a + (r.bytes as number), 0),
        20 * 65536,
      );
      for (const r of mine) {
        assert.equal(r.comm, 'dd');
        assert.equal(r.device_name, d.name);
        assert.equal(r.submitter_seen, true);
      }
    } finally {
      store.close();
    }
  } finally {
    if (rec && !stopped) rec.abort();
    spawnSync('umount', [mnt], { stdio: 'ignore', timeout: 30_000 });
    const held = spawnSync('losetup', ['-j', img], { encoding: 'utf8' }).stdout ?? '';
    for (const l of held
      .split('\n')
      .map((x) => x.split(':')[0]!)
      .filter(Boolean))
      spawnSync('losetup', ['-d', l], { stdio: 'ignore' });
    cleanup();
  }
});

test('a SIGKILLed recorder leaves no bpftrace attached', { skip, timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const mod = new URL('../recorder.js', import.meta.url).pathname;
  const script = `import { DEFAULT_OPTIONS, Recorder } from ${JSON.stringify(mod)};
    const rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath: ${JSON.stringify(join(dir, 'r.db'))}, name: ${JSON.stringify(uniqueName('latk'))}, latency: { stat: { thresholdNs: 1e9 }, io: null, statBackend: 'bpftrace' } });
    await rec.attachLatency(); rec.run();
    process.stdout.write(rec.status().latency.bpftracePid + '\\n');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    await waitFor(() => out.includes('\n'), 30_000, 'the recorder to attach');
    const btPid = Number(out.trim());
    assert.ok(btPid > 0 && existsSync(`/proc/${btPid}`));
    child.kill('SIGKILL');
    await exited(child);
    await waitFor(() => !existsSync(`/proc/${btPid}`) || /^State:\s+Z/m.test(readFileSync(`/proc/${btPid}/status`, 'utf8')), 10_000, 'bpftrace to die with its parent');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    // The recorder's tracefs instance of the killed child is left for the next start's stale sweep: remove it here.
    for (const n of spawnSync('ls', [join(tracefsRoot(), 'instances')], { encoding: 'utf8' }).stdout.split('\n')) {
      if (n.startsWith('lantern.tlatk')) spawnSync('rmdir', [join(tracefsRoot(), 'instances', n)]);
    }
    cleanup();
  }
});
