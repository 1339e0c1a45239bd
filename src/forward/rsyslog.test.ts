/**
 * Forwarding to a real rsyslogd (Debian's) on loopback: RFC 5424 with structured data through
 * imtcp, TLS through gtls (and a wrong CA refused, retried, delivered once fixed), rsyslog stopped
 * and started mid-burst with every line arriving, a collector that never reads, and the CLI.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { facilitySkip, tempDir, waitFor } from '../common/testenv.js';
import { createDestination } from './destination.js';
import { DEFAULT_FORWARDER, Forwarder } from './forwarder.js';
import { appendLines, freePort, makeTls, rsyslogMissing, startRsyslog, type Rsyslog } from './testkit.js';
import type { ProcessRecord } from '../record/process/model.js';

const BIN = fileURLToPath(new URL('../../bin/lantern.js', import.meta.url));
const skip = facilitySkip(rsyslogMissing());
const skipTls = facilitySkip(rsyslogMissing(true));

function forwarder(dir: string, url: string, extra: Partial<{ ca: string; settleMs: number; timeoutMs: number }> = {}, notes: string[] = []): Forwarder {
  const dest = createDestination({ url, source: 'netconsole', timeoutMs: extra.timeoutMs ?? 5000, settleMs: extra.settleMs ?? 300, ca: extra.ca });
  return new Forwarder(dest, { ...DEFAULT_FORWARDER, dir, statePath: join(dir, '..', `state-${Math.random()}.json`), pollMs: 20, backoffMinMs: 50, backoffMaxMs: 500, say: (l) => notes.push(l) });
}

/** Distinct `id` values rsyslog received (duplicates of an at-least-once resend count once). */
function ids(rs: Rsyslog): Set<string> {
  const out = new Set<string>();
  for (const l of rs.lines()) {
    const m = / id="([^"]+)"/.exec(l);
    if (m) out.add(m[1]!);
  }
  return out;
}

test('rsyslog receives every line as RFC 5424 with the kernel facts as structured data', { skip }, async () => {
  const rs = await startRsyslog();
  const dir = join(tempDir('lantern-fwd-'), 'in');
  appendLines(dir, 1000);
  const f = forwarder(dir, `syslog+tcp://127.0.0.1:${rs.port}`);
  const run = f.run();
  try {
    await waitFor('1000 lines at rsyslog', () => rs.lines().length >= 1000, 20_000);
    await waitFor('settled', () => f.counters.delivered === 1000, 20_000);
  } finally {
    await f.stop();
    await run;
    await rs.stop();
  }
  const lines = rs.lines();
  assert.equal(lines.length, 1000);
  assert.equal(
    lines[0],
    '10.0.0.5 kernel 6 [lantern@32473 sender="10.0.0.5:6665" source="netconsole" seq="0" ktime="501.000000" level="info" id="./2026-11-26.log:0"] line 0: e1000e: eth0 NIC Link is Up',
  );
  assert.match(lines[999]!, /seq="999"/);
  assert.equal(f.counters.backlogBytes, 0);
});

test('rsyslog stopped and started mid-burst: every line arrives (at least once), counters add up', { skip }, async () => {
  const rs = await startRsyslog();
  const dir = join(tempDir('lantern-fwd-'), 'in');
  const notes: string[] = [];
  const f = forwarder(dir, `syslog+tcp://127.0.0.1:${rs.port}`, { settleMs: 500 }, notes);
  const run = f.run();
  const total = 20_000;
  try {
    // The "receiver" keeps writing while the collector goes away and comes back.
    for (let i = 0; i < 40; i++) {
      appendLines(dir, total / 40, (i * total) / 40);
      if (i === 10) await rs.stop();
      if (i === 25) await rs.start();
      await new Promise((r) => setTimeout(r, 50));
    }
    await waitFor('every line delivered', () => f.counters.delivered === total && f.counters.backlogBytes === 0, 60_000);
    await waitFor('every id at rsyslog', () => ids(rs).size === total, 30_000);
  } finally {
    await f.stop();
    await run;
    await rs.stop();
  }
  assert.equal(ids(rs).size, total, 'every line reached rsyslog');
  assert.ok(f.counters.sendErrors + f.counters.broken >= 1, 'the outage was seen');
  assert.ok(rs.lines().length <= total + f.counters.resent, `duplicates (${rs.lines().length - total}) are within what was resent (${f.counters.resent})`);
  assert.ok(notes.some((n) => /retrying/.test(n)) && notes.some((n) => /sending again/.test(n)), notes.join('\n'));
});

test('TLS: the right CA delivers; a wrong CA is a clear error, the lines wait', { skip: skipTls }, async () => {
  const tls = makeTls(tempDir('lantern-tls-'));
  const rs = await startRsyslog({ tls });
  const dir = join(tempDir('lantern-fwd-'), 'in');
  appendLines(dir, 50);
  const notes: string[] = [];
  const wrong = forwarder(dir, `syslog+tls://127.0.0.1:${rs.port}`, { ca: tls.otherCa }, notes);
  try {
    for (let i = 0; i < 3; i++) await wrong.step();
    assert.equal(wrong.counters.delivered, 0);
    assert.ok(wrong.counters.failing === 1 && wrong.counters.sendErrors >= 1);
    assert.match(notes.join('\n'), /syslog\+tls:\/\/127\.0\.0\.1:\d+: .*(certificate|CERT|self.signed|UNABLE)/i);
    await wrong.stop();
    const right = forwarder(dir, `syslog+tls://127.0.0.1:${rs.port}`, { ca: tls.ca });
    const run = right.run();
    await waitFor('50 lines over TLS', () => rs.lines().length >= 50, 20_000);
    await right.stop();
    await run;
  } finally {
    await rs.stop();
  }
  assert.equal(rs.lines().length, 50);
});

test('a collector that accepts and never reads: the send times out, lines wait in the files, then all arrive', { skip }, async () => {
  const port = await freePort();
  const socks: Socket[] = [];
  let reading = false;
  let received = '';
  const server = createServer((s) => {
    socks.push(s);
    if (!reading) s.pause();
    s.on('data', (d: Buffer) => (received += d.toString()));
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const dir = join(tempDir('lantern-fwd-'), 'in');
  appendLines(dir, 40_000); // ~4 MB: more than the socket buffers hold
  const notes: string[] = [];
  const f = forwarder(dir, `syslog+tcp://127.0.0.1:${port}`, { timeoutMs: 1000, settleMs: 100 }, notes);
  const run = f.run();
  try {
    await waitFor('a timed-out send', () => f.counters.sendErrors >= 1, 15_000);
    assert.ok(f.counters.backlogBytes > 0, 'the lines wait');
    assert.ok(f.counters.delivered < 40_000);
    assert.match(notes.join('\n'), /did not take \d+ bytes within 1 s/);
    reading = true;
    for (const s of socks) s.resume();
    await waitFor('all delivered', () => f.counters.delivered === 40_000, 60_000);
  } finally {
    await f.stop();
    await run;
    for (const s of socks) s.destroy();
    server.close();
  }
  const seen = new Set([...received.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]));
  assert.equal(seen.size, 40_000);
});

test('lantern forward --once through the CLI; state survives a restart; bad options are one line', { skip }, async () => {
  const rs = await startRsyslog();
  const base = tempDir('lantern-fwd-cli-');
  const dir = join(base, 'in');
  appendLines(dir, 300);
  const args = ['forward', dir, '--to', `syslog+tcp://127.0.0.1:${rs.port}`, '--state-dir', join(base, 'state'), '--settle', '200ms', '--once', '--json'];
  try {
    const r1 = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r1.status, 0, r1.stderr);
    assert.equal(JSON.parse(r1.stdout)[0].delivered, 300);
    appendLines(dir, 200, 300);
    const r2 = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r2.status, 0, r2.stderr);
    assert.equal(JSON.parse(r2.stdout)[0].delivered, 500, 'counters carry over; only the 200 new lines were sent');
    await waitFor('500 at rsyslog', () => rs.lines().length >= 500, 20_000);
    assert.equal(rs.lines().length, 500, 'nothing sent twice');
    // A daemon run stops on SIGTERM with its position saved.
    appendLines(dir, 100, 500);
    const d = spawn(process.execPath, [BIN, ...args.filter((a) => a !== '--once' && a !== '--json')], { stdio: ['ignore', 'pipe', 'pipe'] });
    await waitFor('600 at rsyslog', () => rs.lines().length >= 600, 20_000);
    await new Promise((r) => setTimeout(r, 400));
    const code = await new Promise<number | null>((resolve) => {
      d.once('exit', (c) => resolve(c));
      d.kill('SIGTERM');
    });
    assert.equal(code, 0);
    const r3 = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(JSON.parse(r3.stdout)[0].delivered, 600);
    assert.equal(rs.lines().length, 600);
  } finally {
    await rs.stop();
  }
  const bad = spawnSync(process.execPath, [BIN, 'forward', dir, '--to', 'udp://x'], { encoding: 'utf8' });
  assert.equal(bad.status, 64);
  assert.equal(bad.stderr, 'lantern: --to: unsupported scheme "udp:" (expected syslog+tcp, syslog+tls, loki+http or loki+https)\n');
  const down = spawnSync(process.execPath, [BIN, 'forward', dir, '--to', `syslog+tcp://127.0.0.1:${await freePort()}`, '--state-dir', join(base, 's2'), '--once', '--timeout', '1s'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(down.status, 69, down.stderr);
  assert.match(down.stderr, /ECONNREFUSED.*the lines wait in the local files/);
});

test("lantern forward --store: a recorder's records reach rsyslog in id order with their severity, once", { skip }, async () => {
  const { Store } = await import('../record/store/store.js');
  const { newRecord } = await import('../record/process/model.js');
  const rs = await startRsyslog();
  const base = tempDir('lantern-fwd-store-');
  const db = join(base, 'record.db');
  const store = Store.open(db);
  const now = Date.now() * 1000;
  const rec = (type: 'exec' | 'signal', i: number, extra: Partial<ProcessRecord> = {}) =>
    newRecord({
      id: store.nextId(),
      type,
      timeUs: now + i,
      pid: 1000 + i,
      tid: 1000 + i,
      ppid: 1,
      pstartUs: now + i,
      uid: 0,
      program: '/usr/bin/java',
      comm: 'java',
      domainId: store.intern(store.root, '/usr/bin/java'),
      parentComm: 'init',
      ...extra,
    });
  store.write([rec('exec', 0), rec('signal', 1, { signal: 9, senderKind: 'kernel', detail: 'oom-killer' }), rec('signal', 2, { signal: 11, senderKind: 'kernel' })]);
  const args = ['forward', '--store', db, '--to', `syslog+tcp://127.0.0.1:${rs.port}`, '--state-dir', join(base, 'state'), '--settle', '100ms', '--once', '--json'];
  try {
    const r1 = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r1.status, 0, r1.stderr);
    assert.equal(JSON.parse(r1.stdout)[0].delivered, 3);
    store.write([rec('exec', 3)]);
    const r2 = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(JSON.parse(r2.stdout)[0].delivered, 4);
    await waitFor('4 at rsyslog', () => rs.lines().length >= 4, 20_000);
  } finally {
    store.close();
    await rs.stop();
  }
  const lines = rs.lines();
  assert.equal(lines.length, 4, 'each record once');
  assert.match(lines[0]!, /^\S+ lantern 6 \[lantern@32473 sender="[^"]+" source="record" seq="1" level="info" id="record:1"\] exec: starting \/usr\/bin\/java/);
  assert.match(lines[1]!, / 3 \[.*level="err" id="record:2"\] signal oom-kill: killed \/usr\/bin\/java pid=1001 .*SIGKILL/);
  assert.match(lines[2]!, / 4 \[.*id="record:3"\] signal: killed \/usr\/bin\/java pid=1002 .*SIGSEGV/);
  const both = spawnSync(process.execPath, [BIN, 'forward', base, '--store', db, '--to', 'syslog+tcp://127.0.0.1:1'], { encoding: 'utf8' });
  assert.equal(both.status, 64);
  assert.match(both.stderr, /give the receiver's directory, --store PATH or --analyze FILE\.\.\. \(one of them\)/);
});

test('a forwarder started before its receiver waits for the directory, then sends', { skip }, async () => {
  const rs = await startRsyslog();
  const base = tempDir('lantern-fwd-wait-');
  const dir = join(base, 'not-yet');
  const d = spawn(process.execPath, [BIN, 'forward', dir, '--to', `syslog+tcp://127.0.0.1:${rs.port}`, '--state-dir', join(base, 'state'), '--settle', '100ms'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  d.stderr.on('data', (b: Buffer) => (err += b.toString()));
  try {
    await waitFor('the waiting note', () => err.includes('does not exist yet: waiting for the receiver to create it'), 20_000);
    appendLines(dir, 10);
    await waitFor('10 at rsyslog', () => rs.lines().length >= 10, 20_000);
  } finally {
    d.kill('SIGTERM');
    await new Promise((r) => d.once('exit', r));
    await rs.stop();
  }
  assert.equal(rs.lines().length, 10);
});

test('lantern forward --analyze: each incident once, with its kind, title and severity; a rerun sends nothing again', { skip }, async () => {
  const rs = await startRsyslog();
  const base = tempDir('lantern-fwd-analyze-');
  const data = fileURLToPath(new URL('../../test/data/analyze/real/', import.meta.url));
  const logs = [join(data, 'hung_task_01.log'), join(data, 'gpf_01.log')];
  const args = ['forward', '--analyze', ...logs, '--to', `syslog+tcp://127.0.0.1:${rs.port}`, '--state-dir', join(base, 'state'), '--settle', '100ms', '--json'];
  try {
    const r1 = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r1.status, 0, r1.stderr);
    assert.equal(JSON.parse(r1.stdout)[0].delivered, 2);
    const r2 = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(JSON.parse(r2.stdout)[0].delivered, 2, 'nothing new');
    await waitFor('2 at rsyslog', () => rs.lines().length >= 2, 20_000);
  } finally {
    await rs.stop();
  }
  const lines = rs.lines();
  assert.equal(lines.length, 2);
  assert.ok(
    lines.some((l) => /^\S+ lantern 3 \[lantern@32473 .*source="analyze".*\] hung_task: INFO: task hung in tty_ldisc_hangup \(task getty:2986\) at .*hung_task_01\.log:1$/.test(l)),
    lines.join('\n'),
  );
  assert.ok(
    lines.some((l) => / lantern 2 \[.*\] oops: /.test(l)),
    lines.join('\n'),
  );
});

test(
  'a state directory on a full disk: counted and said, forwarding goes on, the receiver files untouched',
  { skip: skip ?? (process.getuid?.() !== 0 ? 'needs root (tmpfs mount)' : undefined) },
  async () => {
    const rs = await startRsyslog();
    const base = tempDir('lantern-fwd-full-');
    const dir = join(base, 'in');
    appendLines(dir, 100);
    const stateDir = join(base, 'state');
    mkdirSync(stateDir);
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', stateDir]).status, 0);
    const notes: string[] = [];
    try {
      // Fill the state directory's file system.
      spawnSync('sh', ['-c', `cat /dev/zero > ${stateDir}/fill 2>/dev/null`]);
      const dest = createDestination({ url: `syslog+tcp://127.0.0.1:${rs.port}`, source: 'netconsole', timeoutMs: 5000, settleMs: 100 });
      const f = new Forwarder(dest, { ...DEFAULT_FORWARDER, dir, statePath: join(stateDir, 'state.json'), pollMs: 20, backoffMinMs: 50, backoffMaxMs: 200, say: (l) => notes.push(l) });
      const run = f.run();
      await waitFor('100 at rsyslog', () => rs.lines().length >= 100, 20_000);
      await new Promise((r) => setTimeout(r, 800));
      await f.stop();
      await run;
      assert.ok(f.counters.stateWriteErrors >= 1, 'the failed saves are counted');
      assert.equal(f.counters.delivered, 100, 'forwarding went on');
      assert.match(notes.join('\n'), /cannot save the delivered position .*forwarding goes on/);
      assert.equal(readFileSync(join(dir, '2026-11-26.log'), 'utf8').split('\n').length - 1, 100, 'the receiver files are untouched');
    } finally {
      spawnSync('umount', ['-l', stateDir]);
      await rs.stop();
    }
  },
);

test('TLS with a client certificate: a collector that requires one takes the lines with --cert/--key, refuses them without', { skip: skipTls }, async () => {
  const tls = makeTls(tempDir('lantern-tls-client-'));
  const rs = await startRsyslog({ tls, requireClientCert: true });
  const base = tempDir('lantern-fwd-client-');
  const dir = join(base, 'in');
  appendLines(dir, 20);
  const to = `syslog+tls://127.0.0.1:${rs.port}`;
  try {
    const without = spawnSync(process.execPath, [BIN, 'forward', dir, '--to', to, '--ca', tls.ca, '--state-dir', join(base, 's1'), '--once', '--timeout', '2s', '--settle', '200ms'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(without.status, 69, without.stderr);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(rs.lines().length, 0, 'nothing accepted without a client certificate');
    const withCert = spawnSync(
      process.execPath,
      [BIN, 'forward', dir, '--to', to, '--ca', tls.ca, '--cert', tls.clientCert, '--key', tls.clientKey, '--state-dir', join(base, 's2'), '--once', '--settle', '200ms'],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(withCert.status, 0, withCert.stderr);
    await waitFor('20 lines over mutual TLS', () => rs.lines().length >= 20, 20_000);
  } finally {
    await rs.stop();
  }
  assert.equal(rs.lines().length, 20);
});
