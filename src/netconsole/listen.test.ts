/**
 * End-to-end tests of `lantern netconsole listen`: the real CLI as a child process, real UDP
 * datagrams over loopback, real files (and a real small tmpfs for ENOSPC, a real lowered
 * descriptor limit for EMFILE).
 */
import { skipUnlessCI } from '../common/testenv.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LANTERN, Rx, dataFile, freePort, send, sender, today, waitFor, unmount } from './test-helpers.js';

const isRoot = process.getuid?.() === 0;

function bodyLines(text: string): string[] {
  // strip "<time> <sender> " from each line
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/^\S+ \S+ /, ''));
}

test('listen: legacy and extended streams from 20 interleaved senders, split lines, fragments, gaps and restarts', async () => {
  const root = mkdtempSync(join(tmpdir(), 'nc-e2e-'));
  const rx = new Rx(root, await freePort());
  await rx.start(['--combined']);
  try {
    const consoleText = readFileSync(dataFile('hung-task-console.log'));
    const expected = consoleText.toString('utf8').replace(/\n$/, '').split('\n');
    const socks = await Promise.all(Array.from({ length: 20 }, () => sender()));
    // Each sender sends the console log cut at a different chunk size; sends are interleaved.
    const offsets = socks.map(() => 0);
    let more = true;
    while (more) {
      more = false;
      for (let i = 0; i < socks.length; i++) {
        const chunk = 37 + i * 53;
        if (offsets[i]! < consoleText.length) {
          await send(socks[i]!, rx.port, consoleText.subarray(offsets[i]!, offsets[i]! + chunk));
          offsets[i]! += chunk;
          more = true;
        }
      }
    }
    // An extended sender: records, a lost message, a fragmented one, then a reboot.
    const ext = await sender();
    await send(ext, rx.port, '6,100,5000000,-;first\n');
    await send(ext, rx.port, '6,101,5000100,-;second\n');
    await send(ext, rx.port, '4,104,5000400,-;after a gap of two\n');
    const body = 'X'.repeat(1500) + '\n SUBSYSTEM=block\n';
    await send(ext, rx.port, `6,105,5000500,-,ncfrag=1000/${body.length};` + body.slice(1000));
    await send(ext, rx.port, `6,105,5000500,-,ncfrag=0/${body.length};` + body.slice(0, 1000));
    await send(ext, rx.port, '6.18.0,6,0,12,-;Linux version 6.18.0 booting again\n');

    const total = socks.length * expected.length + 5 + 2 + 1;
    // The combined file and the per-sender file are written separately: wait for both.
    const lineCount = (t: string) => t.match(/\n/g)?.length ?? 0;
    await waitFor(`all ${total} lines written`, () => lineCount(rx.file(`${today()}.log`)) >= total && lineCount(rx.senderFiles('127.0.0.1')) >= total).catch((e) => {
      throw new Error(`${(e as Error).message}: got ${rx.file(`${today()}.log`).match(/\n/g)?.length} lines; stderr: ${rx.stderr}`);
    });
    for (const s of socks) {
      const port = s.address().port;
      const mine = rx
        .senderFiles('127.0.0.1')
        .split('\n')
        .filter((l) => l.includes(` 127.0.0.1:${port} `));
      assert.deepEqual(bodyLines(mine.join('\n')), expected, `sender port ${port}`);
    }
    const extPort = ext.address().port;
    const extLines = bodyLines(
      rx
        .senderFiles('127.0.0.1')
        .split('\n')
        .filter((l) => l.includes(` 127.0.0.1:${extPort} `))
        .join('\n'),
    );
    assert.deepEqual(extLines, [
      '<6>#100 [    5.000000] first',
      '<6>#101 [    5.000100] second',
      '-- lantern: gap: 2 messages lost (seq 102..103) --',
      '<4>#104 [    5.000400] after a gap of two',
      '<6>#105 [    5.000500] ' + 'X'.repeat(1500),
      '<6>#105 [    5.000500]  SUBSYSTEM=block',
      '-- lantern: sequence restart: seq 105 -> 0, boot time 5.000500 -> 0.000012: the sender rebooted --',
      '<6>#0 [    0.000012] Linux version 6.18.0 booting again',
    ]);
    const st = await rx.freshStats();
    assert.equal(st.gaps, 1);
    assert.equal(st.lostMessages, 2);
    assert.equal(st.restarts, 1);
    assert.equal(st.kernelDrops, 0);
    for (const s of [...socks, ext]) s.close();
    assert.equal(await rx.stop(), 0);
  } finally {
    if (rx.proc.exitCode === null) rx.proc.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});

test('listen: SIGTERM writes out partial lines and exits 0; SIGHUP reopens files moved away by logrotate', async () => {
  const root = mkdtempSync(join(tmpdir(), 'nc-sig-'));
  const rx = new Rx(root, await freePort());
  await rx.start(['--partial-timeout', '60s', '--json']);
  try {
    const s = await sender();
    await send(s, rx.port, 'before rotation\n');
    const log = join(rx.dir, '127.0.0.1', `${today()}.log`);
    await waitFor('first line', () => rx.senderFiles('127.0.0.1').includes('before rotation'));
    renameSync(log, log + '.1');
    rx.proc.kill('SIGHUP');
    await waitFor('SIGHUP handled', () => rx.stderr.includes('SIGHUP'));
    await send(s, rx.port, 'after rotation\nno newline yet');
    await waitFor('second line', () => existsSync(log) && readFileSync(log, 'utf8').includes('after rotation'));
    assert.ok(readFileSync(log + '.1', 'utf8').includes('before rotation'));
    assert.ok(!readFileSync(log + '.1', 'utf8').includes('after rotation'));
    assert.equal(await rx.stop('SIGTERM'), 0);
    const last = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!);
    assert.equal(last.text, 'no newline yet');
    assert.equal(last.partial, 'shutdown');
    s.close();
  } finally {
    if (rx.proc.exitCode === null) rx.proc.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});

test('listen: allow-list drops and counts other sources; malformed and 64 KiB datagrams are kept and counted', async () => {
  const root = mkdtempSync(join(tmpdir(), 'nc-allow-'));
  const rx = new Rx(root, await freePort());
  await rx.start(['--allow', '127.0.0.2/32', '--allow', '10.0.0.0/8']);
  try {
    const bad = await sender('127.0.0.1');
    const good = await sender('127.0.0.2');
    await send(bad, rx.port, 'from a stranger\n');
    await send(good, rx.port, '6,1,2,-;fine\n');
    await send(good, rx.port, '6,x,2,-;broken header\n');
    await send(good, rx.port, Buffer.concat([Buffer.alloc(65000, 0x41), Buffer.from([0, 0xff, 0x0a])]));
    await waitFor('lines', () => rx.senderFiles('127.0.0.2').split('\n').length >= 4);
    const st = await rx.freshStats();
    assert.equal(st.disallowed, 1);
    assert.equal(st.malformed, 1);
    assert.ok(!existsSync(join(rx.dir, '127.0.0.1')));
    const text = rx.senderFiles('127.0.0.2');
    assert.match(text, /\[malformed: bad sequence number\] 6,x,2,-;broken header/);
    assert.ok(text.includes('A'.repeat(65000) + '\\x00\\xff\n'));
    bad.close();
    good.close();
    assert.equal(await rx.stop(), 0);
  } finally {
    if (rx.proc.exitCode === null) rx.proc.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});

test('listen: the output directory removed while running is recreated, nothing lost', async () => {
  const root = mkdtempSync(join(tmpdir(), 'nc-rmdir-'));
  const rx = new Rx(root, await freePort());
  await rx.start(['--retry', '100ms']);
  try {
    const s = await sender();
    await send(s, rx.port, 'line one\n');
    await waitFor('line one', () => rx.senderFiles('127.0.0.1').includes('line one'));
    rmSync(rx.dir, { recursive: true, force: true });
    for (let i = 0; i < 50; i++) await send(s, rx.port, `after removal ${i}\n`);
    await waitFor('recreated', () => (rx.senderFiles('127.0.0.1').match(/after removal/g)?.length ?? 0) === 50);
    s.close();
    assert.equal(await rx.stop(), 0);
  } finally {
    if (rx.proc.exitCode === null) rx.proc.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});

test('listen: kernel receive-buffer drops are read from /proc/net/udp and account for every lost datagram', async () => {
  const root = mkdtempSync(join(tmpdir(), 'nc-drops-'));
  const rx = new Rx(root, await freePort());
  await rx.start(['--rcvbuf', '64k']);
  try {
    const s = await sender();
    rx.proc.kill('SIGSTOP'); // the receiver stops reading: the socket buffer fills, the kernel drops
    const n = 3000;
    for (let i = 0; i < n; i++) await send(s, rx.port, `6,${i},${i},-;message ${i} ${'x'.repeat(100)}\n`);
    rx.proc.kill('SIGCONT');
    await new Promise((r) => setTimeout(r, 300));
    await send(s, rx.port, `6,${n},${n},-;after the flood\n`);
    await waitFor('the last message', () => rx.senderFiles('127.0.0.1').includes('after the flood'));
    const st = await rx.freshStats();
    assert.ok((st.kernelDrops ?? 0) > 0, 'some datagrams were dropped by the kernel');
    assert.equal((st.datagrams ?? 0) + (st.kernelDrops ?? 0), n + 1);
    // the drops also show up as a sequence gap
    assert.equal(st.lostMessages, st.kernelDrops);
    s.close();
    assert.equal(await rx.stop(), 0);
  } finally {
    if (rx.proc.exitCode === null) rx.proc.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});

test('listen: disk full (ENOSPC on a small tmpfs): keeps receiving, holds lines, writes them and a marker once space returns', async (t) => {
  if (!isRoot) return skipUnlessCI(t, 'needs root to mount a tmpfs');
  const root = mkdtempSync(join(tmpdir(), 'nc-enospc-'));
  const mnt = join(root, 'mnt');
  mkdirSync(mnt);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]);
  if (m.status !== 0) return skipUnlessCI(t, `cannot mount tmpfs: ${m.stderr.toString()}`);
  const rx = new Rx(root, await freePort());
  (rx as { dir: string }).dir = join(mnt, 'out');
  try {
    await rx.start(['--retry', '100ms']);
    const s = await sender();
    const n = 2000;
    for (let i = 0; i < n; i++) await send(s, rx.port, `line ${String(i).padStart(5, '0')} ${'y'.repeat(80)}\n`);
    await waitFor('write errors', () => {
      rx.proc.kill('SIGUSR1');
      return existsSync(join(rx.state, 'stats.json')) && (rx.stats().writeErrors ?? 0) > 0;
    });
    // Still receiving while the disk is full: every datagram is counted (they arrive over a while).
    await waitFor('every datagram counted while the disk is full', () => {
      rx.proc.kill('SIGUSR1');
      return rx.stats().datagrams === n;
    });
    assert.equal(spawnSync('mount', ['-o', 'remount,size=4m', mnt]).status, 0);
    const marker = /lantern -- output failed \(ENOSPC\) \d+ times? for [\d.]+ s; queued lines were written late; no lines lost --/;
    // The lines, the marker and the recovery message each land on their own schedule: wait for all three.
    await waitFor('all lines after recovery', () => (rx.senderFiles('127.0.0.1').match(/ line \d{5} /g)?.length ?? 0) === n, 30_000);
    await waitFor('the recovery marker', () => marker.test(rx.senderFiles('127.0.0.1')));
    await waitFor('the recovery message', () => /writing again: output failed \(ENOSPC\)/.test(rx.stderr));
    const text = rx.senderFiles('127.0.0.1');
    assert.match(rx.stderr, /cannot write .*: ENOSPC .*holding lines in memory/);
    const got = text.match(/ line (\d{5}) /g)!.map((x) => Number(x.trim().split(' ')[1]));
    assert.deepEqual(
      got,
      Array.from({ length: n }, (_, i) => i),
      'every line once, in order',
    );
    s.close();
    assert.equal(await rx.stop(), 0);
  } finally {
    if (rx.proc.exitCode === null) rx.proc.kill('SIGKILL');
    await rx.exit;
    await unmount(mnt);
    rmSync(root, { recursive: true, force: true });
  }
});

test('listen: file-descriptor exhaustion (EMFILE under a lowered limit) closes idle files and retries', async (t) => {
  const prlimit = spawnSync('prlimit', ['--version']);
  if (prlimit.status !== 0) return skipUnlessCI(t, 'prlimit (util-linux) is not installed');
  const root = mkdtempSync(join(tmpdir(), 'nc-emfile-'));
  const rx = new Rx(root, await freePort());
  try {
    await rx.start(['--max-open-files', '10000', '--retry', '50ms', '--idle-close', '10m'], ['prlimit', '--nofile=48:48', '--']);
    // 60 senders with distinct loopback addresses: 60 directories, 60 open files wanted.
    const socks = await Promise.all(Array.from({ length: 60 }, (_, i) => sender(`127.0.1.${i + 1}`)));
    for (let round = 0; round < 3; round++) for (const [i, s] of socks.entries()) await send(s, rx.port, `sender ${i} round ${round}\n`);
    await waitFor('every sender written', () => socks.every((_, i) => (rx.senderFiles(`127.0.1.${i + 1}`).match(/round/g)?.length ?? 0) === 3), 30_000);
    for (const s of socks) s.close();
    assert.equal(await rx.stop(), 0);
    // The counters written at the stop, when every log file is closed: while they are open the
    // 48-descriptor limit can keep a SIGUSR1 stats.json from being written (a flaky wait).
    const st = rx.stats();
    assert.ok((st.fdErrors ?? 0) > 0, 'the limit was hit');
    assert.equal(st.linesLost, 0);
  } finally {
    if (rx.proc.exitCode === null) rx.proc.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});

test('listen: IPv6 listener, udplogger format in the combined file, and `lantern netconsole stats`', async () => {
  const root = mkdtempSync(join(tmpdir(), 'nc-v6-'));
  const rx = new Rx(root, await freePort());
  const port6 = await freePort();
  await rx.start(['-l', `[::1]:${port6}`, '--format', 'udplogger', '--no-per-sender', '--combined', '--time', 'local']);
  try {
    const s6 = dgram.createSocket('udp6');
    await new Promise<void>((r) => s6.bind(0, '::1', () => r()));
    s6.unref();
    await new Promise<void>((r, j) => s6.send('6,7,8000000,-;over IPv6\n', port6, '::1', (e) => (e ? j(e) : r())));
    const s4 = await sender();
    await send(s4, rx.port, 'over IPv4\n');
    const day = (() => {
      const d = new Date();
      return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
    })();
    await waitFor('both lines', () => rx.file(`${day}.log`).split('\n').length >= 3);
    const lines = rx.file(`${day}.log`).trim().split('\n');
    const p6 = s6.address().port;
    assert.ok(
      lines.some((l) => new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d \\[::1\\]:${p6} 6,7,8000000,-;over IPv6$`).test(l)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d 127\.0\.0\.1:\d+ over IPv4$/.test(l)),
      lines.join('\n'),
    );
    assert.ok(!existsSync(join(rx.dir, '127.0.0.1')), 'no per-sender directories');

    const stats = spawnSync(process.execPath, [LANTERN, 'netconsole', 'stats', '--state-dir', rx.state, '--refresh'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    assert.equal(stats.status, 0, stats.stderr);
    assert.match(stats.stdout, /^receiver pid \d+ running/);
    assert.match(stats.stdout, /listening \[::1\]:\d+: receive buffer \d+ of \d+ bytes asked/);
    assert.match(stats.stdout, /^ {2}datagrams +2$/m);
    const js = spawnSync(process.execPath, [LANTERN, 'netconsole', 'stats', '--state-dir', rx.state, '--json'], { encoding: 'utf8' });
    const doc = JSON.parse(js.stdout);
    assert.equal(doc.running, true);
    assert.equal(doc.listeners.length, 2);
    s6.close();
    s4.close();
    assert.equal(await rx.stop(), 0);
    const after = spawnSync(process.execPath, [LANTERN, 'netconsole', 'stats', '--state-dir', rx.state], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    assert.match(after.stdout, /not running/);
    const none = spawnSync(process.execPath, [LANTERN, 'netconsole', 'stats', '--state-dir', join(root, 'nowhere')], { encoding: 'utf8' });
    assert.equal(none.status, 66);
    assert.match(none.stderr, /no stats at .*is the receiver running/);
  } finally {
    if (rx.proc.exitCode === null) rx.proc.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});

test('listen: bad options and a port in use are clear errors with stable exit codes', async () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [LANTERN, 'netconsole', 'listen', ...args], { encoding: 'utf8', timeout: 10_000 });
  const bad = run('--format', 'xml');
  assert.equal(bad.status, 64);
  const badListen = run('-l', 'receiver.example:6666');
  assert.equal(badListen.status, 64);
  assert.match(badListen.stderr, /not an IPv4 or IPv6 address/);
  const root = mkdtempSync(join(tmpdir(), 'nc-inuse-'));
  const busy = dgram.createSocket('udp4');
  await new Promise<void>((r) => busy.bind(0, '127.0.0.1', () => r()));
  busy.unref();
  try {
    const inUse = run('-l', `127.0.0.1:${busy.address().port}`, '-d', join(root, 'out'), '--state-dir', join(root, 'st'));
    assert.equal(inUse.status, 69);
    assert.match(inUse.stderr, /cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
    const cfg = join(root, 'bad.toml');
    writeFileSync(cfg, 'colour = "red"\n');
    const badCfg = run('-c', cfg);
    assert.equal(badCfg.status, 65);
    assert.match(badCfg.stderr, /unknown setting "colour"/);
  } finally {
    busy.close();
    rmSync(root, { recursive: true, force: true });
  }
});
