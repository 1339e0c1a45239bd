/**
 * The in-kernel source (native/bpfexit) on the real kernel: its figures equal taskstats's for
 * the same threads and each thread's /proc io just before it ended (so the kernel has filled
 * task->ioac when sched_process_exit fires); a full ring is counted as lost and the counters add
 * up; a refused load says the verifier's words; every descriptor is closed; a SIGKILLed owner
 * leaves no program behind; without BTF (or with a BTF that lacks the structures) the detector
 * falls back to taskstats and says why. Needs root, gcc and both addons (CI has them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { facilitySkip } from '../../common/testenv.js';
import { decodeEntries, type IoExit } from './core.js';
import { DEFAULT_OPTIONS, Recorder } from '../recorder.js';
import { exited, liveSkipReason, sleep, tempDir, uniqueName, waitFor } from '../live.testutil.js';
import { DEFAULT_IO } from './detector.js';
import { kernelExitOffsets, loadBpfexit, openBpfSource, type BpfexitAddon, type ExitOffsets } from './bpf.js';
import { loadTaskstats } from './native.js';

const SOURCE = fileURLToPath(new URL('../../../test/data/record/io/io-child.c', import.meta.url));
const SMALL_BTF = fileURLToPath(new URL('../../../test/data/common/btf/small.btf', import.meta.url));
const LANTERN = fileURLToPath(new URL('../../../bin/lantern.js', import.meta.url));
const ARTIFACTS = process.env.LANTERN_IO_TEST_DIR ?? fileURLToPath(new URL('../../../test/artifacts/', import.meta.url));
const bx = loadBpfexit();
const ts = loadTaskstats();
const k = kernelExitOffsets();
const gcc = spawnSync('gcc', ['--version']).status === 0 ? undefined : 'gcc is not installed (it compiles the test children)';
const missing = 'error' in bx ? bx.error : 'error' in ts ? ts.error : 'error' in k ? k.error : gcc;
const skip = liveSkipReason() ?? facilitySkip(missing);
if (skip) console.log(`# skipping bpfexit tests: ${skip}`);
const mod = (): BpfexitAddon => (bx as { mod: BpfexitAddon }).mod;
const offsets = (): ExitOffsets => (k as { offsets: ExitOffsets }).offsets;

const openFds = () => readdirSync('/proc/self/fd').length;
const within5 = (got: number, want: number) => Math.abs(got - want) <= 0.05 * want;

function child(): { bin: string; data: string; cleanup: () => void } {
  const { dir, cleanup } = tempDir();
  const bin = join(dir, 'io-child');
  execFileSync('gcc', ['-O2', '-Wall', '-pthread', '-o', bin, SOURCE]);
  mkdirSync(ARTIFACTS, { recursive: true });
  const data = mkdtempSync(join(ARTIFACTS, 'bx-'));
  return { bin, data, cleanup: () => (cleanup(), rmSync(data, { recursive: true, force: true })) };
}

function reports(out: string): Array<Record<string, number>> {
  return out
    .split('\n')
    .filter((l) => l.startsWith('io '))
    .map((l) =>
      Object.fromEntries(
        l
          .slice(3)
          .split(' ')
          .map((kv) => [kv.split('=')[0]!, Number(kv.split('=')[1])]),
      ),
    );
}

test('the same threads through both sources: equal figures, and within 5 % of /proc io just before the exit (multi-threaded children, a thread under 100 ms)', { skip, timeout: 60_000 }, async () => {
  const w = child();
  const tsMod = (ts as { mod: import('./native.js').TaskstatsAddon }).mod;
  const bpf = openBpfSource(mod(), offsets(), 1 << 22);
  const t = tsMod.open({ rcvbuf: 4 << 20, skipNoIo: 1 });
  const fromBpf = new Map<number, IoExit>();
  const fromTs = new Map<number, IoExit>();
  try {
    const got: Array<Record<string, number>> = [];
    for (const args of [
      ['direct', w.data, '2048'],
      ['buffered', w.data, '1024'],
      ['threads', w.data, '4'],
      ['threads', w.data, '4'],
    ])
      got.push(...reports(execFileSync(w.bin, args, { encoding: 'utf8' })));
    const tids = new Set(got.map((r) => r.tid!));
    assert.ok(tids.size >= 2 + 2 * 5, `threads reported: ${tids.size}`);
    await waitFor(
      () => {
        for (const e of decodeEntries(bpf.take())) if (tids.has(e.tid)) fromBpf.set(e.tid, e);
        for (const e of decodeEntries(tsMod.take(t.handle))) if (tids.has(e.tid)) fromTs.set(e.tid, e);
        return fromBpf.size === tids.size && fromTs.size === tids.size;
      },
      10_000,
      'both sources have every thread',
    );
    for (const r of got) {
      const b = fromBpf.get(r.tid!)!;
      const s = fromTs.get(r.tid!)!;
      assert.deepEqual([b.tid, b.tgid, b.ppid, b.uid, b.exitCode, b.comm], [s.tid, s.tgid, s.ppid, s.uid, s.exitCode, s.comm], `identity of tid ${r.tid}`);
      assert.equal(b.tgid, r.tgid);
      assert.deepEqual([b.readBytes, b.writeBytes, b.cancelledWriteBytes], [s.readBytes, s.writeBytes, s.cancelledWriteBytes], `tid ${r.tid}: bpf and taskstats read the same counters`);
      for (const [f, key] of [
        ['readBytes', 'read_bytes'],
        ['writeBytes', 'write_bytes'],
        ['cancelledWriteBytes', 'cancelled_write_bytes'],
      ] as const)
        assert.ok(within5(b[f], r[key]!), `tid ${r.tid} ${key}: bpf ${b[f]}, /proc said ${r[key]}`);
      assert.ok(Math.abs(b.elapsedUs - s.elapsedUs) < 20_000, `elapsed ${b.elapsedUs} vs ${s.elapsedUs} µs`);
      assert.ok(Math.abs(b.beginSec - s.beginSec) <= 1, `begin ${b.beginSec} vs ${s.beginSec}`);
      assert.ok(b.readChars >= b.readBytes || b.readBytes > 0);
    }
    assert.ok(
      got.some((r) => r.ms! < 100 && r.tid !== r.tgid),
      'a thread that lived under 100 ms',
    );
    assert.ok(
      got.some((r) => r.cancelled_write_bytes! > 0),
      'a truncated write',
    );
  } finally {
    bpf.close();
    tsMod.close(t.handle);
    w.cleanup();
  }
  const c = bpf.stats();
  assert.equal(c.seen, c.skippedNoIo + c.lost + c.submitted, JSON.stringify(c));
  assert.equal(c.submitted, c.consumed + c.malformed);
});

test('a one-page ring not read during a storm: reservations fail and are counted; seen = skipped + lost + submitted = skipped + lost + consumed', { skip, timeout: 60_000 }, () => {
  const w = child();
  const before = openFds();
  const bpf = openBpfSource(mod(), offsets(), 4096);
  let n = 0;
  try {
    assert.equal(bpf.ringBytes, 4096);
    assert.match(execFileSync(w.bin, ['storm', w.data, '600'], { encoding: 'utf8' }), /^storm 600 cpu=/);
    n = decodeEntries(bpf.take()).length;
  } finally {
    bpf.close();
    w.cleanup();
  }
  n += decodeEntries(bpf.take()).length;
  const c = bpf.stats();
  console.log(`# storm of 600 into a 4 KiB ring: ${JSON.stringify(c)}, ${n} taken`);
  assert.ok(c.seen >= 601, `seen ${c.seen}`);
  assert.ok(c.lost > 0, 'a page holds ~39 records, 300 threads did I/O');
  assert.ok(c.submitted > 0 && c.submitted < 300);
  assert.equal(c.seen, c.skippedNoIo + c.lost + c.submitted);
  assert.equal(c.consumed, n);
  assert.equal(c.submitted, c.consumed);
  assert.equal(c.attached, 0);
  assert.equal(openFds(), before, 'every descriptor closed');
});

test("a refused load: the error is one line with the verifier's words, the whole log is attached, nothing stays open; bad offsets are a TypeError", { skip }, () => {
  const before = openFds();
  assert.throws(
    () => mod().open({ offsets: offsets(), brokenForTest: 1 }),
    (e: Error & { code?: string; verifierLog?: string }) => {
      assert.equal(e.code, 'EACCES');
      assert.match(e.message, /^BPF_PROG_LOAD of the raw_tp program refused: Permission denied; verifier: .*R2 !read_ok$/);
      assert.ok(!e.message.includes('\n'));
      assert.match(e.verifierLog ?? '', /R2 !read_ok/);
      return true;
    },
  );
  assert.throws(
    () => mod().open({ offsets: { ...offsets(), pid: -4 } }),
    (e: Error) => e instanceof TypeError && /^open: offsets\.pid must be a byte offset from 0 to 1 MiB$/.test(e.message),
  );
  assert.throws(() => mod().open({ offsets: offsets(), ringBytes: 5000 }), /ringBytes must be a power of two/);
  assert.equal(openFds(), before);
});

test('a SIGKILLed recorder leaves no program attached: the kernel closes its descriptors, the program and its maps go', { skip, timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const store = join(dir, 'r.db');
  const name = uniqueName('bxkill');
  const c = spawn(process.execPath, [LANTERN, 'record', '--store', store, '--name', name, '--no-hung', '--no-slab'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  c.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const status = () => spawnSync(process.execPath, [LANTERN, 'record', 'status', '--store', store, '--json'], { encoding: 'utf8' }).stdout;
  try {
    let id = 0;
    await waitFor(
      () => {
        if (!/recording into/.test(err)) return false;
        id = (JSON.parse(status() || '{}') as { io?: { progId?: number } }).io?.progId ?? 0;
        return id > 0;
      },
      15_000,
      `the recorder's status names its program (${err})`,
    );
    assert.equal(mod().progExists(id), true, 'attached while the recorder lives');
    c.kill('SIGKILL');
    await exited(c);
    // The kernel frees the program after an RCU grace period.
    await waitFor(() => !mod().progExists(id), 5_000, `program ${id} gone`);
    // The tracefs instance a SIGKILL leaves is swept by the next recorder of that name (record/cli.test.ts).
    const next = spawnSync(process.execPath, [LANTERN, 'record', '--store', store, '--name', name, '--no-hung', '--no-slab', '--duration', '1'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(next.status, 0, next.stderr);
  } finally {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    cleanup();
  }
});

test('fallback: no BTF, or a BTF without task_struct, runs taskstats and says why; source bpf alone is then unavailable', { skip, timeout: 60_000 }, async () => {
  for (const [btfPath, why] of [
    ['/nonexistent/vmlinux', /^no kernel BTF at \/nonexistent\/vmlinux \(/],
    [SMALL_BTF, /small\.btf: BTF has no struct task_struct$/],
  ] as const) {
    const { dir, cleanup } = tempDir();
    const said: string[] = [];
    const rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath: join(dir, 'r.db'), name: uniqueName('bxfb'), pollMs: 50, io: { ...DEFAULT_IO, btfPath }, say: (l) => said.push(l) });
    try {
      assert.equal(rec.io!.status.source, 'taskstats');
      assert.match(rec.io!.status.bpfNote ?? '', why);
      assert.equal(said.filter((l) => l.startsWith('lantern record: I/O detector on taskstats (in-kernel source unavailable: ')).length, 1, said.join('\n'));
      await sleep(100);
      const st = rec.stop();
      assert.equal(st.io!.source, 'taskstats');
      const forced = Recorder.start({ ...DEFAULT_OPTIONS, storePath: join(dir, 'f.db'), name: uniqueName('bxfo'), pollMs: 50, io: { ...DEFAULT_IO, btfPath, source: 'bpf' }, say: () => {} });
      assert.equal(forced.io!.status.source, 'unavailable');
      assert.match(forced.io!.status.note ?? '', /^in-kernel source: /);
      forced.stop();
    } finally {
      cleanup();
    }
  }
});

test("a load the verifier gave up with EAGAIN (a signal was pending, e.g. a profiler's) is tried again; other errors and a lasting EAGAIN are thrown", () => {
  const offsets = {} as ExitOffsets;
  const failing = (codes: string[]) => {
    let calls = 0;
    const mod = {
      open: () => {
        const code = codes[calls++];
        if (code) throw Object.assign(new Error(`BPF_PROG_LOAD refused (${code})`), { code });
        return { handle: {}, progId: 7, ringBytes: 4096, cpus: 1, insns: 1 };
      },
    } as unknown as BpfexitAddon;
    return { mod, calls: () => calls };
  };
  const twice = failing(['EAGAIN', 'EAGAIN']);
  assert.equal(openBpfSource(twice.mod, offsets, 4096).progId, 7);
  assert.equal(twice.calls(), 3);
  const perm = failing(['EPERM']);
  assert.throws(() => openBpfSource(perm.mod, offsets, 4096), /EPERM/);
  assert.equal(perm.calls(), 1);
  const always = failing(Array(10).fill('EAGAIN'));
  assert.throws(() => openBpfSource(always.mod, offsets, 4096), /EAGAIN/);
  assert.equal(always.calls(), 5);
});
