/**
 * Local sources for real: a QEMU-style Unix socket (socat UNIX-LISTEN, we connect), a pty pair
 * (socat pty,raw,echo=0 pty,raw,echo=0) as the serial line, with its termios settings checked
 * and restored and a hang-up followed by a reopen; a file appended to, truncated, rotated and
 * removed. And what a serial source captured is read by `lantern analyze`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, closeSync, constants as fsc, existsSync, lstatSync, openSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { facilitySkip, tempDir } from '../common/testenv.js';
import { loadTermios } from './termios.js';
import { LANTERN, Rx, Socat, bodies, dataFile, noSocat, read, waitFor } from './test-helpers.js';

const sysrq = readFileSync(dataFile('../analyze/cases/sysrq_t_3.10.log'), 'latin1').replace(/\n$/, '').split('\n');
let unixCapture = '';

test('unix: a QEMU-style chardev socket (server); SysRq-T with CR LF; the line without end written at SIGTERM', { skip: facilitySkip(noSocat) }, async () => {
  const root = tempDir('console-unix-');
  const sock = join(root, 'vm7.serial');
  const stream = join(root, 'stream.raw');
  writeFileSync(stream, sysrq.map((l) => l + '\r\n').join('') + '[ 7000.200000] sysrq: no end');
  const qemu = new Socat([`OPEN:${stream},ignoreeof!!OPEN:/dev/null`, `UNIX-LISTEN:${sock}`]);
  const rx = new Rx(root);
  try {
    await qemu.listening();
    await rx.start(`partial_timeout = "30s"\n[source.vm7]\ntype = "unix"\npath = "${sock}"\n`);
    const file = rx.file('vm7');
    await waitFor(
      'the burst',
      () => read(file).includes('sshd'),
      10_000,
      () => read(file) + rx.stderr,
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await rx.stop(), { code: 0, signal: null }, rx.stderr);
    assert.deepEqual(bodies(read(file), 'vm7'), [`-- lantern: connected to ${sock} --`, ...sysrq, '[partial: shutdown] [ 7000.200000] sysrq: no end']);
    const c = rx.stats().sources[0]!.counters;
    assert.equal(c.lines, sysrq.length);
    assert.equal(c.partialLines, 1);
    assert.equal(c.telnetCommands, 0);
    unixCapture = join(root, 'capture.log');
    writeFileSync(unixCapture, read(file));
  } finally {
    rx.kill();
    qemu.kill();
  }
});

test('unix-listen: QEMU chardev sockets in client mode connect to us; one stream per connection, labelled NAME/cN; the socket is removed at exit', { skip: facilitySkip(noSocat) }, async () => {
  const root = tempDir('console-unixl-');
  const sock = join(root, 'vm8.serial');
  const stream = join(root, 'stream.raw');
  writeFileSync(
    stream,
    sysrq
      .slice(0, 20)
      .map((l) => l + '\r\n')
      .join('') + '[ 7000.300000] cut by the disconnect',
  );
  const rx = new Rx(root);
  let second: net.Socket | null = null;
  try {
    await rx.start(`[source.vm8]\ntype = "unix-listen"\npath = "${sock}"\n`);
    assert.ok(lstatSync(sock).isSocket());
    const file = rx.file('vm8');
    // The first "guest" sends its burst and goes away mid-line; the second stays connected.
    const qemu = new Socat(['-u', `OPEN:${stream}`, `UNIX-CONNECT:${sock}`]);
    assert.equal(await qemu.exit, 0, qemu.stderr);
    second = net.connect({ path: sock });
    await new Promise((r) => second!.once('connect', r));
    second.write('[ 7001.000000] second guest\r\n');
    await waitFor(
      'both connections',
      () => read(file).includes('second guest') && read(file).includes('cut by the disconnect'),
      10_000,
      () => read(file) + rx.stderr,
    );
    assert.deepEqual(await rx.stop(), { code: 0, signal: null }, rx.stderr);
    const lines = read(file).split('\n').slice(0, -1);
    const of = (label: string) => lines.filter((l) => l.split(' ')[1] === label).map((l) => l.slice(l.indexOf(' ', l.indexOf(' ') + 1) + 1));
    assert.deepEqual(of('vm8/c1'), [
      '-- lantern: connection from c1 --',
      ...sysrq.slice(0, 20),
      '[partial: disconnect] [ 7000.300000] cut by the disconnect',
      '-- lantern: connection from c1 closed (by the other end) --',
    ]);
    assert.deepEqual(of('vm8/c2'), ['-- lantern: connection from c2 --', '[ 7001.000000] second guest']);
    const c = rx.stats().sources[0]!.counters;
    assert.equal(c.connects, 2);
    assert.equal(c.disconnects, 1);
    assert.equal(existsSync(sock), false, 'the socket is removed when the receiver stops');
  } finally {
    second?.destroy();
    rx.kill();
  }
});

test('unix-listen: a socket nobody listens on is replaced; a live one, a file, a link or a device node at the path is refused (69) and left as it was', { skip: facilitySkip(noSocat) }, async () => {
  const root = tempDir('console-unixr-');
  const sock = join(root, 'x.sock');
  // Its own directories (one receiver per directory is refused before the socket is looked at).
  const listenOnce = (): { code: number | null; err: string } => {
    const r = spawnSync(process.execPath, [LANTERN, 'console', 'listen', '-s', `unix-listen:${sock}`, '-n', 'x', '--dir', join(root, 'log2'), '--state-dir', join(root, 'state2')], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    return { code: r.status, err: r.stderr };
  };
  // A receiver killed with SIGKILL leaves its socket: the next start removes it and listens.
  const stale = new Socat([`UNIX-LISTEN:${sock}`, 'OPEN:/dev/null']);
  await stale.listening();
  stale.proc.kill('SIGKILL');
  await stale.exit;
  assert.ok(lstatSync(sock).isSocket(), 'the killed listener left its socket');
  const rx = new Rx(root);
  try {
    await rx.start(`[source.x]\ntype = "unix-listen"\npath = "${sock}"\n`);
    // While it listens, a second receiver on the same path is refused and the first keeps its socket.
    const busy = listenOnce();
    assert.equal(busy.code, 69, busy.err);
    assert.match(busy.err, /another process listens on it/);
    const c = net.connect({ path: sock });
    await new Promise((r, j) => (c.once('connect', r), c.once('error', j)));
    c.destroy();
    assert.deepEqual(await rx.stop(), { code: 0, signal: null }, rx.stderr);
  } finally {
    rx.kill();
  }
  const outside = join(root, 'outside.txt');
  writeFileSync(outside, 'keep\n');
  for (const [what, make] of [
    ['a regular file', () => writeFileSync(sock, 'keep\n')],
    ['a link', () => symlinkSync(outside, sock)],
    ['a dangling link', () => symlinkSync(join(root, 'nowhere'), sock)],
    ['a device node', () => spawnSync('mknod', [sock, 'c', '1', '3'])],
  ] as const) {
    rmSync(sock, { force: true });
    make();
    const before = lstatSync(sock);
    const r = listenOnce();
    assert.equal(r.code, 69, `${what}: ${r.err}`);
    assert.match(r.err, /exists and is not a socket \(not replaced\)/, what);
    const after = lstatSync(sock);
    assert.equal(after.ino, before.ino, `${what} left in place`);
    assert.equal(readFileSync(outside, 'utf8'), 'keep\n');
    assert.equal(existsSync(join(root, 'nowhere')), false, 'nothing made through the dangling link');
  }
});

// lantern analyze reads `<time> <source name> <text>` console lines (CONSOLE_RE in src/analyze/normalize.ts).
test('analyze: a SysRq-T captured from a serial source is read into its D-state tasks', () => {
  assert.ok(unixCapture, 'the unix test wrote its capture');
  const a = spawnSync(process.execPath, [LANTERN, 'analyze', '--json', unixCapture], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(a.status, 0, a.stderr);
  const doc = JSON.parse(a.stdout);
  const show = doc.groups.find((g: { kind: string }) => g.kind === 'sysrq_show_state')?.example;
  assert.ok(show, a.stdout.slice(0, 2000));
  assert.equal(show.sysrq.tasks, 6);
  assert.deepEqual(show.sysrq.byState, { S: 1, D: 4, R: 1 });
  assert.deepEqual(
    show.sysrq.blockedGroups.map((g: { count: number; frames: string[] }) => [g.count, g.frames[0]]),
    [
      [3, 'rwsem_down_read_failed'],
      [1, 'jbd2_journal_commit_transaction'],
    ],
  );
});

const termios = loadTermios();
const noTermios = 'error' in termios ? termios.error : undefined;

function lineSettings(path: string) {
  const fd = openSync(path, fsc.O_RDWR | fsc.O_NOCTTY | fsc.O_NONBLOCK);
  try {
    return (termios as { mod: import('./termios.js').Termios }).mod.query(fd);
  } finally {
    closeSync(fd);
  }
}

test(
  'tty: a pty pair as the serial line: termios set (speed, framing, raw) and restored; lines, erasures, quiet partial; hang-up and reopen marked',
  { skip: facilitySkip(noSocat ?? noTermios) },
  async () => {
    const root = tempDir('console-tty-');
    const host = join(root, 'host');
    const guest = join(root, 'guest');
    const pair = () => new Socat([`pty,raw,echo=0,link=${host}`, `pty,raw,echo=0,link=${guest}`]);
    let socat = pair();
    const rx = new Rx(root);
    const send = (text: string) => {
      const fd = openSync(host, fsc.O_WRONLY | fsc.O_NOCTTY);
      writeSync(fd, Buffer.from(text, 'latin1'));
      closeSync(fd);
    };
    try {
      await waitFor(
        'the pty pair',
        () => existsSync(host) && existsSync(guest) && /starting data transfer loop/.test(socat.stderr),
        10_000,
        () => socat.stderr,
      );
      await rx.start(`partial_timeout = "300ms"\n[source.ttyS1]\ntype = "tty"\npath = "${guest}"\nbaud = 9600\nframing = "8N2"\nreconnect_min = "100ms"\nreconnect_max = "400ms"\n`);
      // (A pty keeps speed and stop bits but, since Linux 6.x, always reports 8 bits and no parity.)
      assert.deepEqual(lineSettings(guest), { baud: 9600, dataBits: 8, parity: 'none', stopBits: 2, raw: true });
      const file = rx.file('ttyS1');
      send('[    0.000000] Linux version 6.1.0\r\n[    0.1] ok\r');
      send('\nlogin: rooot\x08\x7f\x08ot\r\nno end yet');
      await waitFor(
        'the quiet partial',
        () => read(file).includes('[partial: timeout] no end yet'),
        10_000,
        () => read(file) + rx.stderr,
      );
      // The line's other end goes away (the pty master closes): a hang-up, then it comes back.
      socat.proc.kill('SIGTERM');
      await socat.exit;
      await waitFor(
        'the hang-up marker',
        () => read(file).includes('hung up'),
        10_000,
        () => read(file) + rx.stderr,
      );
      socat = pair();
      await waitFor(
        'the reopen',
        () => (read(file).match(/opened /g) ?? []).length === 2,
        15_000,
        () => read(file) + rx.stderr + socat.stderr,
      );
      send('after the reopen\r\n');
      await waitFor(
        'the line after the reopen',
        () => read(file).includes('after the reopen'),
        10_000,
        () => read(file),
      );
      const during = lineSettings(guest);
      assert.equal(during.baud, 9600, 'set again on the new line');
      assert.deepEqual(await rx.stop(), { code: 0, signal: null }, rx.stderr);
      const got = bodies(read(file), 'ttyS1');
      assert.equal(got[0], `-- lantern: opened ${guest} at 9600 8N2 raw --`);
      assert.deepEqual(got.slice(1, 5), ['[    0.000000] Linux version 6.1.0', '[    0.1] ok', 'login: root', '[partial: timeout] no end yet']);
      assert.match(got[5]!, new RegExp(`^-- lantern: ${guest} hung up \\((EIO|end of file)\\); reopening in 100 ms --$`));
      assert.match(got[6]!, new RegExp(`^-- lantern: opened ${guest} at 9600 8N2 raw( after \\d+ failed attempts?)? --$`));
      assert.deepEqual(got.slice(7), ['after the reopen']);
      const c = rx.stats().sources[0]!.counters;
      assert.equal(c.erasures, 3);
      assert.equal(c.connects, 2);
      assert.equal(c.disconnects, 1);
      assert.equal(c.partialLines, 1);
      assert.equal(c.lines, 4);
    } finally {
      rx.kill();
      socat.kill();
    }
  },
);

test('tty: the settings found on the line are put back at exit', { skip: facilitySkip(noSocat ?? noTermios) }, async () => {
  const root = tempDir('console-tty2-');
  const host = join(root, 'host');
  const guest = join(root, 'guest');
  const socat = new Socat([`pty,raw,echo=0,link=${host}`, `pty,link=${guest}`]); // the guest end cooked, as a pty starts
  const rx = new Rx(root);
  try {
    await waitFor(
      'the pty pair',
      () => existsSync(guest) && /starting data transfer loop/.test(socat.stderr),
      10_000,
      () => socat.stderr,
    );
    const before = lineSettings(guest);
    assert.equal(before.raw, false);
    await rx.start(`[source.s]\ntype = "tty"\npath = "${guest}"\nbaud = 115200\n`);
    assert.deepEqual(lineSettings(guest), { baud: 115200, dataBits: 8, parity: 'none', stopBits: 1, raw: true });
    assert.deepEqual(await rx.stop(), { code: 0, signal: null }, rx.stderr);
    assert.deepEqual(lineSettings(guest), before);
  } finally {
    rx.kill();
    socat.kill();
  }
});

test('tty: a path that is not a serial line is refused at start, named, exit 69', () => {
  const root = tempDir('console-tty3-');
  const plain = join(root, 'not-a-tty');
  writeFileSync(plain, '');
  const r = spawnSync(process.execPath, [LANTERN, 'console', 'listen', '-s', `tty:${plain}`, '-d', join(root, 'log'), '--state-dir', join(root, 'st')], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 69, r.stderr);
  assert.match(r.stderr, new RegExp(`lantern: source console: cannot (open ${plain} as a serial line: ENOTTY \\(not a tty\\)|set the line of ${plain}: .*)\\n$`));
});

test('file: appended to, truncated, rotated, removed and recreated: followed like tail -F, each step marked, nothing read twice or lost', async () => {
  const root = tempDir('console-file-');
  const log = join(root, 'vm3-console.log');
  const initial = 'before the start: not read (start_at = "end")\n';
  writeFileSync(log, initial);
  const rx = new Rx(root);
  try {
    await rx.start(`partial_timeout = "30s"\n[source.vm3]\ntype = "file"\npath = "${log}"\npoll = "50ms"\n`);
    const file = rx.file('vm3');
    const until = (what: string, text: string) =>
      waitFor(
        what,
        () => read(file).includes(text),
        10_000,
        () => read(file) + rx.stderr,
      );
    appendFileSync(log, 'one\r\ntwo\r\nthr');
    appendFileSync(log, 'ee\r\n');
    await until('the appended lines', 'three');
    writeFileSync(log, 'four\n'); // copytruncate: shorter than what was read
    await until('after the truncation', 'four');
    renameSync(log, `${log}.1`);
    appendFileSync(`${log}.1`, 'five (into the rotated file)\n');
    writeFileSync(log, 'six (the new file)\n');
    await until('after the rotation', 'six');
    rmSync(log);
    await until('the removal', 'removed or renamed');
    writeFileSync(log, 'seven\nno end');
    await until('the new file', 'seven');
    assert.deepEqual(await rx.stop(), { code: 0, signal: null }, rx.stderr);
    const got = bodies(read(file), 'vm3');
    assert.deepEqual(got.slice(0, 3), ['one', 'two', 'three']);
    assert.match(got[3]!, new RegExp(`^-- lantern: ${log} was truncated \\(from ${initial.length + 17} to [05] bytes\\): reading it again from its start --$`));
    assert.deepEqual(got.slice(4, 6), ['four', 'five (into the rotated file)']);
    assert.equal(got[6], `-- lantern: ${log} was rotated: the old file was read to its end; following the new file from its start --`);
    assert.equal(got[7], 'six (the new file)');
    assert.equal(got[8], `-- lantern: ${log} was removed or renamed: the old file was read to its end; waiting for a new one --`);
    assert.equal(got[9], `-- lantern: ${log} appeared: reading it from its start --`);
    assert.deepEqual(got.slice(10), ['seven', '[partial: shutdown] no end']);
    const c = rx.stats().sources[0]!.counters;
    assert.equal(c.truncations, 1);
    assert.equal(c.rotations, 2);
    assert.equal(c.lines, 7);
    assert.equal(c.partialLines, 1);
  } finally {
    rx.kill();
  }
});

test('tty: a line missing at start (a USB adapter not plugged in yet) is waited for, then opened', { skip: facilitySkip(noSocat ?? noTermios) }, async () => {
  const root = tempDir('console-tty4-');
  const host = join(root, 'host');
  const guest = join(root, 'guest');
  const rx = new Rx(root);
  let socat: Socat | null = null;
  try {
    await rx.start(`[source.usb0]\ntype = "tty"\npath = "${guest}"\nreconnect_min = "100ms"\nreconnect_max = "200ms"\n`);
    const file = rx.file('usb0');
    await waitFor(
      'the waiting marker',
      () => read(file).includes('does not exist (yet)'),
      10_000,
      () => rx.stderr,
    );
    socat = new Socat([`pty,raw,echo=0,link=${host}`, `pty,raw,echo=0,link=${guest}`]);
    await waitFor(
      'the open',
      () => read(file).includes('opened '),
      10_000,
      () => read(file) + rx.stderr,
    );
    const fd = openSync(host, fsc.O_WRONLY | fsc.O_NOCTTY);
    writeSync(fd, 'plugged in\r\n');
    closeSync(fd);
    await waitFor(
      'the line',
      () => read(file).includes('plugged in'),
      10_000,
      () => read(file),
    );
    assert.deepEqual(await rx.stop(), { code: 0, signal: null }, rx.stderr);
    const got = bodies(read(file), 'usb0');
    assert.equal(got[0], `-- lantern: ${guest} does not exist (yet); waiting for it --`);
    assert.match(got[1]!, new RegExp(`^-- lantern: opened ${guest} at 115200 8N1 raw after \\d+ failed attempts? --$`));
    assert.deepEqual(got.slice(2), ['plugged in']);
  } finally {
    rx.kill();
    socat?.kill();
  }
});
