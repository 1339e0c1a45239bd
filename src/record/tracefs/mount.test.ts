/**
 * Finding tracefs when it is not mounted: the recorder runs inside a private mount namespace
 * (`unshare --mount --propagation private`) in which tracefs has been lazily unmounted, so it
 * must mount tracefs itself, and it must still record. The host's mounts are never touched:
 * the umount happens only inside the namespace. And when tracefs can be neither found nor
 * mounted, or --tracefs names no tracefs, the error is clear and the exit code is 69.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { facilitySkip } from '../../common/testenv.js';
import { liveSkipReason, tempDir, tracefsRoot, uniqueName } from '../live.testutil.js';
import { EXIT } from '../../common/exit.js';

const bin = new URL('../../../bin/lantern.js', import.meta.url).pathname;
const recorderUrl = new URL('../recorder.js', import.meta.url).href;
const storeUrl = new URL('../store/store.js', import.meta.url).href;
const queryUrl = new URL('../query.js', import.meta.url).href;

function unshareMissing(): string | undefined {
  return spawnSync('unshare', ['--help'], { stdio: 'ignore' }).status === 0 ? undefined : 'needs unshare(1) from util-linux';
}
const skip = liveSkipReason() ?? facilitySkip(unshareMissing());
if (skip) console.log(`# skipping tracefs mount tests: ${skip}`);

/**
 * Inside the namespace: detach every tracefs view (and debugfs, whose tracing/ directory would
 * automount tracefs again), prove it is gone, then run the given command. Paths travel as
 * positional arguments, never inside the script text.
 */
const DETACH = [
  'umount -l /sys/kernel/tracing 2>/dev/null',
  'umount -l /sys/kernel/debug 2>/dev/null',
  'if [ -e /sys/kernel/tracing/instances ] || [ -e /sys/kernel/debug/tracing/instances ]; then echo "tracefs still visible" >&2; exit 99; fi',
].join('; ');

function inPrivateNamespace(script: string, args: string[]) {
  return spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `${DETACH}; ${script}`, 'sh', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
}

/** Our tracefs mount on the host, as mountinfo lists it: must be the same before and after. */
function hostTracefsMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => / - tracefs /.test(l))
    .map((l) => l.split(' ')[4]!);
}

test('tracefs not mounted: the recorder mounts it (in its own mount namespace) and records', { skip, timeout: 60_000 }, () => {
  const { dir, cleanup } = tempDir();
  const before = hostTracefsMounts();
  const name = uniqueName('mnt');
  try {
    const script = join(dir, 'record-in-ns.mjs');
    writeFileSync(
      script,
      `
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
const { DEFAULT_OPTIONS, Recorder } = await import(${JSON.stringify(recorderUrl)});
const { Store } = await import(${JSON.stringify(storeUrl)});
const { pidHistory } = await import(${JSON.stringify(queryUrl)});
const [storePath, name] = process.argv.slice(2);
const mountedBefore = existsSync('/sys/kernel/tracing/instances');
const rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath, name, pollMs: 50 });
rec.run();
const mountedAfter = readFileSync('/proc/self/mountinfo', 'utf8').split('\\n').filter((l) => / - tracefs /.test(l)).map((l) => l.split(' ')[4]);
const child = spawnSync('sh', ['-c', 'exit 5']);
await new Promise((r) => setTimeout(r, 300));
const st = rec.stop();
const store = Store.open(storePath, { readonly: true });
const [h] = pidHistory(store, child.pid);
store.close();
console.log(JSON.stringify({ mountedBefore, mountedAfter, tracefs: st.tracefs, instance: st.instance, childStatus: child.status, end: h?.end ?? null, lost: st.lost.stats }));
`,
    );
    const r = inPrivateNamespace('exec "$1" "$2" "$3" "$4"', [process.execPath, script, join(dir, 'r.db'), name]);
    assert.equal(r.status, 0, `recorder in the namespace failed: ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.equal(out.mountedBefore, false, 'tracefs was really absent in the namespace');
    assert.deepEqual(out.mountedAfter, ['/sys/kernel/tracing'], 'the recorder mounted tracefs at /sys/kernel/tracing');
    assert.equal(out.tracefs, '/sys/kernel/tracing');
    assert.equal(out.childStatus, 5);
    assert.ok(out.end, 'the exit of sh -c "exit 5" was recorded');
    assert.equal(out.end.type, 'exit');
    assert.equal(out.end.exit_code, 5);
    assert.equal(out.lost, 0);
    // The host saw nothing: same tracefs mounts, and the instance (one tracefs for all mounts) is gone.
    assert.deepEqual(hostTracefsMounts(), before);
    assert.deepEqual(
      readdirSync(join(tracefsRoot(), 'instances')).filter((d) => d.startsWith(`lantern.${name}.`)),
      [],
    );
  } finally {
    cleanup();
  }
});

test('tracefs neither mounted nor mountable: exit 69 with a clear message', { skip, timeout: 60_000 }, () => {
  const { dir, cleanup } = tempDir();
  try {
    // An empty tmpfs over /sys/kernel (inside the namespace only): no tracing directory to mount on.
    const r = inPrivateNamespace('mount -t tmpfs lantern-test /sys/kernel || exit 98; exec "$1" "$2" record --store "$3" --name "$4" --duration 1', [
      process.execPath,
      bin,
      join(dir, 'r.db'),
      uniqueName('nomnt'),
    ]);
    assert.equal(r.status, EXIT.UNAVAILABLE, r.stderr);
    assert.match(r.stderr, /tracefs is not available \(looked in \/sys\/kernel\/tracing, \/sys\/kernel\/debug\/tracing; mount -t tracefs nodev \/sys\/kernel\/tracing failed/);
    assert.equal(r.stdout, '');
  } finally {
    cleanup();
  }
});

test('--tracefs naming no tracefs: exit 69, no instance created', { skip, timeout: 60_000 }, () => {
  const { dir, cleanup } = tempDir();
  try {
    for (const where of ['/nonexistent', dir]) {
      const r = spawnSync(process.execPath, [bin, 'record', '--store', join(dir, 'r.db'), '--name', uniqueName('bad'), '--duration', '1', '--tracefs', where], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(r.status, EXIT.UNAVAILABLE, r.stderr);
      assert.equal(r.stderr.trim(), `lantern: no tracefs at ${where} (no instances/ directory)`);
      assert.equal(existsSync(join(where, 'instances')), false);
    }
  } finally {
    cleanup();
  }
});
