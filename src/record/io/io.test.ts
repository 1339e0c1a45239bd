/**
 * The I/O detector on the real kernel: children compiled at test time (test/data/record/io/
 * io-child.c) read and write known amounts with O_DIRECT, with buffered writes + fsync (and a
 * truncated write for cancelled_write_bytes), from several threads (one living < 100 ms); each
 * thread prints its /proc/self/task/<tid>/io just before it ends, and the recorded figures must
 * equal those within 5 %, with the right process, program and domain. Then an exit storm into
 * a tiny receive buffer: the kernel's drops are counted and the counters add up.
 * Needs root, tracefs, gcc and the built addon (CI has all four).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { facilitySkip, onCI } from '../../common/testenv.js';
import { DEFAULT_OPTIONS, Recorder, type RecorderStatus } from '../recorder.js';
import { Store } from '../store/store.js';
import { liveSkipReason, tempDir, uniqueName, waitFor } from '../live.testutil.js';
import { DEFAULT_IO, type IoOptions, type IoSourceChoice } from './detector.js';
import { loadTaskstats } from './native.js';
import { loadBpfexit } from './bpf.js';

const SOURCE = fileURLToPath(new URL('../../../test/data/record/io/io-child.c', import.meta.url));
const LANTERN = fileURLToPath(new URL('../../../bin/lantern.js', import.meta.url));
const RECORDER = new URL('../recorder.js', import.meta.url).href;
const DETECTOR = new URL('./detector.js', import.meta.url).href;
// O_DIRECT needs a disk file system (tmpfs refuses it): the repository's ignored test/artifacts/.
const ARTIFACTS = process.env.LANTERN_IO_TEST_DIR ?? fileURLToPath(new URL('../../../test/artifacts/', import.meta.url));
const loaded = loadTaskstats();
const missing = 'error' in loaded ? loaded.error : undefined;
const gcc = spawnSync('gcc', ['--version']).status === 0 ? undefined : 'gcc is not installed (it compiles the test children)';
const skip = liveSkipReason() ?? facilitySkip(missing ?? gcc);
if (skip) console.log(`# skipping live io tests: ${skip}`);
const bpfLoaded = loadBpfexit();
const bpfMissing = 'error' in bpfLoaded ? bpfLoaded.error : undefined;
const bpfSkip = skip ?? facilitySkip(bpfMissing);

test('the bpfexit addon is built on CI', { skip: !onCI() && bpfMissing ? `${bpfMissing} (CI requires it)` : false }, () => {
  assert.ok(!bpfMissing, `CI must build native/bpfexit (npm ci runs scripts/build-native.mjs): ${bpfMissing}`);
});

/** The record status line of each source, up to its loss figure (which must be 0 here). */
const STATUS_LINE: Record<'bpf' | 'taskstats', RegExp> = {
  taskstats: /^io +taskstats exit records \(cpus [0-9,-]+, receive buffer \d+ KiB\); \d+ thread exits: \d+ with disk I\/O recorded, \d+ without I\/O skipped, 0 lost/m,
  bpf: /^io +in-kernel BPF program \(raw_tp sched_process_exit, prog id \d+, ring buffer \d+ KiB\); \d+ thread exits: \d+ with disk I\/O recorded, \d+ without I\/O skipped in the kernel, 0 lost \(ring buffer full\), 0 waiting/m,
};

test('the taskstats addon is built on CI', { skip: !onCI() && missing ? `${missing} (CI requires it)` : false }, () => {
  assert.ok(!missing, `CI must build native/taskstats (npm ci runs scripts/build-native.mjs): ${missing}`);
});

interface Report {
  tid: number;
  tgid: number;
  ms: number;
  read_bytes: number;
  write_bytes: number;
  cancelled_write_bytes: number;
}

function reports(out: string): Report[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('io '))
    .map(
      (l) =>
        Object.fromEntries(
          l
            .slice(3)
            .split(' ')
            .map((kv) => kv.split('='))
            .map(([k, v]) => [k, Number(v)]),
        ) as unknown as Report,
    );
}

function workDirs(): { bin: string; data: string; cleanup: () => void } {
  const { dir, cleanup } = tempDir();
  const bin = join(dir, 'io-child');
  execFileSync('gcc', ['-O2', '-Wall', '-pthread', '-o', bin, SOURCE]);
  mkdirSync(ARTIFACTS, { recursive: true });
  const data = mkdtempSync(join(ARTIFACTS, 'io-'));
  return { bin, data, cleanup: () => (cleanup(), rmSync(data, { recursive: true, force: true })) };
}

const within5 = (got: number, want: number) => Math.abs(got - want) <= 0.05 * want;

for (const source of ['bpf', 'taskstats'] as const) {
  test(
    `${source}: exit records equal each thread's /proc io within 5 %: O_DIRECT, buffered + fsync, truncated writes, threads (one < 100 ms)`,
    { skip: source === 'bpf' ? bpfSkip : skip, timeout: 60_000 },
    () => agreement(source),
  );
}

async function agreement(source: 'bpf' | 'taskstats'): Promise<void> {
  const w = workDirs();
  const { dir, cleanup } = tempDir();
  const storePath = join(dir, 'record.db');
  // auto picks the in-kernel source when it can: the bpf case runs the default.
  const choice: IoSourceChoice = source === 'bpf' ? 'auto' : 'taskstats';
  const rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath, name: uniqueName('io'), pollMs: 50, io: { ...DEFAULT_IO, source: choice }, say: () => {} });
  let st: RecorderStatus | null = null;
  try {
    rec.run();
    assert.equal(rec.io!.status.source, source, `${rec.io!.status.note ?? ''} ${rec.io!.status.bpfNote ?? ''}`);
    const got: Report[] = [];
    for (const args of [
      ['direct', w.data, '4096'],
      ['buffered', w.data, '2048'],
      ['threads', w.data, '4'],
    ]) {
      got.push(...reports(execFileSync(w.bin, args, { encoding: 'utf8' })));
    }
    assert.equal(got.length, 2 + 5);
    const tids = new Set(got.map((r) => r.tid));
    await waitFor(() => rec.store.query({ types: ['io'] }).filter((e) => tids.has(e.tid!)).length >= tids.size, 10_000, 'io records of every child thread');
    st = rec.stop();
    const store = Store.open(storePath, { readonly: true });
    try {
      const ios = store.query({ types: ['io'] });
      for (const r of got) {
        const e = ios.find((x) => x.tid === r.tid);
        assert.ok(e, `io record of tid ${r.tid}`);
        const io = store.ioOf(e.id)!;
        for (const k of ['read_bytes', 'write_bytes', 'cancelled_write_bytes'] as const) assert.ok(within5(io[k], r[k]), `tid ${r.tid} ${k}: recorded ${io[k]}, /proc said ${r[k]}`);
        assert.equal(e.pid, r.tgid);
        assert.equal(e.ppid, process.pid);
        assert.equal(e.program, w.bin);
        assert.equal(e.comm, 'io-child');
        const exec = store.query({ types: ['exec'], pid: r.tgid }).at(-1)!;
        assert.equal(e.domain_id, exec.domain_id, 'the domain of the process (its exec record)');
        assert.ok(store.name(e.domain_id!).endsWith(` ${w.bin}`));
        assert.equal(e.pstart_us, exec.pstart_us);
      }
      // The cases the figures are about.
      const direct = got[0]!,
        buffered = got[1]!,
        short = got.find((r) => r.ms < 100 && r.tid !== r.tgid)!;
      assert.ok(direct.read_bytes >= 4 << 20 && direct.write_bytes >= 4 << 20);
      assert.ok(buffered.write_bytes >= 2 << 20 && buffered.cancelled_write_bytes > 0);
      assert.ok(short, 'a thread that lived under 100 ms');
      assert.ok(short.write_bytes >= 512 << 10);
    } finally {
      store.close();
    }
    // lantern events and top-io over this store.
    const ev = spawnSync(process.execPath, [LANTERN, 'events', '--store', storePath, '--type', 'io', '--json'], { encoding: 'utf8' });
    assert.equal(ev.status, 0, ev.stderr);
    const lines = ev.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { tid: number; program: string; io: { write_bytes: number } });
    const mine = lines.filter((l) => tids.has(l.tid));
    assert.equal(mine.length, tids.size);
    assert.ok(mine.every((l) => l.program === w.bin && l.io.write_bytes > 0));
    const top = spawnSync(process.execPath, [LANTERN, 'top-io', '--store', storePath, '--json'], { encoding: 'utf8' });
    assert.equal(top.status, 0, top.stderr);
    const row = (JSON.parse(top.stdout) as Array<{ program: string; processes: number; threads: number; write_bytes: number }>).find((r) => r.program === w.bin)!;
    assert.deepEqual([row.processes, row.threads], [3, 7]);
    const byDomain = spawnSync(process.execPath, [LANTERN, 'top-io', '--store', storePath, '--by', 'domain'], { encoding: 'utf8' });
    assert.equal(byDomain.status, 0, byDomain.stderr);
    assert.match(byDomain.stdout, /^ +TOTAL +READ +WRITE +CANCELLED +PROCS +THREADS +DOMAIN\n/);
    assert.ok(byDomain.stdout.includes(` ${w.bin}\n`));
    const status = spawnSync(process.execPath, [LANTERN, 'record', 'status', '--store', storePath], { encoding: 'utf8' });
    assert.match(status.stdout, STATUS_LINE[source]);
    const json = spawnSync(process.execPath, [LANTERN, 'record', 'status', '--store', storePath, '--json'], { encoding: 'utf8' });
    assert.equal((JSON.parse(json.stdout) as { io: { source: string } }).io.source, source);
  } finally {
    if (!st) rec.abort();
    w.cleanup();
    cleanup();
  }
  assert.equal(st.io!.waiting, 0);
  assert.equal(st.io!.exits, st.io!.records + st.io!.skippedNoIo + st.io!.lostKernel + st.io!.lostQueue + st.io!.parseErrors);
}

/**
 * A recorder with these I/O options through a storm of `n` exiting children (half of them write),
 * stopped once the detector has seen them all; `started` checks the detector first. The store's
 * directory is left for the caller (cleanup), removed on failure.
 */
async function recorderStorm(tag: string, io: IoOptions, n: number, what: string, started: (rec: Recorder) => void): Promise<{ st: RecorderStatus; storePath: string; cleanup: () => void }> {
  const w = workDirs();
  const { dir, cleanup } = tempDir();
  const storePath = join(dir, 'record.db');
  const rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath, name: uniqueName(tag), pollMs: 50, io, say: () => {} });
  let st: RecorderStatus | null = null;
  try {
    rec.run();
    started(rec);
    assert.match(execFileSync(w.bin, ['storm', w.data, String(n)], { encoding: 'utf8' }), new RegExp(`^storm ${n} cpu=[\\d.]+\n$`));
    await waitFor(() => rec.io!.status.exits >= n, 10_000, what);
    st = rec.stop();
  } finally {
    if (!st) rec.abort();
    w.cleanup();
    if (!st) cleanup();
  }
  return { st, storePath, cleanup };
}

test("an exit storm into a tiny receive buffer: the kernel's drops are counted, and stored + skipped + lost = exits notified", { skip, timeout: 60_000 }, async () => {
  const N = 3000;
  const { st, storePath, cleanup } = await recorderStorm('iost', { ...DEFAULT_IO, source: 'taskstats', rcvbufBytes: 1024 }, N, 'the storm notified', (rec) =>
    assert.ok(rec.io!.status.rcvbufBytes < 8192, `tiny buffer: ${rec.io!.status.rcvbufBytes}`),
  );
  const io = st.io!;
  console.log(`# storm of ${N}: ${io.exits} exits notified, ${io.records} stored, ${io.skippedNoIo} without I/O, ${io.lostKernel} dropped by the kernel (${io.enobufs} ENOBUFS)`);
  assert.ok(io.lostKernel > 0, `a 1 KiB buffer cannot take ${N} exits: lost ${io.lostKernel}`);
  assert.ok(io.enobufs > 0);
  assert.equal(io.waiting, 0);
  assert.equal(io.exits, io.received + io.lostKernel);
  assert.equal(io.exits, io.records + io.skippedNoIo + io.lostKernel + io.lostQueue + io.parseErrors, JSON.stringify(io));
  assert.ok(io.exits >= N + 1);
  assert.equal(st.droppedRecords, 0);
  const store = Store.open(storePath, { readonly: true });
  try {
    assert.equal(store.counts().io ?? 0, io.records, 'every io record made is in the store');
  } finally {
    store.close();
    cleanup();
  }
});

test('bpf: an exit storm into a one-page ring through the recorder: stored + skipped + lost (ring full) = exits the program saw', { skip: bpfSkip, timeout: 60_000 }, async () => {
  const N = 3000;
  const { st, storePath, cleanup } = await recorderStorm('iosb', { ...DEFAULT_IO, source: 'bpf', ringBytes: 4096 }, N, 'the program saw the storm', (rec) =>
    assert.equal(rec.io!.status.source, 'bpf', rec.io!.status.note ?? ''),
  );
  const io = st.io!;
  console.log(`# bpf storm of ${N}: ${io.exits} exits seen, ${io.records} stored, ${io.skippedNoIo} without I/O, ${io.lostKernel} lost (ring full)`);
  assert.equal(io.waiting, 0);
  assert.equal(io.exits, io.records + io.skippedNoIo + io.lostKernel + io.parseErrors, JSON.stringify(io));
  assert.ok(io.records + io.lostKernel >= N / 2, 'every other child wrote');
  const store = Store.open(storePath, { readonly: true });
  try {
    assert.equal(store.counts().io ?? 0, io.records, 'every io record made is in the store');
  } finally {
    store.close();
    cleanup();
  }
});

/** Runs `lantern record` for a second in a new pid namespace (unshare --pid --fork). */
function recordInPidNs(dir: string, name: string): { stderr: string; store: string } {
  const store = join(dir, `${name}.db`);
  const r = spawnSync('unshare', ['--pid', '--fork', process.execPath, LANTERN, 'record', '--store', store, '--name', uniqueName(name), '--duration', '1', '--no-hung', '--no-slab'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  // Its tracefs instance is named with its pid as /proc sees it, not the namespace's 1: a recorder
  // outside would take `lantern.NAME.1` for a dead recorder's and remove it under this one.
  const owner = Number(/\(instance \S+\.(\d+),/.exec(r.stderr)?.[1]);
  assert.ok(owner > 1, r.stderr);
  return { stderr: r.stderr, store };
}

test(
  'in a pid namespace the in-kernel source runs (BPF does not care); the taskstats fallback is refused there: said once, the rest recorded, status says unavailable',
  { skip, timeout: 60_000 },
  () => {
    const { dir, cleanup } = tempDir();
    try {
      if (!bpfMissing) {
        const bpf = recordInPidNs(dir, 'iopb');
        assert.doesNotMatch(bpf.stderr, /I\/O detector off/);
        const st = spawnSync(process.execPath, [LANTERN, 'record', 'status', '--store', bpf.store], { encoding: 'utf8' });
        assert.match(st.stdout, STATUS_LINE.bpf);
      }
      // The fallback alone, as a host without the addon or BTF would run it (source chosen in the options).
      const ts = spawnSync(
        'unshare',
        [
          '--pid',
          '--fork',
          process.execPath,
          '--input-type=module',
          '-e',
          `import { DEFAULT_OPTIONS, Recorder } from ${JSON.stringify(RECORDER)};
         import { DEFAULT_IO } from ${JSON.stringify(DETECTOR)};
         const rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath: ${JSON.stringify(join(dir, 'iopn.db'))}, name: ${JSON.stringify(uniqueName('iopn'))}, io: { ...DEFAULT_IO, source: 'taskstats' }, say: (l) => process.stderr.write(l + '\\n') });
         rec.run();
         setTimeout(() => { const st = rec.stop(); process.stdout.write(JSON.stringify(st.io)); }, 500);`,
        ],
        { encoding: 'utf8', timeout: 30_000 },
      );
      assert.equal(ts.status, 0, ts.stderr);
      assert.match(
        ts.stderr,
        /^lantern record: I\/O detector off: registering for taskstats exit records was refused \(the kernel takes listeners only from the initial user and pid namespaces, and CPUs it knows\): Invalid argument$/m,
      );
      assert.equal(ts.stderr.match(/I\/O detector off/g)!.length, 1);
      const st = spawnSync(process.execPath, [LANTERN, 'record', 'status', '--store', join(dir, 'iopn.db')], { encoding: 'utf8' });
      assert.match(st.stdout, /^io +unavailable: registering for taskstats exit records was refused/m);
      assert.match(st.stdout, /^records +exec \d+/m);
    } finally {
      cleanup();
    }
  },
);

test('top-io: a bad --by is a usage error (64); no store is 66', () => {
  const bad = spawnSync(process.execPath, [LANTERN, 'top-io', '--by', 'user'], { encoding: 'utf8' });
  assert.equal(bad.status, 64);
  assert.match(bad.stderr, /bad --by "user": program or domain/);
  const none = spawnSync(process.execPath, [LANTERN, 'top-io', '--store', '/nonexistent/record.db'], { encoding: 'utf8' });
  assert.equal(none.status, 66);
  assert.match(none.stderr, /no record store at \/nonexistent\/record.db/);
  assert.ok(existsSync(LANTERN));
});
