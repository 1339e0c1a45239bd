/**
 * The helper thread of a run (helper.ts): the process table read on two threads: the same table, the same notes, in the same
 * order, as one thread reading alone; the helper thread stopped on every path, never keeping the
 * process alive. Real trees of /proc/<pid> directories (FIFOs and links among them) and the live /proc.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Host } from './host.js';
import { Facts } from './facts.js';
import { commandDatum, Sources } from './sources.js';
import { HostHelper } from './helper.js';
import { runChecks } from '../check/run.js';
import { CHECKS } from '../check/checks/index.js';
import { tempDir } from '../common/testenv.js';

const RHEL9 = fileURLToPath(new URL('../../test/data/check/rhel9', import.meta.url));
const HOST_JS = fileURLToPath(new URL('./host.js', import.meta.url));
const FACTS_JS = fileURLToPath(new URL('./facts.js', import.meta.url));
const SOURCES_JS = fileURLToPath(new URL('./sources.js', import.meta.url));
const RUN_JS = fileURLToPath(new URL('../check/run.js', import.meta.url));

const statLine = (pid: number, name: string, threads: number) => `${pid} (${name}) S 1 ${pid} ${pid} 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 ${threads} 0 2237 8413184 224 18446744073709551615\n`;

/**
 * The RHEL 9 fixture with `n` more processes, some hostile: FIFOs in place of stat and of
 * oom_score_adj, links out of the root, an oversized stat (cut by the Host's cap), no stat
 * (comm and status then), legacy oom_adj only.
 */
function bigTree(n: number): string {
  const root = tempDir('lantern-scan-');
  cpSync(RHEL9, root, { recursive: true });
  const outside = tempDir('lantern-scan-outside-');
  writeFileSync(join(outside, 'secret'), '-1000\n');
  for (let pid = 10000; pid < 10000 + n; pid++) {
    const d = join(root, 'proc', String(pid));
    mkdirSync(d);
    const name = pid % 97 === 0 ? 'java' : `worker${pid % 5}`;
    if (pid % 211 === 0) spawnSync('mkfifo', [join(d, 'oom_score_adj')]);
    else if (pid % 223 === 0) symlinkSync(join(outside, 'secret'), join(d, 'oom_score_adj'));
    else if (pid % 101 === 0) writeFileSync(join(d, 'oom_adj'), '-17\n');
    else writeFileSync(join(d, 'oom_score_adj'), pid % 97 === 0 ? '-1000\n' : '0\n');
    if (pid % 113 === 0) spawnSync('mkfifo', [join(d, 'stat')]);
    else if (pid % 127 === 0) symlinkSync(join(outside, 'secret'), join(d, 'stat'));
    else if (pid % 131 === 0) writeFileSync(join(d, 'stat'), statLine(pid, name, 3) + 'x'.repeat(3000));
    else if (pid % 7 !== 0) writeFileSync(join(d, 'stat'), statLine(pid, name, 1 + (pid % 4)));
    writeFileSync(join(d, 'comm'), `${name}\n`);
    writeFileSync(join(d, 'status'), `Name:\t${name}\nPPid:\t1\nThreads:\t${1 + (pid % 4)}\n`);
  }
  return root;
}

/** A run's JSON without the moment it was made. */
const doc = (r: ReturnType<typeof runChecks>) => JSON.stringify({ ...r, generatedAt: null });

test('scan: two threads read the same table as one, with the same notes in the same order (hostile tree, cut files, fallbacks)', () => {
  const root = bigTree(1500);
  const one = new Host({ root, maxReadBytes: 2048 });
  const alone = runChecks(one, CHECKS, { scanWorkerFrom: Infinity, now: new Date(0) });
  // The helper is given the whole table first (the main thread waits before it joins), then both share it.
  for (const wait of [400, 0]) {
    const two = new Host({ root, maxReadBytes: 2048 });
    const f = new Facts(new Sources(two), { scanWorkerFrom: 1 });
    f.prefetch('processes', [], false);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
    const p = f.processes();
    const t = f.threadCount();
    f.close();
    const oneHost = new Host({ root, maxReadBytes: 2048 });
    const serial = new Facts(new Sources(oneHost), { scanWorkerFrom: Infinity });
    assert.deepEqual(p, serial.processes());
    assert.deepEqual(t, serial.threadCount());
    if (wait) assert.ok(f.procTable().helperChunks > 0, 'the helper thread read part of the table');
    assert.equal(f.procTable().reads, serial.procTable().reads, 'each file read once, as alone');
    assert.deepEqual(two.refused, oneHost.refused);
    assert.deepEqual(two.cuts, oneHost.cuts);
  }
  assert.ok(one.refused.some((r) => /\/proc\/10\d+\/stat: is a FIFO/.test(r)) && one.refused.some((r) => /oom_score_adj: is a FIFO/.test(r)), JSON.stringify(one.refused));
  // An absolute link is followed inside the root (as chroot would): the outside -1000 is never read.
  const exempt = new Facts(new Sources(new Host({ root })), { scanWorkerFrom: 1 }).processes().exempt;
  assert.ok(exempt.some((e) => e.comm === 'java') && exempt.every((e) => e.pid < 10000 || e.pid % 223 !== 0), JSON.stringify(exempt));
  assert.ok(one.cuts.some((c) => /\/proc\/\d+\/stat: /.test(c)));
  // The whole report is the same either way; only the order of the notes may differ: alone, the thread
  // count (printk.logbuf) reads every stat before the OOM scan reads every oom_score_adj, while the
  // table read ahead takes both files of each pid in turn.
  const both = runChecks(new Host({ root, maxReadBytes: 2048 }), CHECKS, { scanWorkerFrom: 1, now: new Date(0) });
  assert.deepEqual([...both.inputProblems].sort(), [...alone.inputProblems].sort());
  assert.equal(doc({ ...both, inputProblems: [] }), doc({ ...alone, inputProblems: [] }));
  assert.match(alone.findings.find((x) => x.id === 'oom.exempt')!.summary, /java/);
});

test('scan: on the live host the helper thread and the main thread share the table', () => {
  const two = new Facts(new Sources(new Host()), { scanWorkerFrom: 1 });
  two.prefetch('threads', [], false);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400);
  const t = two.threadCount();
  const p = two.processes();
  two.close();
  assert.ok(two.procTable().helperChunks > 0);
  assert.ok(p.scanned > 1 && p.names.has('node'));
  assert.ok(t.sources.some((s) => s.how.startsWith('num_threads in /proc/<pid>/stat (')));
});

/** Run a script in a fresh Node; its exit code, signal and output. */
function node(script: string, timeoutMs = 20_000) {
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: timeoutMs });
}

test('scan: a started helper thread never keeps the process alive, and a failing check still stops it', () => {
  const root = bigTree(300);
  // Started and never finished nor closed: the process ends when its own work does.
  let t0 = Date.now();
  const left = node(`
    import { Host } from ${JSON.stringify(HOST_JS)}; import { Facts } from ${JSON.stringify(FACTS_JS)}; import { Sources } from ${JSON.stringify(SOURCES_JS)};
    const f = new Facts(new Sources(new Host({ root: ${JSON.stringify(root)} })), { scanWorkerFrom: 1 });
    f.prefetch('processes', [], false);
    console.log('prefetched');`);
  assert.equal(left.status, 0, left.stderr);
  assert.match(left.stdout, /prefetched/);
  assert.ok(Date.now() - t0 < 10_000);
  // A check that reads the table ahead and then throws: reported as unknown, the helper stopped by runChecks.
  t0 = Date.now();
  const failing = node(`
    import { Host } from ${JSON.stringify(HOST_JS)}; import { runChecks } from ${JSON.stringify(RUN_JS)};
    const bad = { id: 'oom.exempt', title: 't', why: '', processTable: 'processes', run() { throw new Error('boom'); } };
    const r = runChecks(new Host({ root: ${JSON.stringify(root)} }), [bad], { scanWorkerFrom: 1 });
    console.log(r.findings[0].summary);
    setTimeout(() => { console.log('still alive'); }, 60_000).unref();`);
  assert.equal(failing.status, 0, failing.stderr);
  assert.match(failing.stdout, /internal error in this check: boom/);
  assert.ok(Date.now() - t0 < 10_000);
});

test('scan: SIGINT while the helper thread reads ends the process at once (default action, and a handler that exits)', async () => {
  const root = bigTree(300);
  for (const handler of ['', "process.on('SIGINT', () => process.exit(130));"]) {
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `${handler}
        import { Host } from ${JSON.stringify(HOST_JS)}; import { Facts } from ${JSON.stringify(FACTS_JS)}; import { Sources } from ${JSON.stringify(SOURCES_JS)};
        const f = new Facts(new Sources(new Host({ root: ${JSON.stringify(root)} })), { scanWorkerFrom: 1 });
        f.prefetch('processes', [], false);
        process.stdout.write('prefetched\\n');
        setTimeout(() => {}, 60_000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const t0 = Date.now();
    await new Promise<void>((resolve) => child.stdout.on('data', (b: Buffer) => b.toString().includes('prefetched') && resolve()));
    child.kill('SIGINT');
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    assert.ok(Date.now() - t0 < 10_000);
    if (handler) assert.equal(code, 130);
    else assert.equal(signal, 'SIGINT');
  }
});

test('helper: live commands run on the helper thread end as they would in the main thread (output, exit status, missing program, timeout)', () => {
  const helper = HostHelper.start(new Host())!;
  const req = (key: string, argv: string[], timeoutMs = 5000) => ({ key, argv, timeoutMs, maxBuffer: 1 << 20, env: { ...process.env, LC_ALL: 'C' } });
  helper.startCommands([
    req('out', ['sh', '-c', 'echo hello; echo to-stderr >&2']),
    req('fail', ['sh', '-c', 'echo partial; exit 3']),
    req('rpm', ['rpm', '-q', 'lantern-no-such-package-x']),
    req('missing', ['lantern-no-such-program']),
    req('slow', ['sleep', '30'], 300),
  ]);
  const t0 = Date.now();
  assert.deepEqual(commandDatum(['sh', '-c', 'x'], helper.command('out')!), { ok: true, text: 'hello\n', path: 'command: sh -c x' });
  assert.deepEqual(commandDatum(['sh'], helper.command('fail')!), { ok: false, reason: 'sh: exit status 3', tried: ['command: sh'], notCollected: false });
  assert.equal(helper.command('fail')!.stdout, 'partial\n');
  assert.equal(commandDatum(['lantern-no-such-program'], helper.command('missing')!).ok, false);
  assert.match((commandDatum(['lantern-no-such-program'], helper.command('missing')!) as { reason: string }).reason, /lantern-no-such-program not installed$/);
  assert.match((commandDatum(['sleep', '30'], helper.command('slow')!) as { reason: string }).reason, /: timed out$/);
  assert.ok(Date.now() - t0 < 10_000);
  assert.equal(helper.command('never started'), null);
  helper.close();
  // Outcomes stay readable once the thread is gone.
  assert.equal(helper.command('out')!.stdout, 'hello\n');
});

test('helper: on the live host the catalog commands started ahead give the data the checks read', () => {
  const ids = ['dmesg', 'listUnits', 'rpmList', 'auditctlStatus', 'chkconfig'] as const;
  const ahead = new Sources(new Host());
  const f = new Facts(ahead, { scanWorkerFrom: 1 });
  f.prefetch('processes', [...ids]);
  const alone = new Sources(new Host());
  for (const id of ids) {
    const a = ahead.get(id);
    const b = alone.get(id);
    // dmesg may gain a line between the two runs: compare what can be compared.
    assert.equal(a.ok, b.ok, id);
    if (a.ok && b.ok) assert.equal(a.path, b.path);
    else assert.deepEqual(a, b, id);
  }
  f.close();
});
