/**
 * The raw_tp slow-stat backend (native/bpfstat) on the real kernel: the counters add up when the
 * ring is full (lost), every BPF fd is closed by close(), a refused program's verifier log is the
 * error, a SIGKILLed recorder leaves no program loaded, and the backend is chosen automatically
 * (bpftrace when the addon is missing; an error when raw_tp was asked for and cannot run).
 * On CI the addon must be built: a missing build fails instead of skipping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bpfFds, facilitySkip, onCI } from '../../common/testenv.js';
import { findBpftrace } from '../../common/bpftrace.js';
import { DEFAULT_OPTIONS, Recorder } from '../recorder.js';
import { exited, liveSkipReason, tempDir, tracefsRoot, uniqueName, waitFor } from '../live.testutil.js';
import { loadBpfstat } from './native.js';
import { parseRawStat, STAT_CALLS } from './core.js';
import { STAT_BACKEND_ENV, statBackendChoice } from './detector.js';

const loaded = loadBpfstat();
const mod = 'mod' in loaded ? loaded.mod : null;
const missing = 'error' in loaded ? `native/bpfstat not built: ${loaded.error}` : undefined;
const live = liveSkipReason();
const skip = live ?? facilitySkip(missing) ?? facilitySkip(spawnSync('sh', ['-c', 'command -v gcc'], { stdio: 'ignore' }).status === 0 ? undefined : 'gcc is not installed');
if (skip) console.log(`# skipping live raw_tp tests: ${skip}`);

test('the bpfstat addon is built on CI', { skip: !onCI() && missing ? `${missing} (CI requires it)` : false }, () => {
  assert.ok(mod, `CI must build native/bpfstat (npm ci runs scripts/build-native.mjs): ${missing}`);
});

test('the backend choice: auto by default, raw_tp or bpftrace by LANTERN_SLOW_STAT_BACKEND, anything else a clear error', () => {
  assert.equal(statBackendChoice(undefined), 'auto');
  assert.equal(statBackendChoice(''), 'auto');
  assert.equal(statBackendChoice('raw_tp'), 'raw_tp');
  assert.equal(statBackendChoice('bpftrace'), 'bpftrace');
  assert.throws(() => statBackendChoice('fast'), /^Error: LANTERN_SLOW_STAT_BACKEND="fast": expected auto, raw_tp or bpftrace$/);
});

/**
 * Builds dir/rawstat (N raw stat(2) system calls on a path: glibc's stat() is newfstatat, so
 * nothing else on the machine makes these) and dir/target; returns the target's path.
 */
function buildRawstat(dir: string): string {
  writeFileSync(
    join(dir, 'rawstat.c'),
    '#include <stdlib.h>\n#include <sys/stat.h>\n#include <sys/syscall.h>\n#include <unistd.h>\n' +
      'int main(int c, char **v) { struct stat st; int n = atoi(v[2]); for (int i = 0; i < n; i++) if (syscall(SYS_stat, v[1], &st) != 0) return 1; return 0; }\n',
  );
  const cc = spawnSync('gcc', ['-O1', '-o', join(dir, 'rawstat'), join(dir, 'rawstat.c')], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  const target = join(dir, 'target');
  writeFileSync(target, 'x');
  return target;
}

test('a program the verifier refuses: the error is one line with the verifier log', { skip: live ?? (mod ? false : facilitySkip(missing)) }, () => {
  assert.throws(
    () => mod!.loadBroken(),
    (e: Error & { code?: string }) => e.code === 'EACCES' && /^BPF_PROG_LOAD lantern_st_bad: Permission denied; verifier: .*R5 !read_ok/.test(e.message) && !e.message.includes('\n'),
  );
  assert.throws(() => mod!.open({ calls: ['newstat'], thresholdNs: 0, ringBytes: 5000 }), /ringBytes must be a power of 2/);
  assert.throws(() => mod!.open({ calls: ['open'], thresholdNs: 0 }), /unknown call open/);
  assert.deepEqual(bpfFds(), [], 'no fd left by the refused loads');
});

test('ring full: slow calls not recorded are counted as lost, slow = taken + lost; close() leaves no BPF fd', { skip, timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const m = mod!;
  try {
    const target = buildRawstat(dir);
    // One page of ring: 12 records (336 bytes with the header) fit.
    const o = m.open({ calls: ['newstat'], thresholdNs: 0, ringBytes: 4096 });
    const byId = new Map([[m.CALL_IDS.newstat!, STAT_CALLS.find((c) => c.name === 'newstat')!]]);
    try {
      assert.equal(bpfFds().length, 7, `3 maps, 2 programs, 2 links: ${bpfFds().join(' ')}`);
      const run = (n: number) => {
        const c = spawn(join(dir, 'rawstat'), [target, String(n)], { stdio: 'ignore' });
        return exited(c).then((x) => ({ pid: c.pid!, code: x.code }));
      };
      const first = await run(200);
      assert.equal(first.code, 0);
      const s1 = m.stats(o.handle);
      assert.ok(s1.slow >= 200 && s1.lost > 0, JSON.stringify(s1));
      assert.equal(s1.calls, s1.slow, 'threshold 0: every timed call is slow');
      const ours = (b: Buffer, pid: number) => {
        const out = [];
        for (let off = 0; off < b.length; off += m.REC_BYTES) {
          const r = parseRawStat(b, off, byId)!;
          if (r.pid === pid) out.push(r);
        }
        return out;
      };
      // The child's thread keeps an idle entry (start 0) until forget() removes it (the detector does for exited threads).
      const entries = m.inFlight(o.handle);
      const key = Buffer.alloc(8);
      key.writeBigUInt64LE((BigInt(first.pid) << 32n) | BigInt(first.pid));
      const idx = Array.from({ length: entries.length / m.INFLIGHT_BYTES }, (_, i) => i).find((i) => entries.subarray(i * m.INFLIGHT_BYTES, i * m.INFLIGHT_BYTES + 8).equals(key));
      assert.ok(idx !== undefined, "the child's entry");
      assert.equal(entries.readBigUInt64LE(idx * m.INFLIGHT_BYTES + 8), 0n, 'idle');
      assert.equal(m.forget(o.handle, key), 1);
      assert.equal(m.forget(o.handle, key), 0, 'gone');
      const got = ours(m.take(o.handle), first.pid);
      const s2 = m.stats(o.handle);
      assert.ok(got.length >= 1 && got.length <= 12, String(got.length));
      assert.equal(s2.slow, s2.taken + s2.lost, JSON.stringify(s2));
      for (const r of got) {
        assert.equal(r.call, 'stat');
        assert.equal(r.path, target);
        assert.equal(r.tid, first.pid);
        assert.equal(r.comm, 'rawstat');
        assert.equal(r.ret, 0);
        assert.equal(r.dfd, -100);
      }
      // The ring is empty again: the next few fit, none lost.
      const second = await run(5);
      const got2 = ours(m.take(o.handle), second.pid);
      const s3 = m.stats(o.handle);
      assert.equal(got2.length, 5);
      assert.equal(s3.lost, s2.lost);
      assert.equal(s3.slow, s3.taken + s3.lost);
      assert.ok(s3.calls >= 205 && s3.hist.length === 64, 'the 205 calls are in the histogram (its sum is the timed-call count)');
    } finally {
      m.close(o.handle);
    }
    assert.deepEqual(bpfFds(), [], 'close() closed every BPF fd');
    assert.throws(() => m.take(o.handle), /handle is closed/);
  } finally {
    cleanup();
  }
});

test('the exit program: tp_btf where the kernel BTF names sys_exit, raw_tp when told so or refused; both time calls and read the path at the exit', { skip, timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const m = mod!;
  try {
    const target = buildRawstat(dir);
    const byId = new Map([[m.CALL_IDS.newstat!, STAT_CALLS.find((c) => c.name === 'newstat')!]]);
    for (const [exitBtfId, want] of [
      [undefined, 'tp_btf'],
      [0, 'raw_tp'],
      [1, 'raw_tp'], // not btf_trace_sys_exit: the kernel refuses tp_btf, raw_tp serves
    ] as const) {
      const o = m.open({ calls: ['newstat'], thresholdNs: 0, ...(exitBtfId === undefined ? {} : { exitBtfId }) });
      try {
        assert.equal(o.exitAttach, want, o.exitNote);
        if (exitBtfId === 1) assert.match(o.exitNote ?? '', /^tp_btf: /);
        const c = spawn(join(dir, 'rawstat'), [target, '5'], { stdio: 'ignore' });
        assert.equal((await exited(c)).code, 0);
        const b = m.take(o.handle);
        const ours = [];
        for (let off = 0; off < b.length; off += m.REC_BYTES) {
          const r = parseRawStat(b, off, byId)!;
          if (r.pid === c.pid) ours.push(r);
        }
        assert.equal(ours.length, 5, `${want}: 5 slow calls`);
        for (const r of ours) assert.deepEqual([r.call, r.path, r.ret], ['stat', target, 0]);
        const st = m.stats(o.handle);
        assert.equal(st.readFailed, 0);
      } finally {
        m.close(o.handle);
      }
    }
    assert.deepEqual(bpfFds(), [], 'every BPF fd closed');
  } finally {
    cleanup();
  }
});

test('a SIGKILLed recorder on the raw_tp backend leaves no BPF program loaded', { skip, timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const recorder = new URL('../recorder.js', import.meta.url).pathname;
  const script = `import { DEFAULT_OPTIONS, Recorder } from ${JSON.stringify(recorder)};
    const rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath: ${JSON.stringify(join(dir, 'r.db'))}, name: ${JSON.stringify(uniqueName('latr'))}, latency: { stat: { thresholdNs: 1e9 }, io: null, statBackend: 'raw_tp' } });
    await rec.attachLatency(); rec.run();
    process.stdout.write(JSON.stringify(rec.status().latency.progIds) + '\\n');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    await waitFor(() => out.includes('\n') || child.exitCode !== null, 30_000, 'the recorder to attach');
    const ids = JSON.parse(out.trim()) as number[];
    assert.equal(ids.length, 2);
    assert.ok(
      ids.every((id) => mod!.progIds().includes(id)),
      'loaded while the recorder runs',
    );
    child.kill('SIGKILL');
    await exited(child);
    // The kernel closed the recorder's fds: the links detached, the programs are freed (after an RCU grace period).
    await waitFor(() => !mod!.progIds().some((id) => ids.includes(id)), 10_000, 'the programs to be freed');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const n of spawnSync('ls', [join(tracefsRoot(), 'instances')], { encoding: 'utf8' }).stdout.split('\n')) {
      if (n.startsWith('lantern.tlatr')) spawnSync('rmdir', [join(tracefsRoot(), 'instances', n)]);
    }
    cleanup();
  }
});

const bt = findBpftrace();
test(
  'auto falls back to bpftrace when the addon is missing (and says why); raw_tp asked for is then an error',
  { skip: skip ?? facilitySkip('missing' in bt ? bt.missing : undefined), timeout: 60_000 },
  async () => {
    const { dir, cleanup } = tempDir();
    const saved = process.env.LANTERN_BPFSTAT_ADDON;
    process.env.LANTERN_BPFSTAT_ADDON = join(dir, 'no-such-addon.node');
    const recs: Recorder[] = [];
    try {
      const start = (statBackend: 'auto' | 'raw_tp', n: number) => {
        const rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath: join(dir, `r${n}.db`), name: uniqueName('lats'), latency: { stat: { thresholdNs: 1e9 }, io: null, statBackend } });
        recs.push(rec);
        return rec;
      };
      const auto = start('auto', 1);
      await auto.attachLatency();
      const l = auto.status().latency!;
      assert.equal(l.statBackend, 'bpftrace');
      assert.match(l.statBackendNote ?? '', /^auto: raw_tp backend unavailable \(native\/bpfstat is not built \(.*no-such-addon\.node missing/);
      assert.ok(l.bpftracePid && l.bpftracePid > 0);
      await auto.detachLatency();
      auto.stop();
      recs.length = 0;
      const forced = start('raw_tp', 2);
      await assert.rejects(forced.attachLatency(), /^Error: raw_tp backend \(LANTERN_SLOW_STAT_BACKEND=raw_tp\): native\/bpfstat is not built/);
      forced.stop();
      recs.length = 0;
      // And with the addon there, auto takes raw_tp.
      if (saved === undefined) delete process.env.LANTERN_BPFSTAT_ADDON;
      else process.env.LANTERN_BPFSTAT_ADDON = saved;
      const env = process.env[STAT_BACKEND_ENV];
      delete process.env[STAT_BACKEND_ENV];
      try {
        const dflt = Recorder.start({ ...DEFAULT_OPTIONS, storePath: join(dir, 'r3.db'), name: uniqueName('lats'), latency: { stat: { thresholdNs: 1e9 }, io: null } });
        recs.push(dflt);
        await dflt.attachLatency();
        assert.equal(dflt.status().latency!.statBackend, 'raw_tp');
        assert.equal(dflt.status().latency!.statBackendNote, 'auto: native/bpfstat loaded');
        await dflt.detachLatency();
        dflt.stop();
        recs.length = 0;
      } finally {
        if (env !== undefined) process.env[STAT_BACKEND_ENV] = env;
      }
    } finally {
      if (saved === undefined) delete process.env.LANTERN_BPFSTAT_ADDON;
      else process.env.LANTERN_BPFSTAT_ADDON = saved;
      for (const r of recs) r.abort(); // the ones not stopped
      cleanup();
    }
  },
);
