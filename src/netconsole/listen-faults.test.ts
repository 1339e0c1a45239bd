/**
 * `lantern netconsole listen` under faults, end to end with the real CLI: a stdout whose reader
 * goes away (a real `head -1`), a disk that fills up (a real small tmpfs, enlarged with a real
 * remount, or left full over SIGTERM), and a flood of fake ncfrag fragments over real UDP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type dgram from 'node:dgram';
import { skipUnlessCI } from '../common/testenv.js';
import { Rx, freePort, send, sender, today, waitFor, unmount } from './test-helpers.js';

const isRoot = process.getuid?.() === 0;

/** The counters at the receiver's exit, from the stats line it logs last. */
function exitLine(stderr: string): Record<string, number> {
  const lines = stderr.split('\n').filter((l) => l.includes(' stats: '));
  const last = lines[lines.length - 1] ?? '';
  return Object.fromEntries([...last.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
}

async function statsWhen(rx: Rx, cond: (c: Record<string, number | null>) => boolean, what: string, ms = 20_000): Promise<Record<string, number | null>> {
  let c: Record<string, number | null> = {};
  await waitFor(
    what,
    () => {
      try {
        c = rx.stats();
      } catch {
        return false;
      }
      if (cond(c)) return true;
      rx.proc.kill('SIGUSR1');
      return false;
    },
    ms,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; last counters ${JSON.stringify(c)}`);
  });
  return c;
}

for (const receiver of ['auto', 'dgram'])
  test(`listen --stdout | head -1 (--receiver ${receiver}): the closed pipe stops the stdout copy only; the receiver goes on writing its files and counts what stdout missed`, async () => {
    const root = mkdtempSync(join(tmpdir(), 'nc-epipe-'));
    const head = spawn('head', ['-1'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let headOut = '';
    head.stdout!.on('data', (d) => (headOut += d));
    const headExit = new Promise((r) => head.on('exit', r));
    const rx = new Rx(root, await freePort());
    try {
      await rx.start(['--stdout', '--receiver', receiver], [], head.stdin!);
      // Only the receiver holds the pipe's write end now: head's exit closes the pipe for real.
      head.stdin!.destroy();
      const s = await sender();
      await send(s, rx.port, 'line 1 to both\n');
      await headExit;
      assert.match(headOut, / line 1 to both\n$/);
      const n = 50;
      for (let i = 2; i <= n + 1; i++) await send(s, rx.port, `line ${i} to the file\n`);
      const c = await statsWhen(rx, (x) => x.linesWritten === n + 1 && x.stdoutDropped === n, 'every line in the file, the rest counted as dropped from stdout');
      assert.equal(rx.proc.exitCode, null, 'still running');
      assert.equal(c.lines, n + 1);
      assert.match(rx.stderr, /stdout closed \(EPIPE\): no longer copying lines to it/);
      assert.doesNotMatch(rx.stderr, /Unhandled|    at /);
      const file = readFileSync(join(rx.dir, '127.0.0.1', `${today()}.log`), 'utf8');
      assert.equal(file.split('\n').filter(Boolean).length, n + 1);
      s.close();
      assert.equal(await rx.stop(), 0, rx.stderr);
      const last = exitLine(rx.stderr);
      assert.equal(last.stdoutDropped, n);
      assert.equal(last.linesWritten, n + 1);
    } finally {
      if (rx.proc?.exitCode === null) rx.proc.kill('SIGKILL');
      head.kill('SIGKILL');
      rmSync(root, { recursive: true, force: true });
    }
  });

/** Every line of a sender's files: whole lines of ours (a numbered line or a marker), in order, each once. */
function checkWholeLines(text: string): number[] {
  assert.ok(text === '' || text.endsWith('\n'), 'the file ends with a whole line');
  const got: number[] = [];
  for (const l of text.split('\n').slice(0, -1)) {
    const m = /^\S+ 127\.0\.0\.1:\d+ line (\d{5}) y{80}$/.exec(l);
    if (m) got.push(Number(m[1]));
    else assert.match(l, /^\S+ lantern -- output (failed \(ENOSPC\)|fell behind) .* --$/, `a torn or foreign line: ${JSON.stringify(l)}`);
  }
  return got;
}

function mountTmpfs(dir: string, size: string): string | null {
  mkdirSync(dir, { recursive: true });
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  return m.status === 0 ? null : `cannot mount tmpfs: ${m.stderr.toString()}`;
}

const line = (i: number) => `line ${String(i).padStart(5, '0')} ${'y'.repeat(80)}\n`;

test('listen: disk full and enlarged (256k tmpfs): markers only between whole lines, every line written once, counters equal what arrived', async (t) => {
  if (!isRoot) return skipUnlessCI(t, 'needs root to mount a tmpfs');
  const root = mkdtempSync(join(tmpdir(), 'nc-full-'));
  const mnt = join(root, 'mnt');
  const why = mountTmpfs(mnt, '256k');
  if (why) return skipUnlessCI(t, why);
  const rx = new Rx(root, await freePort());
  (rx as { dir: string }).dir = join(mnt, 'out');
  try {
    await rx.start(['--retry', '100ms']);
    const s = await sender();
    const n = 4000;
    for (let i = 0; i < n; i++) await send(s, rx.port, line(i));
    await statsWhen(rx, (c) => (c.writeErrors ?? 0) > 0 && c.datagrams === n, 'write errors, and every datagram counted while the disk is full');
    assert.equal(spawnSync('mount', ['-o', 'remount,size=4m', mnt]).status, 0);
    const c = await statsWhen(rx, (x) => x.linesWritten === n, 'every line written after the remount', 30_000);
    const got = checkWholeLines(rx.senderFiles('127.0.0.1'));
    assert.deepEqual(
      got,
      Array.from({ length: n }, (_, i) => i),
      'every line once, in order',
    );
    assert.match(rx.senderFiles('127.0.0.1'), /lantern -- output failed \(ENOSPC\)/);
    assert.equal(c.lines, n);
    assert.equal(c.linesAccepted, n);
    assert.equal(c.linesLost, 0);
    assert.equal(c.linesQueued, 0);
    s.close();
    assert.equal(await rx.stop(), 0, rx.stderr);
  } finally {
    if (rx.proc?.exitCode === null) rx.proc.kill('SIGKILL');
    await rx.exit;
    await unmount(mnt);
    rmSync(root, { recursive: true, force: true });
  }
});

test('listen: SIGTERM on a full disk: written + lost + unwritten = what arrived, the file ends with a whole line, and a restart never glues onto a partial line', async (t) => {
  if (!isRoot) return skipUnlessCI(t, 'needs root to mount a tmpfs');
  const root = mkdtempSync(join(tmpdir(), 'nc-fullterm-'));
  const mnt = join(root, 'mnt');
  const why = mountTmpfs(mnt, '256k');
  if (why) return skipUnlessCI(t, why);
  const rx = new Rx(root, await freePort());
  (rx as { dir: string }).dir = join(mnt, 'out');
  let s: dgram.Socket | null = null;
  try {
    // A small memory bound, so that lines are also lost to it: all three counters take part.
    // (It is shed in whole queued chunks of up to 256 KiB: 1 MiB keeps some queued.)
    await rx.start(['--retry', '100ms', '--max-buffer', '1m']);
    s = await sender();
    const n = 12_000;
    for (let i = 0; i < n; i++) await send(s, rx.port, line(i));
    await statsWhen(rx, (c) => c.datagrams === n && (c.writeErrors ?? 0) > 0 && (c.linesLost ?? 0) > 0, 'every datagram counted, write errors and lines lost');
    assert.equal(await rx.stop(), 74, rx.stderr); // EXIT.IOERR: lines left unwritten
    const last = exitLine(rx.stderr);
    const final = rx.stats();
    for (const c of [last, final]) {
      assert.equal(c.lines, n);
      assert.ok((c.linesWritten ?? 0) > 0 && (c.linesLost ?? 0) > 0 && (c.linesUnwritten ?? 0) > 0, JSON.stringify(c));
      assert.equal((c.linesWritten ?? 0) + (c.linesLost ?? 0) + (c.linesUnwritten ?? 0), n, JSON.stringify(c));
    }
    assert.equal(final.linesQueued, 0);
    assert.match(rx.stderr, new RegExp(`error: ${last.linesUnwritten} lines could not be written before exit`));
    const text = rx.senderFiles('127.0.0.1');
    const got = checkWholeLines(text);
    assert.equal(got.length, last.linesWritten, 'the lines counted as written are the lines in the file');
    assert.deepEqual(
      got,
      [...got].sort((a, b) => a - b),
      'in order',
    );

    // A predecessor killed in the middle of a line (simulated: the file ends without a newline):
    // the next start ends that line first.
    assert.equal(spawnSync('mount', ['-o', 'remount,size=4m', mnt]).status, 0);
    const file = join(rx.dir, '127.0.0.1', readdirSync(join(rx.dir, '127.0.0.1')).sort().pop()!);
    appendFileSync(file, 'half a line from a receiver killed mid-wri');
    const rx2 = new Rx(root, rx.port);
    (rx2 as { dir: string }).dir = rx.dir;
    try {
      await rx2.start(['--retry', '100ms']);
      await send(s, rx2.port, line(99999));
      await statsWhen(rx2, (c) => c.linesWritten === 1, 'the new line written');
      const after = readFileSync(file, 'utf8');
      assert.ok(after.endsWith('\nhalf a line from a receiver killed mid-wri\n' + after.split('\n').slice(-2)[0] + '\n'), after.slice(-400));
      assert.match(after.split('\n').slice(-2)[0]!, /^\S+ 127\.0\.0\.1:\d+ line 99999 y{80}$/);
      assert.equal(rx2.stats().filesTerminated, 1);
      assert.match(rx2.stderr, /did not end in a newline/);
      assert.equal(await rx2.stop(), 0, rx2.stderr);
    } finally {
      if (rx2.proc?.exitCode === null) rx2.proc.kill('SIGKILL');
      await rx2.exit;
    }
  } finally {
    s?.close();
    if (rx.proc?.exitCode === null) rx.proc.kill('SIGKILL');
    await rx.exit;
    await unmount(mnt);
    rmSync(root, { recursive: true, force: true });
  }
});

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

test('listen: a flood of fake ncfrag fragments (each announcing 128 KiB) keeps memory bounded, evicts the oldest and counts it; real fragments still reassemble', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'nc-frag-'));
  const rx = new Rx(root, await freePort());
  const socks: dgram.Socket[] = [];
  try {
    await rx.start(['--max-fragment-memory', '2m', '--frag-timeout', '30s']);
    const base = rssKiB(rx.proc.pid!);
    // 250 senders (source ports) x 16 messages each, 40 bytes received of 128 KiB announced:
    // a buffer of the announced size each was 500 MiB; 2 MiB of budget holds about 3,000.
    for (let i = 0; i < 250; i++) socks.push(await sender());
    const rounds = 200;
    let sent = 0;
    for (let r = 0; r < rounds; r++) {
      await Promise.all(socks.map((s) => send(s, rx.port, `6,${r},1,-,ncfrag=0/131072;${'f'.repeat(40)}`)));
      sent += socks.length;
    }
    const c = await statsWhen(rx, (x) => (x.fragments ?? 0) + (x.kernelDrops ?? 0) >= sent, 'every fake fragment received or counted as dropped by the kernel', 60_000);
    const grown = rssKiB(rx.proc.pid!) - base;
    t.diagnostic(`resident size grew by ${grown} KiB for ${sent} fake fragments`);
    assert.ok(grown < 128 * 1024, `resident size grew by ${grown} KiB`);
    assert.ok((c.fragmentsEvicted ?? 0) > 0, JSON.stringify(c));
    assert.ok((c.fragmentBytes ?? 0) <= 2 * 1024 * 1024, JSON.stringify(c));

    // A real message in three fragments, out of order, from a fresh sender.
    const body = 'real message ' + 'r'.repeat(2000) + ' end\n';
    const total = body.length;
    const real = socks[0]!;
    const frag = (off: number, end: number) => `6,777777,5,-,ncfrag=${off}/${total};${body.slice(off, end)}`;
    await send(real, rx.port, frag(1500, total));
    await send(real, rx.port, frag(0, 700));
    await send(real, rx.port, frag(700, 1500));
    await waitFor('the real message, reassembled', () => rx.senderFiles('127.0.0.1').includes(`real message ${'r'.repeat(2000)} end\n`), 20_000);
    for (const s of socks) s.close();
    assert.equal(await rx.stop(), 0, rx.stderr);
    const f = rx.stats();
    // Every fake message was given up exactly once (evicted, or flushed at the stop) and written
    // with what arrived; the real one was written whole.
    assert.equal(f.fragmentsExpired, (f.fragments ?? 0) - 3, JSON.stringify(f));
    assert.equal(f.lines, (f.fragmentsExpired ?? 0) + 1, JSON.stringify(f));
    // (Output lines: also any gap or late markers the given-up messages' sequence numbers call for.)
    assert.equal(f.linesWritten, f.linesAccepted, JSON.stringify(f));
    assert.equal(f.linesLost, 0);
    assert.equal(f.fragmentBytes, 0);
    const last = exitLine(rx.stderr);
    assert.equal(last.fragmentsEvicted, f.fragmentsEvicted);
    const incomplete = rx
      .senderFiles('127.0.0.1')
      .split('\n')
      .filter((l) => l.includes(`${'f'.repeat(40)} [...]`));
    assert.equal(incomplete.length, f.fragmentsExpired);
  } finally {
    for (const s of socks) s.unref();
    if (rx.proc?.exitCode === null) rx.proc.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});
