import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Host } from './host.js';
import { Facts } from './facts.js';
import { Sources } from './sources.js';
import { parsePidStat, parsePidStatus, PROCESS_FILES, ProcTable, startEarlyScan } from './proctable.js';
import { kernfileMissing } from './kernfile.js';
import { steadyProcText } from './proc.testutil.js';
import { facilitySkip } from '../common/testenv.js';
import { tempDir } from '../common/testenv.js';

/** Sources that remember every path it read or listed, to show what the scans touch. */
class CountingSources extends Sources {
  readonly reads: string[] = [];
  readonly lists: string[] = [];
  override value(livePath: string): string | null {
    this.reads.push(livePath);
    return super.value(livePath);
  }
  override pidValues(pids: readonly string[], files: readonly string[]): Map<string, (string | null)[]> | null {
    const got = super.pidValues(pids, files);
    if (got) for (const f of files) for (const p of pids) this.reads.push(`/proc/${p}/${f}`);
    return got;
  }
  override list(livePath: string): string[] | null {
    this.lists.push(livePath);
    return super.list(livePath);
  }
}

function procTree(): string {
  const root = tempDir('lantern-proctable-');
  const proc = (pid: number, files: Record<string, string>) => {
    mkdirSync(join(root, 'proc', String(pid)), { recursive: true });
    for (const [n, t] of Object.entries(files)) writeFileSync(join(root, 'proc', String(pid), n), t);
  };
  proc(1, { oom_score_adj: '0\n', comm: 'systemd\n', status: 'Name:\tsystemd\nPPid:\t0\nThreads:\t1\n' });
  proc(200, { oom_score_adj: '-1000\n', comm: 'multipathd\n', status: 'Name:\tmultipathd\nPPid:\t1\nThreads:\t7\n' });
  // no comm: the name comes from status
  proc(300, { oom_adj: '-17\n', status: 'Name:\told-daemon\nPPid:\t1\nThreads:\t2\n' });
  // nothing readable but a status (a thread count, no OOM value)
  proc(400, { status: 'Name:\tjava\nPPid:\t1\nThreads:\t300\n' });
  mkdirSync(join(root, 'proc', '500'));
  mkdirSync(join(root, 'etc'), { recursive: true });
  return root;
}

/** What procTree()'s scan finds, whichever files it came from: the two exempt processes and the four names. */
function assertTreeScan(p: ReturnType<Facts['processes']>): void {
  assert.deepEqual(
    p.exempt.map((e) => [e.pid, e.comm, e.ppid, e.value, e.legacy]),
    [
      [200, 'multipathd', 1, -1000, false],
      [300, 'old-daemon', 1, -17, true],
    ],
  );
  assert.deepEqual([...p.names].sort(), ['java', 'multipathd', 'old-daemon', 'systemd']);
}

const counts = (xs: string[]) => [...xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<string, number>())];

test('proctable: the OOM scan and the thread count share one /proc listing and read each /proc/<pid> file at most once', () => {
  const src = new CountingSources(new Host({ root: procTree() }));
  const f = new Facts(src);
  const p = f.processes();
  const t = f.threadCount();
  assert.deepEqual(
    src.lists.filter((l) => l === '/proc'),
    ['/proc'],
  );
  for (const [path, n] of counts(src.reads)) assert.equal(n, 1, `${path} read ${n} times`);
  assert.ok(src.reads.includes('/proc/200/status'), 'the exempt process has its status read (for PPid), once');
  assert.equal(p.pids, 5);
  assert.equal(p.scanned, 4);
  assert.equal(p.unreadable, 1);
  assertTreeScan(p);
  assert.deepEqual(
    t.sources.find((s) => s.how.startsWith('Threads:')),
    { how: 'Threads: in /proc/<pid>/status (4 processes)', threads: 310 },
  );
  // Asked again, nothing more is read.
  const before = src.reads.length;
  f.processes();
  f.threadCount();
  f.procTable().status('200');
  assert.equal(src.reads.length, before);
});

test('proctable: parsePidStatus takes Name, PPid and Threads as the scans always did', () => {
  assert.deepEqual(parsePidStatus('Name:\tkworker/0:1\nUmask:\t0000\nState:\tI (idle)\nPPid:\t2\nThreads:\t1'), { name: 'kworker/0:1', ppid: 2, threads: '1' });
  assert.deepEqual(parsePidStatus('Name:\ta b\nPid:\t7'), { name: 'a b', ppid: NaN, threads: null });
  assert.deepEqual(parsePidStatus(''), { name: null, ppid: NaN, threads: null });
});

test('proctable: parsePidStat takes the name (parentheses and spaces in it), the parent and the thread count', () => {
  // Field 20 of a real line (a kernel 6.x sleep): "... 0 0 20 0 1 0 ...".
  const line = (name: string, ppid: string, threads: string) => `4711 (${name}) S ${ppid} 4711 4711 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 ${threads} 0 2237 8413184 224 18446744073709551615`;
  assert.deepEqual(parsePidStat(line('sleep', '1', '1')), { name: 'sleep', ppid: 1, threads: '1', startTicks: 2237 });
  assert.deepEqual(parsePidStat(line('a) S 9 (b', '77', '12')), { name: 'a) S 9 (b', ppid: 77, threads: '12', startTicks: 2237 });
  assert.deepEqual(parsePidStat(line(' padded ', '2', '3')), { name: 'padded', ppid: 2, threads: '3', startTicks: 2237 });
  assert.deepEqual(parsePidStat(line('', '2', '3')), { name: '', ppid: 2, threads: '3', startTicks: 2237 });
  // A line that stops after field 20 still names the process; its start is unknown.
  assert.deepEqual(parsePidStat('4711 (x) S 1 4711 4711 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 1'), { name: 'x', ppid: 1, threads: '1', startTicks: NaN });
  // Not stat's format: the scans fall back to comm and status.
  for (const bad of ['', 'sleep', '4711 (sleep S 1', '4711 (sleep) S', line('x', '-', '1'), line('x', '1', 'many'), '4711 (sleep)S 1 2 3']) assert.equal(parsePidStat(bad), null, JSON.stringify(bad));
});

test('proctable: comm names a process, stat gives the parent of an exempt one and the thread count; status only where stat is missing or unparseable', () => {
  const root = procTree();
  const statLine = (pid: number, name: string, ppid: number, threads: number) =>
    `${pid} (${name}) S ${ppid} ${pid} ${pid} 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 ${threads} 0 2237 8413184 224 18446744073709551615\n`;
  writeFileSync(join(root, 'proc/1/stat'), statLine(1, 'systemd', 0, 1));
  writeFileSync(join(root, 'proc/200/stat'), statLine(200, 'multipathd', 1, 9));
  // an unparseable stat: comm and status as before
  writeFileSync(join(root, 'proc/400/stat'), 'garbage\n');
  const src = new CountingSources(new Host({ root }));
  const f = new Facts(src);
  const p = f.processes();
  const t = f.threadCount();
  for (const [path, n] of counts(src.reads)) assert.equal(n, 1, `${path} read ${n} times`);
  assert.ok(src.reads.includes('/proc/1/comm') && src.reads.includes('/proc/200/comm') && src.reads.includes('/proc/200/stat'));
  assert.ok(!src.reads.includes('/proc/200/status') && !src.reads.includes('/proc/1/status'));
  assert.ok(src.reads.includes('/proc/300/status') && src.reads.includes('/proc/400/status'));
  assertTreeScan(p);
  // 1 + 9 from stat, 2 + 300 from status: the label names both files.
  assert.deepEqual(
    t.sources.find((s) => s.how.includes('/proc/<pid>/')),
    { how: 'num_threads or Threads: in /proc/<pid>/stat or status (4 processes)', threads: 312 },
  );
  assert.ok(t.evidence.some((e) => e.what === 'threads (sum of num_threads or Threads: over 4 of 5 /proc/<pid>/stat or status)' && e.value === '312'));
});

test('proctable: a /proc/<pid>/stat that is a FIFO or a link out of the root is refused and noted, and the scan goes on with comm and status', () => {
  const root = procTree();
  const outside = tempDir('lantern-proctable-outside-');
  writeFileSync(join(outside, 'stat'), '1 (OUTSIDE) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 999 0\n');
  symlinkSync(join(outside, 'stat'), join(root, 'proc/1/stat'));
  spawnSync('mkfifo', [join(root, 'proc/200/stat')]);
  const host = new Host({ root });
  const f = new Facts(new Sources(host));
  const p = f.processes();
  const t = f.threadCount();
  assert.deepEqual([...p.names].sort(), ['java', 'multipathd', 'old-daemon', 'systemd']);
  assert.equal(t.sources.find((s) => s.how.includes('/proc/<pid>/'))?.threads, 310);
  assert.ok(
    host.refused.some((r) => r.startsWith('/proc/200/stat: is a FIFO')),
    JSON.stringify(host.refused),
  );
  assert.ok(!JSON.stringify(p).includes('OUTSIDE'));
});

test('proctable: on the live host one pass finds a child process and counts its threads, each file read once', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    await new Promise((r) => child.once('spawn', r));
    const src = new CountingSources(new Host());
    const f = new Facts(src);
    const p = f.processes();
    const th = f.threadCount();
    const pid = String(child.pid);
    assert.ok(f.procTable().pids().includes(pid));
    assert.ok(p.names.has('sleep'));
    // The live scan reads oom_score_adj and comm of every process, not stat or status (those only
    // for an exempt process's parent, or a process whose comm is gone); the thread count is loadavg's.
    assert.ok(src.reads.includes(`/proc/${pid}/comm`) && src.reads.includes(`/proc/${pid}/oom_score_adj`));
    assert.ok(!src.reads.includes(`/proc/${pid}/stat`) && !src.reads.includes(`/proc/${pid}/status`));
    assert.deepEqual({ ...f.procTable().stat(pid), startTicks: 0 }, { name: 'sleep', ppid: process.pid, threads: '1', startTicks: 0 });
    assert.ok((f.procTable().stat(pid)?.startTicks ?? 0) > 0);
    assert.equal(f.procTable().status(pid)?.threads, '1');
    assert.equal(f.procTable().status(pid)?.ppid, process.pid);
    assert.deepEqual(
      th.sources.map((s) => s.how),
      ['/proc/loadavg'],
    );
    assert.ok(p.scanned > 1 && (th.threads ?? 0) >= p.scanned);
    assert.deepEqual(
      src.lists.filter((l) => l === '/proc'),
      ['/proc'],
    );
    for (const [path, n] of counts(src.reads)) assert.equal(n, 1, `${path} read ${n} times`);
  } finally {
    child.kill('SIGKILL');
  }
});

test('host: a live /proc file read into the shared buffer keeps the cap (cut, noted) and whole files stay whole', () => {
  const h = new Host({ maxReadBytes: 16 });
  const r = h.readText('/proc/self/status');
  assert.ok(r.ok && r.text.length === 16 && r.text.startsWith('Name:') && (r.cut ?? 0) > 16);
  assert.equal(h.cuts.length, 1);
  const whole = new Host().readText('/proc/self/status');
  assert.ok(whole.ok && /\nThreads:\s+\d+/.test(whole.text) && whole.cut === undefined);
  const gone = new Host().readText('/proc/999999999/status');
  assert.ok(!gone.ok && gone.code === 'ENOENT');
});

test('host: readSmallValue of a live /proc/<pid> file is readValue, in one read for the files the kernel gives whole, and keeps the cap', () => {
  const h = new Host();
  for (const f of ['stat', 'status', 'comm', 'oom_score_adj', 'cmdline', 'environ', 'limits']) {
    const v = h.readValue(`/proc/${process.pid}/${f}`);
    assert.ok(v.ok);
    // This process's state, times and memory move between two reads: compare what does not.
    const cut = (t: string | null) => (t === null ? t : steadyProcText(f, t));
    assert.equal(cut(h.readSmallValue(`/proc/${process.pid}/${f}`)), cut(v.text), f);
  }
  const small = new Host({ maxReadBytes: 16 });
  assert.equal(small.readSmallValue(`/proc/${process.pid}/status`)?.length, 16);
  assert.equal(small.cuts.length, 1);
  assert.match(small.cuts[0]!, new RegExp(`^/proc/${process.pid}/status: [\\d,]+ bytes, only the first 16 bytes read`));
  assert.equal(h.readSmallValue('/proc/999999999/stat'), null);
});

test(
  "proctable: an early scan of the live table is taken by the first live ProcTable that asks for its files (listing, values and the early Host's notes), not by a copied tree's",
  { skip: facilitySkip(kernfileMissing()) },
  async () => {
    // A 1-byte cap on the early Host: its values and its cut notes show which Host read them.
    const earlyHost = new Host({ maxReadBytes: 1 });
    assert.equal(startEarlyScan(earlyHost, PROCESS_FILES), true);
    assert.equal(startEarlyScan(new Host(), PROCESS_FILES), false, 'one early scan at a time');
    const root = tempDir('early-tree-');
    mkdirSync(join(root, 'proc', '7'), { recursive: true });
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'proc', '7', 'comm'), 'tree\n');
    writeFileSync(join(root, 'proc', '7', 'oom_score_adj'), '0\n');
    const tree = new ProcTable(new Sources(new Host({ root }), {}));
    await tree.prefetchAsync(PROCESS_FILES);
    assert.deepEqual(tree.pids(), ['7']);
    assert.equal(tree.value('7', 'comm'), 'tree', 'the tree reads its own files');
    const live = new Host();
    const table = new ProcTable(new Sources(live, {}));
    await table.prefetchAsync(PROCESS_FILES);
    assert.ok(table.pids().includes('1'));
    assert.equal(table.value('1', 'oom_score_adj')!.length, 1);
    assert.equal(table.value('1', 'comm')!.length, 1, "the early Host's 1-byte cap");
    assert.equal(table.reads, table.pids().length * 2);
    assert.ok(live.cuts.length > 0 && live.cuts.every((c) => earlyHost.cuts.includes(c)), "the early Host's notes are the run's");
    // Taken once: the next live table reads for itself.
    const next = new ProcTable(new Sources(new Host(), {}));
    await next.prefetchAsync(PROCESS_FILES);
    assert.ok(next.value('1', 'comm')!.length > 1);
  },
);
