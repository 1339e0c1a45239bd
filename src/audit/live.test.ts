/**
 * `lantern audit enrich` against the real thing: Debian's auditd with a real rule, a real
 * recorder, a known process chain, ausearch/aureport reading the output, and rotation.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exited, liveSkipReason, sleep, tempDir, uniqueName, waitFor } from '../record/live.testutil.js';
import { auditSkipReason, startAuditd, type Auditd } from './auditd.testutil.js';
import { stripHistory } from './enrich.js';
import { Host } from '../host/host.js';
import { CLOCK_SLACK_US, StoreProcResolver } from './resolve.js';
import { processAt } from '../record/query.js';
import { Store } from '../record/store/store.js';

const skip = liveSkipReason() ?? auditSkipReason();
if (skip) console.log(`# skipping audit enrich live tests: ${skip}`);
const bin = new URL('../../bin/lantern.js', import.meta.url).pathname;

function lantern(args: string[], input?: Buffer) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'latin1', timeout: 60_000, maxBuffer: 64 * 1024 * 1024, input });
}

function startRecorder(store: string): { child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, [bin, 'record', '--store', store, '--name', uniqueName('aud'), '--poll-ms', '50', '--buffer-kb', '512'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return { child, stderr: () => err };
}

async function stopChild(c: ChildProcess | undefined): Promise<void> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  c.kill('SIGTERM');
  await exited(c);
}

/** The SYSCALL records of the probe opens (key lantern-test), by serial. */
function probeRecords(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of text.split('\n')) {
    const m = /^type=SYSCALL msg=audit\(\d+\.\d+:(\d+)\):.* key="lantern-test"/.exec(l);
    if (m) out.set(m[1]!, l);
  }
  return out;
}

/**
 * A real recorder and auditd with the test's rule on a probe file in `dir`: start() brings them
 * up in that order, stop() ends whatever was started (also after a start that failed half-way).
 */
function probeWatch(dir: string) {
  const probe = join(dir, 'probe');
  const store = join(dir, 'r.db');
  let rec: ReturnType<typeof startRecorder> | undefined;
  let auditd: Auditd | undefined;
  return {
    async start(): Promise<{ probe: string; store: string; auditd: Auditd }> {
      writeFileSync(probe, 'probe\n');
      rec = startRecorder(store);
      await waitFor(() => /recording into/.test(rec!.stderr()), 20_000, 'the recorder to start');
      auditd = await startAuditd(dir);
      auditd.addRule(['always,exit', '-F', 'arch=b64', '-S', 'openat', '-F', `path=${probe}`, '-k', 'lantern-test']);
      return { probe, store, auditd };
    },
    async stop(): Promise<void> {
      await auditd?.stop();
      await stopChild(rec?.child);
    },
  };
}

const HISTORY = /proc_history="([^"]*)"/;
const STEP = /^(.+)\((\d{4})\/(\d\d)\/(\d\d)-(\d\d):(\d\d):(\d\d)\)$/;
const stepTime = (s: string) => {
  const m = STEP.exec(s)!;
  return Date.UTC(+m[2]!, +m[3]! - 1, +m[4]!, +m[5]!, +m[6]!, +m[7]!);
};

test(
  'a known chain bash -c \'sh -c "cat probe"\' opening a watched file: its audit record names the chain; ausearch and aureport read the output; stripping gives the input back',
  { skip, timeout: 120_000 },
  async () => {
    const { dir, cleanup } = tempDir();
    const watch = probeWatch(dir);
    try {
      const { probe, store, auditd } = await watch.start();
      const before = Date.now();
      const chain = spawnSync('bash', ['-c', `sh -c "cat ${probe}"`], { encoding: 'utf8' });
      assert.equal(chain.stdout, 'probe\n');
      await waitFor(() => existsSync(auditd!.log) && probeRecords(readFileSync(auditd!.log, 'latin1')).size === 1, 10_000, 'the probe record in the audit log');
      await sleep(600); // the recorder's next write of the exec records
      const input = readFileSync(auditd.log);
      const r = lantern(['audit', 'enrich', '--store', store, auditd.log]);
      assert.equal(r.status, 0, r.stderr);
      const out = r.stdout;
      const probeLine = [...probeRecords(out).values()][0]!;
      const history = HISTORY.exec(probeLine)?.[1];
      assert.ok(history, `the probe record has a history: ${probeLine}`);
      const steps = history.split('=>');
      const tail = steps.slice(-3);
      assert.deepEqual(
        tail.map((s) => STEP.exec(s)?.[1]),
        ['bash', 'sh', 'cat'],
        history,
      );
      for (const s of tail) {
        const t = stepTime(s);
        assert.ok(t >= Math.floor(before / 1000) * 1000 - 1000 && t <= Date.now(), `plausible exec time in ${s}`);
      }
      // The ancestors: this test's own process (node) is in the chain before bash.
      assert.ok(
        steps.slice(0, -3).some((s) => STEP.exec(s)?.[1] === 'node'),
        history,
      );
      assert.deepEqual(
        steps.map((s) => stepTime(s)),
        [...steps.map((s) => stepTime(s))].sort((a, b) => a - b),
        'times never go back',
      );
      // The pid at the record's time: not before the process started, not after it ended.
      const pid = Number(/ pid=(\d+)/.exec(probeLine)![1]);
      const recordUs = Number(/msg=audit\((\d+)\.(\d+):/.exec(probeLine)!.slice(1).join('')) * 1000;
      const db = Store.openReadonly(store);
      try {
        const atRecord = processAt(db, pid, recordUs, CLOCK_SLACK_US);
        assert.equal(atRecord.found, 'image');
        if (atRecord.found === 'image') assert.equal(atRecord.chain[atRecord.chain.length - 1]!.comm, 'cat');
        assert.notEqual(processAt(db, pid, recordUs - 3_600_000_000, CLOCK_SLACK_US).found, 'image', 'an hour earlier the pid was not this process');
        assert.equal(processAt(db, pid, Date.now() * 1000 + 60_000_000, CLOCK_SLACK_US).found, 'exited', 'after cat ended');
      } finally {
        db.close();
      }
      // Every line comes back; only lines with a pid gained the field; removing it gives the input.
      const inLines = input.toString('latin1').split('\n');
      const outLines = out.split('\n');
      assert.equal(outLines.length, inLines.length);
      assert.equal(outLines.map(stripHistory).join('\n'), input.toString('latin1'));
      assert.deepEqual(Buffer.from(outLines.map(stripHistory).join('\n'), 'latin1'), input, 'byte for byte');
      for (let i = 0; i < inLines.length; i++) if (!/ pid=\d/.test(inLines[i]!.split('\x1d')[0]!)) assert.equal(outLines[i], inLines[i]);
      const sum = /(\d+) lines read: (\d+) audit records \((\d+) enriched: (\d+) from the store, (\d+) from \/proc; (\d+) unknown pid; (\d+) without pid, unchanged\), (\d+) other lines/.exec(
        r.stderr,
      );
      assert.ok(sum, r.stderr);
      const [lines, records, , st, pr, unk, nopid, other] = sum.slice(1).map(Number);
      assert.equal(lines, inLines.length - 1, 'the final newline ends the last line');
      assert.equal(records, st! + pr! + unk! + nopid!);
      assert.equal(lines, records! + other!);
      assert.ok(st! >= 1);

      // ausearch and aureport parse the enriched log as they parse the original.
      const enriched = join(dir, 'enriched.log');
      writeFileSync(enriched, Buffer.from(out, 'latin1'));
      const orig = spawnSync('ausearch', ['-if', auditd.log, '-k', 'lantern-test', '--raw'], { encoding: 'latin1' });
      const ours = spawnSync('ausearch', ['-if', enriched, '-k', 'lantern-test', '--raw'], { encoding: 'latin1' });
      assert.equal(ours.status, 0, ours.stderr);
      assert.equal(ours.stdout.split('\n').map(stripHistory).join('\n'), orig.stdout, 'ausearch finds the same event');
      assert.match(ours.stdout, /proc_history="[^"]*=>cat\(/);
      const byPid = spawnSync('ausearch', ['-if', enriched, '-p', /pid=(\d+)/.exec(probeLine.replace(/ppid=\d+/, ''))![1]!, '-i'], { encoding: 'latin1' });
      assert.equal(byPid.status, 0, byPid.stderr);
      assert.match(byPid.stdout, /proc_history=.*cat\(/, 'ausearch -i shows the field');
      for (const args of [[], ['-x'], ['-k'], ['-p'], ['--summary']]) {
        const a: ReturnType<typeof spawnSync> = spawnSync('aureport', ['-if', auditd.log, ...args], { encoding: 'latin1' });
        const b = spawnSync('aureport', ['-if', enriched, ...args], { encoding: 'latin1' });
        assert.equal(b.status, a.status, `aureport ${args.join(' ')}: ${b.stderr}`);
        assert.equal(b.stdout, a.stdout, `aureport ${args.join(' ')} reports the same`);
      }
    } finally {
      await watch.stop();
      cleanup();
    }
  },
);

test("--follow across auditd's own rotation (SIGUSR1): both files read, nothing lost or doubled", { skip, timeout: 120_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const watch = probeWatch(dir);
  let enr: ChildProcess | undefined;
  try {
    const { probe, store, auditd } = await watch.start();
    await waitFor(() => existsSync(auditd!.log), 5000, 'the audit log');
    enr = spawn(process.execPath, [bin, 'audit', 'enrich', '--follow', auditd.log, '--store', store, '--settle-ms', '800', '--poll-ms', '50'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    enr.stdout!.setEncoding('latin1').on('data', (d) => (out += d));
    enr.stderr!.setEncoding('latin1').on('data', (d) => (err += d));
    // The follower must hold the first file before it rotates (node starts slowly on a busy machine).
    const holdsLog = () => {
      try {
        return readdirSync(`/proc/${enr!.pid}/fd`).some((fd) => readlinkSync(`/proc/${enr!.pid}/fd/${fd}`) === auditd!.log);
      } catch {
        return false;
      }
    };
    await waitFor(holdsLog, 20_000, 'the follower to open the log');
    const opens = (n: number) => {
      for (let i = 0; i < n; i++) spawnSync('bash', ['-c', `sh -c "cat ${probe}"`]);
    };
    opens(3);
    await waitFor(() => probeRecords(readFileSync(auditd!.log, 'latin1')).size === 3, 10_000, 'three probe records');
    auditd.rotate();
    await waitFor(() => existsSync(`${auditd!.log}.1`) && existsSync(auditd!.log), 10_000, 'the rotation');
    opens(3);
    await waitFor(() => probeRecords(readFileSync(auditd!.log, 'latin1')).size === 3, 10_000, 'three probe records after rotation');
    await waitFor(() => probeRecords(out).size === 6, 20_000, 'six enriched probe records').catch(async (e) => {
      enr!.kill('SIGTERM');
      await sleep(1000);
      throw new Error(`${(e as Error).message}: ${probeRecords(out).size} in ${out.length} bytes out; stderr ${err}`);
    });
    await sleep(300);
    enr.kill('SIGTERM');
    const end = await exited(enr);
    assert.equal(end.code, 0, err);
    const old = readFileSync(`${auditd.log}.1`, 'latin1');
    const cur = readFileSync(auditd.log, 'latin1');
    // What the follower wrote is exactly both files, in order, once (stripped of the field).
    const stripped = out.split('\n').map(stripHistory).join('\n');
    assert.ok((old + cur).startsWith(stripped) && stripped.length >= old.length, 'nothing lost, nothing doubled, in order');
    assert.ok(stripped.startsWith(old));
    const probes = probeRecords(out);
    assert.equal(probes.size, 6);
    for (const l of probes.values()) assert.match(l, /proc_history="[^"]*=>bash\([^"]*\)=>sh\([^"]*\)=>cat\([^"]*\)"/);
    assert.match(err, /across 1 rotations, 0 truncations/);
    assert.match(err, /lines read/);
  } finally {
    await stopChild(enr);
    await watch.stop();
    cleanup();
  }
});

test('no store: a live process falls back to /proc (started before the record); a gone or later pid is unknown', { skip: liveSkipReason() }, () => {
  const r = new StoreProcResolver(null, new Host());
  const now = Date.now() * 1000;
  const live = r.resolve(process.pid, now);
  assert.equal(live.source, 'proc');
  if (live.source === 'proc') {
    assert.equal(live.steps[live.steps.length - 1]!.comm, 'node');
    assert.ok(live.steps[live.steps.length - 1]!.timeUs <= now);
  }
  assert.equal(r.resolve(process.pid, 1_000_000).source, 'unknown', 'the process started after that record: the pid was reused');
  const gone = spawnSync('true').pid;
  assert.equal(r.resolve(gone!, now).source, 'unknown');
  assert.equal(new StoreProcResolver(null, new Host(), false).resolve(process.pid, now).source, 'unknown', '--no-proc');
});

test('CLI: stdin "-", bad inputs are one line and a stable exit code', { skip: liveSkipReason() }, () => {
  const { dir, cleanup } = tempDir();
  try {
    const input = Buffer.from('type=SYSCALL msg=audit(1000000000.000:1): arch=c000003e pid=999999 key=(null)\nnot audit \xff\n', 'latin1');
    const r = lantern(['audit', 'enrich', '--store', join(dir, 'none.db'), '-'], input);
    assert.equal(r.status, 66);
    assert.match(r.stderr, /^lantern: no record store at .*none\.db/);
    const env = { ...process.env, LANTERN_RECORD_STORE: undefined };
    const ok = spawnSync(process.execPath, [bin, 'audit', 'enrich', '--store', '/var/lib/lantern/absent-for-test.db', '-'], { input, encoding: 'latin1', env });
    assert.equal(ok.status, 66);
    const nostore = spawnSync(process.execPath, [bin, 'audit', 'enrich', '-'], { input, encoding: 'latin1', env: { ...env, LANTERN_RECORD_STORE: undefined } });
    if (!existsSync('/var/lib/lantern/record.db')) {
      assert.equal(nostore.status, 0, nostore.stderr);
      assert.equal(nostore.stdout, 'type=SYSCALL msg=audit(1000000000.000:1): arch=c000003e pid=999999 key=(null) proc_history=?\nnot audit \xff\n');
      assert.match(nostore.stderr, /histories come from \/proc only/);
      assert.match(nostore.stderr, /2 lines read: 1 audit records .*1 unknown pid.*1 other lines passed through/);
    }
    assert.equal(lantern(['audit', 'enrich', join(dir, 'absent.log')]).status, 66);
    assert.equal(lantern(['audit', 'enrich', dir]).status, 66);
    assert.equal(lantern(['audit', 'enrich', '--follow', 'a', 'b']).status, 64);
    assert.equal(lantern(['audit', 'enrich', '--settle-ms', 'soon', '-']).status, 64);
  } finally {
    cleanup();
  }
});

test('CLI: SIGTERM while reading stdin writes what was read (a partial line too) and the summary, exit 0', { skip: liveSkipReason() }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const empty = join(dir, 'empty.db');
  Store.open(empty).close();
  const child = spawn(process.execPath, [bin, 'audit', 'enrich', '--no-proc', '--store', empty, '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('latin1').on('data', (d) => (out += d));
  child.stderr!.setEncoding('latin1').on('data', (d) => (err += d));
  child.stdin!.write('type=SYSCALL msg=audit(1000000000.000:1): pid=1 key=(null)\npartial');
  await waitFor(() => out.length > 0, 20_000, 'the first line');
  child.kill('SIGTERM');
  const end = await exited(child);
  child.stdin!.destroy();
  assert.equal(end.code, 0, err);
  assert.equal(out, 'type=SYSCALL msg=audit(1000000000.000:1): pid=1 key=(null) proc_history=?\npartial');
  assert.match(err, /2 lines read: 1 audit records .* 1 other lines passed through/);
});
