/**
 * `lantern record` as a process: instance cleanup after SIGTERM and after SIGKILL + restart,
 * the root check, and the query commands on the store it leaves. Real kernel, root, tracefs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { exited, liveSkipReason, tempDir, tracefsRoot, uniqueName, waitFor } from './live.testutil.js';
import { Store } from './store/store.js';
import type { ProcessRecord } from './process/model.js';

const skip = liveSkipReason();
if (skip) console.log(`# skipping recorder CLI tests: ${skip}`);
const bin = new URL('../../bin/lantern.js', import.meta.url).pathname;

function lantern(args: string[], opts: { uid?: number; gid?: number } = {}) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000, maxBuffer: 512 * 1024 * 1024, ...opts });
}

function startDaemon(store: string, name: string): { child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, [bin, 'record', '--store', store, '--name', name, '--poll-ms', '50', '--buffer-kb', '512'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return { child, stderr: () => err };
}

const instanceDir = (name: string, pid: number) => join(tracefsRoot(), 'instances', `lantern.${name}.${pid}`);
const ours = (name: string) => readdirSync(join(tracefsRoot(), 'instances')).filter((d) => d.startsWith(`lantern.${name}.`));

test('SIGTERM: flushes, removes its instance, exits 0; the store answers queries', { skip, timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const name = uniqueName('term');
  const store = join(dir, 'r.db');
  let d: ReturnType<typeof startDaemon> | null = null;
  const testStart = Date.now() - 1000;
  try {
    d = startDaemon(store, name);
    await waitFor(() => existsSync(instanceDir(name, d!.child.pid!)) && /recording into/.test(d!.stderr()), 15_000, 'the instance');
    const marker = spawnSync('sh', ['-c', 'sh -c "exit 42"']);
    assert.equal(marker.status, 42);
    await new Promise((r) => setTimeout(r, 1300)); // the status is refreshed every second
    const live = JSON.parse(lantern(['record', 'status', '--store', store, '--json']).stdout);
    assert.deepEqual([live.state, live.running, live.pid, live.instance], ['running', true, d.child.pid, instanceDir(name, d.child.pid!)]);
    assert.equal(live.lost.stats, 0);
    assert.ok(live.liveProcesses > 0 && live.events > 0);
    d.child.kill('SIGTERM');
    assert.deepEqual(await exited(d.child), { code: 0, signal: null });
    assert.equal(existsSync(instanceDir(name, d.child.pid!)), false, 'instance removed');
    assert.match(d.stderr(), /SIGTERM; \d+ events, \d+ records, lost 0; instance removed/);

    const status = lantern(['record', 'status', '--store', store, '--json']);
    assert.equal(status.status, 0, status.stderr);
    const st = JSON.parse(status.stdout);
    assert.equal(st.state, 'stopped');
    assert.equal(st.running, false);
    assert.ok(st.events > 0);
    assert.ok(st.enabledEvents.includes('sched_process_exec'));
    const text = lantern(['record', 'status', '--store', store]);
    assert.match(text.stdout, /^recorder +not running/m);
    assert.match(text.stdout, /^lost +0 /m);

    // Only this test's window: on a busy machine the store holds many other processes.
    const ev = lantern(['events', '--store', store, '--type', 'exit', '--json', '--since', new Date(testStart).toISOString()]);
    assert.equal(ev.status, 0, ev.stderr);
    const exits = ev.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const e42 = exits.find((e) => e.exit_code === 42);
    assert.ok(e42, 'the exit 42 is there');
    assert.match(e42.domain, /^<kernel> .*sh$/);
    assert.match(e42.history, /=>sh\(/);
    const byDomain = lantern(['events', '--store', store, '--domain', '*sh', '--type', 'exit']);
    assert.match(byDomain.stdout, /exit .*sh pid=\d+ tid=\d+ code=42/);
    const tree = lantern(['history', 'tree', '--store', store]);
    assert.match(tree.stdout, /^ *\d+ <kernel>/);
    // Processes alive when the recorder started are marked: their exec was not traced.
    assert.match(tree.stdout, /\[(?:\d+ )?from \/proc\]$/m);
    const domains = lantern(['history', 'domains', '--store', store, '--json']);
    const drows = JSON.parse(domains.stdout) as Array<{ domain: string; execs: number; reconstructed: number }>;
    assert.ok(drows.some((r) => r.domain === e42.domain && r.reconstructed === 0), 'the traced sh: no reconstructed execs');
    assert.ok(drows.some((r) => r.reconstructed > 0 && r.reconstructed <= r.execs), 'the processes running at start are counted as reconstructed');
    const pid = lantern(['history', 'pid', String(e42.pid), '--store', store]);
    assert.match(pid.stdout, /end +exit code 42/);
    // The part of the history from before the recorder started is marked reconstructed: this test
    // process (running when the daemon started) and its ancestors; then the traced sh.
    const selfComm = readFileSync('/proc/self/comm', 'utf8').trim();
    const steps = e42.history.split('=>');
    assert.equal(steps.length, e42.domain.split(' ').length - 1, 'one history step per domain component');
    const k = e42.reconstructed_history;
    assert.ok(k >= 1 && k < steps.length, `reconstructed_history ${k} of ${steps.length}`);
    assert.ok(steps[k - 1].startsWith(`${selfComm}(`), `last reconstructed step is this test process: ${e42.history}`);
    assert.ok(steps[k].startsWith('sh('), `first traced step is sh: ${e42.history}`);
    assert.match(pid.stdout, new RegExp(`^  note +first ${k} steps? reconstructed from /proc at recorder start`, 'm'));
    const withHistory = lantern(['events', '--store', store, '--type', 'exit', '--history', '--since', new Date(testStart).toISOString()]);
    assert.match(withHistory.stdout, new RegExp(`code=42 .*\\n    .*=>sh\\(.*\\n    \\(first ${k} steps? reconstructed from /proc`));
    const selfExec = JSON.parse(lantern(['history', 'pid', String(process.pid), '--store', store, '--json']).stdout)[0];
    assert.equal(selfExec.reconstructed, true, 'the test process itself is a reconstructed entry');
    assert.equal(selfExec.images[0].reconstructed, true);
    assert.equal(selfExec.reconstructed_history, k);
    const db = Store.open(store, { readonly: true });
    try {
      // In the store: the reconstructed exec rows carry reconstructed = 1, traced ones 0.
      assert.deepEqual(db.query({ pid: process.pid, types: ['exec'] }).map((r) => r.reconstructed), [1]);
      const traced = db.query({ pid: e42.pid, types: ['exec'] });
      assert.ok(traced.length >= 1 && traced.every((r) => r.reconstructed === 0));
    } finally {
      db.close();
    }
    // Bad input: clear errors, stable codes.
    assert.equal(lantern(['events', '--store', store, '--type', 'fork']).status, 64);
    assert.equal(lantern(['events', '--store', store, '--since', 'yesterday']).status, 64);
    assert.equal(lantern(['events', '--store', join(dir, 'none.db')]).status, 66);
    assert.equal(lantern(['history', 'pid', '4000000', '--store', store]).status, 65);
  } finally {
    if (d && d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGTERM');
    cleanup();
  }
});

test('SIGKILL leaves a stale instance; the next start removes it; SIGINT cleans up', { skip, timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const name = uniqueName('kill');
  const store = join(dir, 'r.db');
  const started: ChildProcess[] = [];
  try {
    const first = startDaemon(store, name);
    started.push(first.child);
    await waitFor(() => existsSync(instanceDir(name, first.child.pid!)), 15_000, 'the first instance');
    first.child.kill('SIGKILL');
    await exited(first.child);
    assert.equal(existsSync(instanceDir(name, first.child.pid!)), true, 'SIGKILL cannot clean up');
    const second = startDaemon(store, name);
    started.push(second.child);
    await waitFor(() => existsSync(instanceDir(name, second.child.pid!)) && /recording into/.test(second.stderr()), 15_000, 'the second instance');
    assert.equal(existsSync(instanceDir(name, first.child.pid!)), false, 'stale instance removed');
    // A recorder started at the same moment by a parallel test file sweeps stale instances too and
    // may get there first; either way the instance is gone, and when this one swept it, it says so.
    if (second.stderr().includes(`lantern.${name}.${first.child.pid}`)) {
      assert.match(second.stderr(), new RegExp(`removed stale .*lantern\\.${name}\\.${first.child.pid}`));
    } else {
      console.log('# the stale instance was swept by a concurrent recorder');
    }
    // A second recorder with the same name while one runs is refused.
    const third = lantern(['record', '--store', join(dir, 'other.db'), '--name', name]);
    assert.equal(third.status, 69);
    assert.match(third.stderr, /already running as pid/);
    // ... and so is a second writer of the same store under another name.
    await waitFor(() => JSON.parse(lantern(['record', 'status', '--store', store, '--json']).stdout || '{}').pid === second.child.pid, 10_000, 'the status');
    const fourth = lantern(['record', '--store', store, '--name', `${name}x`]);
    assert.equal(fourth.status, 69);
    assert.match(fourth.stderr, /is being written by the recorder running as pid/);
    second.child.kill('SIGINT');
    assert.equal((await exited(second.child)).code, 0);
    assert.deepEqual(ours(name), []);
  } finally {
    for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    cleanup();
  }
});

test('not root: a clear error and exit 77, nothing created', { skip, timeout: 30_000 }, () => {
  const { dir, cleanup } = tempDir();
  try {
    const r = lantern(['record', '--store', join(dir, 'r.db'), '--name', uniqueName('uid')], { uid: 65534, gid: 65534 });
    assert.equal(r.status, 77, r.stderr);
    assert.match(r.stderr, /needs root/);
    assert.equal(existsSync(join(dir, 'r.db')), false);
  } finally {
    cleanup();
  }
});

test('config file: values are used, options override them, a broken file is a clear error', { skip, timeout: 30_000 }, () => {
  const { dir, cleanup } = tempDir();
  try {
    const name = uniqueName('cfg');
    const cfg = join(dir, 'record.toml');
    writeFileSync(cfg, `[record]\nstore = "${join(dir, 'from-config.db')}"\nname = "${name}"\nbuffer_kb = 256\npoll_ms = 100\n`);
    const r = lantern(['record', '--config', cfg, '--duration', '1']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`recording into ${join(dir, 'from-config.db')} \\(instance .*lantern\\.${name}\\.`));
    const st = JSON.parse(lantern(['record', 'status', '--json', '--store', join(dir, 'from-config.db')]).stdout);
    assert.deepEqual([st.bufferKb, st.pollMs, st.name], [256, 100, name]);
    const over = lantern(['record', '--config', cfg, '--store', join(dir, 'override.db'), '--duration', '1']);
    assert.equal(over.status, 0, over.stderr);
    assert.ok(existsSync(join(dir, 'override.db')));
    writeFileSync(cfg, '[record\nstore = ');
    assert.equal(lantern(['record', '--config', cfg]).status, 65);
    assert.equal(lantern(['record', '--config', join(dir, 'absent.toml')]).status, 66);
    assert.equal(lantern(['record', '--buffer-kb', 'lots']).status, 64);
    // A log that cannot be opened: a clear error, and no instance left behind.
    const badLog = lantern(['record', '--store', join(dir, 'l.db'), '--name', `${name}l`, '--log', join(dir, 'no', 'such', 'dir', 'x.log')]);
    assert.equal(badLog.status, 74, badLog.stderr);
    assert.match(badLog.stderr, /cannot open log/);
    assert.deepEqual(ours(`${name}l`), []);
  } finally {
    cleanup();
  }
});

test('SIGHUP reopens the text log after it was rotated away', { skip, timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const name = uniqueName('hup');
  const log = join(dir, 'record.log');
  let child: ChildProcess | null = null;
  try {
    child = spawn(process.execPath, [bin, 'record', '--store', join(dir, 'r.db'), '--name', name, '--poll-ms', '50', '--log', log], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    await waitFor(() => /recording into/.test(err), 15_000, 'the recorder');
    spawnSync('sh', ['-c', 'exit 11']);
    await waitFor(() => existsSync(log) && /code=11/.test(readFileSync(log, 'utf8')), 10_000, 'the first line');
    renameSync(log, `${log}.1`);
    child.kill('SIGHUP');
    // Reopening creates the file: wait for that rather than a fixed delay (a loaded machine may
    // take longer than any delay to run the handler).
    await waitFor(() => existsSync(log), 10_000, 'the reopened log');
    spawnSync('sh', ['-c', 'exit 12']);
    await waitFor(() => existsSync(log) && /code=12/.test(readFileSync(log, 'utf8')), 10_000, 'a line in the reopened log');
    assert.doesNotMatch(readFileSync(`${log}.1`, 'utf8'), /code=12/);
    assert.match(readFileSync(log, 'utf8'), /^\[\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\] exit \S+ pid=\d+ tid=\d+ code=12 <kernel> /m);
    child.kill('SIGTERM');
    assert.equal((await exited(child)).code, 0);
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    cleanup();
  }
});

test('a reader that stops early (lantern events | head) ends the command quietly', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const store = Store.open(join(dir, 'big.db'));
    const now = Date.now() * 1000;
    const recs: ProcessRecord[] = [];
    for (let i = 0; i < 20_000; i++) {
      recs.push({
        id: store.nextId(), type: 'exec', timeUs: now + i, pid: 1000 + i, tid: 1000 + i, ppid: 1, pstartUs: now + i, ppstartUs: null, uid: 0,
        program: '/bin/true', comm: 'true', domainId: store.intern(store.root, '/bin/true'), fromId: null, exitCode: null, signal: null, sigCode: null,
        senderPid: null, senderComm: null, senderProgram: null, senderKind: null, reconstructed: false, cpu: null, lost: null, detail: null, parentComm: 'init',
      });
    }
    store.write(recs);
    store.close();
    const child = spawn(process.execPath, [bin, 'events', '--store', join(dir, 'big.db')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.once('data', () => child.stdout!.destroy());
    const r = await exited(child);
    // src/cli/main.ts ends every one-shot command on a closed pipe with 141 (docs/exit-codes.md).
    assert.equal(r.code, 141, err);
    assert.doesNotMatch(err, /internal error|EPIPE/);
  } finally {
    cleanup();
  }
});
