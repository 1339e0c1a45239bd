/**
 * `misc env NAME` from the in-kernel source (native/bpfenv): the tracker's matching of exec
 * records and env records (either first, exec chains of one pid, expiry, the /proc fallback,
 * counters that add up), and on the real kernel: 200 short-lived `env -i NAME=1 /bin/true` all
 * leave their names, a block over the cap is cut with its first names kept, values never reach
 * JavaScript, every descriptor is closed, a SIGKILLed holder leaves no program, and under
 * `lantern record --access` each short-lived exec's name lands in its domain.
 * On CI the addon must be built: a missing build fails instead of skipping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bpfFds, facilitySkip, onCI, tempDir } from '../common/testenv.js';
import { exited, liveSkipReason, uniqueName, waitFor } from '../record/live.testutil.js';
import { AccessTracker, DEFAULT_ACCESS } from './tracker.js';
import { accessOptions, accessStatusText } from './config.js';
import { decodeEnvEntries, ENV_TRUNCATED, ENV_UNREADABLE, loadBpfenv, openEnvSource, type BpfenvCounters, type EnvRecord, type EnvSource } from './env-source.js';

const BIN = fileURLToPath(new URL('../../bin/lantern.js', import.meta.url));
const loaded = loadBpfenv();
const missing = 'error' in loaded ? `native/bpfenv not built: ${loaded.error}` : undefined;
const skip = liveSkipReason() ?? facilitySkip(missing);
if (skip) console.log(`# skipping live bpfenv tests: ${skip}`);

test('the bpfenv addon is built on CI', { skip: !onCI() && missing ? `${missing} (CI requires it)` : false }, () => {
  assert.ok('mod' in loaded, `CI must build native/bpfenv (npm ci runs scripts/build-native.mjs): ${missing}`);
});

/** A source that hands out the records given to it (the tracker's side, without the kernel). */
function feed(): EnvSource & { add: (r: Partial<EnvRecord> & { tgid: number; bootNs: number }) => void } {
  let q: EnvRecord[] = [];
  const zero: BpfenvCounters = { seen: 0, submitted: 0, lost: 0, noScratch: 0, taken: 0, malformed: 0, attached: 1 };
  return {
    describe: 'test feed',
    progId: 1,
    capBytes: 32768,
    add: (r) => q.push({ tid: r.tgid, flags: 0, blockBytes: 10, names: '', ...r }),
    take: () => [q, (q = [])][0]!,
    stats: () => zero,
    close: () => undefined,
  };
}

test('tracker: env records matched to exec records by pid and nearest time, in either order; chains, expiry, the /proc fallback, counters add up', () => {
  let now = 100e9;
  const environ = new Map<number, string>([[40, 'FROM_PROC=1\0']]);
  const t = new AccessTracker(
    { ...DEFAULT_ACCESS, env: true },
    {
      liveDomain: () => null,
      unknownDomain: () => 9,
      domainName: (id) => `d${id}`,
      readEnviron: (pid) => environ.get(pid) ?? null,
      nowTs: () => now,
      toWallUs: (ts) => ts / 1000,
    },
  );
  const src = feed();
  t.useEnvSource(src);
  const us = (ns: number) => ns / 1000;
  // 10: the env record first (the usual order). 20: one pid, three execs 300 µs apart (sh -c 'exec env … true').
  src.add({ tgid: 10, bootNs: now + 1e6, names: 'A=\0B=\0' });
  for (const k of [0, 1, 2]) src.add({ tgid: 20, bootNs: now + 2e6 + k * 3e5, names: `STEP${k}=\0` });
  // 30: cut at the cap. 40: the kernel could not read it: /proc. 50: never gets an exec record.
  src.add({ tgid: 30, bootNs: now + 3e6, flags: ENV_TRUNCATED, names: 'FIRST=\0' });
  src.add({ tgid: 40, bootNs: now + 4e6, flags: ENV_UNREADABLE });
  src.add({ tgid: 50, bootNs: now + 5e6, names: 'ORPHAN=\0' });
  t.noteRecords([
    { type: 'exec', pid: 10, domainId: 1, comm: 'a', timeUs: us(now + 1e6 + 20e3) },
    { type: 'exec', pid: 20, domainId: 4, comm: 'true', timeUs: us(now + 2e6 + 6e5 + 5e3) },
    { type: 'exec', pid: 20, domainId: 2, comm: 'sh', timeUs: us(now + 2e6 + 4e3) },
    { type: 'exec', pid: 20, domainId: 3, comm: 'env', timeUs: us(now + 2e6 + 3e5 + 1e3) },
    { type: 'exec', pid: 30, domainId: 5, comm: 'big', timeUs: us(now + 3e6) },
    { type: 'exec', pid: 40, domainId: 6, comm: 'p', timeUs: us(now + 4e6) },
    // 60: its env record comes a tick later. 70: none ever comes, and it is gone: missed.
    { type: 'exec', pid: 60, domainId: 7, comm: 'late', timeUs: us(now + 6e6) },
    { type: 'exec', pid: 70, domainId: 8, comm: 'gone', timeUs: us(now + 7e6) },
  ]);
  const lines = (d: number) => t.lists.entries(d).map((e) => e.line);
  assert.deepEqual(lines(1), ['misc env A', 'misc env B']);
  assert.deepEqual([lines(2), lines(3), lines(4)], [['misc env STEP0'], ['misc env STEP1'], ['misc env STEP2']]);
  assert.deepEqual(lines(5), ['misc env FIRST']);
  assert.deepEqual(lines(6), ['misc env FROM_PROC']);
  let st = t.status();
  assert.equal(st.envWaiting, 2);
  assert.equal(st.envPending, 1);
  src.add({ tgid: 60, bootNs: now + 6e6 + 1e3, names: 'LATE=\0' });
  t.noteRecords([]);
  assert.deepEqual(lines(7), ['misc env LATE']);
  // 70's wait ends at stop (the final tick ends every wait), and 50's record expires.
  now += 60e9;
  void t.stopSources();
  t.noteRecords([]);
  st = t.status();
  assert.deepEqual(lines(8), []);
  assert.deepEqual(
    {
      execs: st.envExecs,
      read: st.envRead,
      kernel: st.envKernel,
      proc: st.envProc,
      truncated: st.envTruncated,
      missed: st.envMissed,
      waiting: st.envWaiting,
      pending: st.envPending,
      unmatched: st.envUnmatched,
    },
    { execs: 8, read: 7, kernel: 6, proc: 1, truncated: 1, missed: 1, waiting: 0, pending: 0, unmatched: 1 },
  );
  assert.equal(st.envExecs, st.envRead + st.envMissed + st.envWaiting);
  assert.equal(st.received, st.attributed + st.waiting + st.queueDropped);
  assert.match(accessStatusText(st), /env names: test feed\n.*8 execs: env read at 7 \(6 in the kernel, 1 of them cut at the cap; 1 from \/proc\), 1 gone before, 0 waiting; kernel: /);
});

test('env source choice: auto falls back to /proc and says why; bpf is an error then; proc never opens; [access] env_source checked', () => {
  const mk = (envSource: 'auto' | 'bpf' | 'proc') =>
    new AccessTracker({ ...DEFAULT_ACCESS, envSource }, { liveDomain: () => null, unknownDomain: () => 0, domainName: () => '', readEnviron: () => null, nowTs: () => 0, toWallUs: (x) => x });
  const auto = mk('auto');
  auto.startEnv(() => ({ error: 'no kernel BTF at /x (ENOENT)' }));
  assert.equal(auto.status().envSource, '/proc/<pid>/environ at the exec record (in-kernel source unavailable: no kernel BTF at /x (ENOENT))');
  assert.throws(() => mk('bpf').startEnv(() => ({ error: 'EPERM' })), /^Error: env source bpf: EPERM$/);
  mk('proc').startEnv(() => assert.fail('proc opens nothing'));
  assert.equal(accessOptions({ enabled: true, env_source: 'proc' }, {})!.envSource, 'proc');
  assert.throws(() => accessOptions({ enabled: true, env_source: 'kernel' }, {}), /\[access\] env_source must be one of auto, bpf, proc/);
  const e = Buffer.alloc(32 + 4);
  e.writeDoubleLE(123e9, 0);
  e.writeUInt32LE(7, 8);
  e.writeUInt32LE(8, 12);
  e.writeUInt32LE(1, 16);
  e.writeUInt32LE(99999, 20);
  e.writeUInt32LE(3, 24);
  e.write('A=\0', 32);
  assert.deepEqual(decodeEnvEntries(e), [{ bootNs: 123e9, tgid: 7, tid: 8, flags: 1, blockBytes: 99999, names: 'A=\0' }]);
  assert.deepEqual(decodeEnvEntries(e.subarray(0, 34)), [], 'a cut entry ends the list');
});

test('real kernel: 200 short-lived execs all leave their names; a block over the cap is cut, its first names kept; no value reaches JavaScript; every fd closed', { skip, timeout: 60_000 }, () => {
  const before = bpfFds().length;
  const o = openEnvSource();
  if ('error' in o) assert.fail(o.error);
  const src = o.source;
  const got: EnvRecord[] = [];
  try {
    const r = spawnSync('sh', ['-c', 'i=0; while [ $i -lt 200 ]; do i=$((i+1)); env -i LANTERN_ENV_PROBE_$i=secret$i /bin/true; done'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    got.push(...src.take());
    const pad = 'v'.repeat(40_000);
    const big = spawnSync('env', ['-i', 'BIG_FIRST=1', `BIG_PAD=${pad}`, 'BIG_LAST=1', '/bin/true'], { encoding: 'utf8' });
    assert.equal(big.status, 0, big.stderr);
  } finally {
    src.close();
  }
  got.push(...src.take());
  const probes = new Set<string>();
  for (const e of got) for (const n of e.names.split('\0')) if (/^LANTERN_ENV_PROBE_\d+=$/.test(n)) probes.add(n);
  const probeNames = got.filter((e) => e.names.startsWith('LANTERN_ENV_PROBE_')).map((e) => e.names);
  assert.equal(probes.size, 200, `probes seen: ${probes.size}`);
  assert.ok(
    probeNames.every((n) => /^LANTERN_ENV_PROBE_\d+=\0$/.test(n)),
    probeNames.find((n) => !/^LANTERN_ENV_PROBE_\d+=\0$/.test(n)),
  );
  assert.ok(!got.some((e) => e.names.includes('secret') || e.names.includes('vvvv')), 'values never leave the addon');
  const cut = got.find((e) => e.names.startsWith('BIG_FIRST='));
  assert.ok(cut, 'the big block has its record');
  assert.equal(cut.flags & ENV_TRUNCATED, ENV_TRUNCATED);
  assert.ok(cut.blockBytes > src.capBytes, `block ${cut.blockBytes}`);
  assert.equal(cut.names, 'BIG_FIRST=\0BIG_PAD=\0', 'the names before the cut kept, the one after it not');
  const c = src.stats();
  assert.equal(c.attached, 0);
  assert.equal(c.seen, c.submitted + c.lost + c.noScratch);
  assert.equal(c.submitted, c.taken + c.malformed);
  assert.equal(c.taken, got.length);
  assert.equal(bpfFds().length, before, 'every descriptor closed');
});

function statusJson(store: string): { access?: { envProgId?: number; envSource?: string } } {
  const r = spawnSync(process.execPath, [BIN, 'record', 'status', '--store', store, '--json'], { encoding: 'utf8' });
  try {
    return JSON.parse(r.stdout || '{}') as { access?: { envProgId?: number; envSource?: string } };
  } catch {
    return {}; // written while read: the next try
  }
}

test('lantern record --access: 200 short-lived execs each give their misc env line in their domain; a SIGKILLed recorder leaves no program', { skip, timeout: 180_000 }, async () => {
  const mod = 'mod' in loaded ? loaded.mod : assert.fail(missing);
  const dir = tempDir('lantern-env-');
  for (const [i, kill] of [
    [0, false],
    [1, true],
  ] as const) {
    const store = join(dir, `r${i}.db`);
    const c = spawn(process.execPath, [BIN, 'record', '--store', store, '--name', uniqueName('env'), '--no-hung', '--no-slab', '--poll-ms', '100', '--access', '--access-backend', 'fanotify'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    try {
      let id = 0;
      await waitFor(
        () => {
          if (c.exitCode !== null) return true;
          if (!/recording into/.test(err)) return false;
          id = statusJson(store).access?.envProgId ?? 0;
          return id > 0;
        },
        60_000,
        `the recorder's status names its env program (${err})`,
      );
      assert.equal(mod.progExists(id), true, 'attached while the recorder lives');
      if (kill) {
        c.kill('SIGKILL');
        await exited(c);
        await waitFor(() => !mod.progExists(id), 5_000, `program ${id} gone after the SIGKILL`);
        continue;
      }
      const r = spawnSync('sh', ['-c', 'i=0; while [ $i -lt 200 ]; do i=$((i+1)); env -i LANTERN_ENV_PROBE_$i=1 /bin/true; done'], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      c.kill('SIGTERM');
      assert.equal((await exited(c)).code, 0, err);
      assert.ok(!mod.progExists(id), 'detached at stop');
      const st = statusJson(store);
      assert.match(st.access?.envSource ?? '', /^in the kernel at each exec \(native\/bpfenv, BPF program \d+ on sched_process_exec\)$/);
      const out = spawnSync(process.execPath, [BIN, 'access', '--store', store, '--json'], { encoding: 'utf8' });
      assert.equal(out.status, 0, out.stderr);
      const lists = JSON.parse(out.stdout) as Array<{ domain: string; accesses: Array<{ line: string }> }>;
      const holders = lists.filter((d) => d.accesses.some((a) => a.line.startsWith('misc env LANTERN_ENV_PROBE_')));
      assert.equal(holders.length, 1, holders.map((d) => d.domain).join('\n'));
      assert.match(holders[0]!.domain, /\/env \S*\/true$/);
      const probes = holders[0]!.accesses.filter((a) => a.line.startsWith('misc env LANTERN_ENV_PROBE_'));
      assert.equal(probes.length, 200, `${probes.length} probe lines`);
      const text = spawnSync(process.execPath, [BIN, 'record', 'status', '--store', store], { encoding: 'utf8' }).stdout;
      assert.match(text, /env names: in the kernel at each exec/);
    } finally {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
  }
});
