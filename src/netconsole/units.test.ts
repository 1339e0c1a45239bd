/** Unit tests of the netconsole edges' pure parts and of the Writer on real files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAllowList, isAllowed, parseConfigToml, parseDuration, parseListen, parseSize, resolveConfig } from './config.js';
import { parseProcNetUdp } from './procnet.js';
import { Writer, fileName, senderDirName } from './writer.js';
import { BatchBuilder, forEachDatagram } from './batch.js';
import { Formatter } from './format.js';
import { CliError } from '../common/exit.js';

test('config: sizes, durations, listen addresses, allow-list', () => {
  assert.equal(parseSize('32M', 'x'), 32 * 1024 * 1024);
  assert.equal(parseSize('64k', 'x'), 65536);
  assert.equal(parseSize(4096, 'x'), 4096);
  assert.throws(() => parseSize('lots', 'x'), CliError);
  assert.equal(parseDuration('10s', 'x'), 10_000);
  assert.equal(parseDuration('500ms', 'x'), 500);
  assert.equal(parseDuration('5m', 'x'), 300_000);
  assert.deepEqual(parseListen('6666'), { address: '::', port: 6666, family: 'udp6' });
  assert.deepEqual(parseListen('0.0.0.0:7000'), { address: '0.0.0.0', port: 7000, family: 'udp4' });
  assert.deepEqual(parseListen('[::1]:7001'), { address: '::1', port: 7001, family: 'udp6' });
  assert.deepEqual(parseListen('fd00::1'), { address: 'fd00::1', port: 6666, family: 'udp6' });
  assert.throws(() => parseListen('example.com:6666'), /not an IP address/);
  assert.throws(() => parseListen('1.2.3.4:70000'), /port must be/);
  const allow = buildAllowList(['10.0.0.0/8', '192.0.2.7', 'fd00::/8'])!;
  assert.ok(isAllowed(allow, '10.1.2.3'));
  assert.ok(isAllowed(allow, '192.0.2.7'));
  assert.ok(!isAllowed(allow, '192.0.2.8'));
  assert.ok(isAllowed(allow, 'fd12::1'));
  assert.ok(!isAllowed(allow, '2001:db8::1'));
  assert.throws(() => buildAllowList(['10.0.0.0/33']), /bad prefix length/);
});

test('config: TOML file layered under command-line options; unknown keys and bad values are clear errors', () => {
  const file = parseConfigToml(
    `[netconsole]
listen = ["0.0.0.0:6666", "[::]:6667"]
dir = "/srv/netconsole"
format = "json"
time = "local"
combined = true
max_file_size = "10M"
partial_timeout = "5s"
allow = ["10.0.0.0/8"]
rcvbuf = "64M"
`,
    'test.toml',
  );
  const cfg = resolveConfig(file, { format: 'udplogger', dir: undefined });
  assert.equal(cfg.dir, '/srv/netconsole');
  assert.equal(cfg.format, 'udplogger'); // the command line wins
  assert.equal(cfg.utc, false);
  assert.equal(cfg.combined, true);
  assert.equal(cfg.maxFileBytes, 10 * 1024 * 1024);
  assert.equal(cfg.partialTimeoutMs, 5000);
  assert.equal(cfg.rcvbufBytes, 64 * 1024 * 1024);
  assert.equal(cfg.listen.length, 2);
  assert.throws(() => parseConfigToml('colour = "red"\n', 'x.toml'), /unknown setting "colour"/);
  assert.throws(() => parseConfigToml('dir = \n', 'x.toml'), /not valid TOML/);
  assert.throws(() => resolveConfig({ format: 'xml' }), /expected text, json or udplogger/);
  assert.throws(() => resolveConfig({ perSender: false }), /no output/);
  // the sample configuration shipped in packaging/ is valid
  const sample = readFileSync(new URL('../../packaging/netconsole.toml', import.meta.url), 'utf8');
  assert.equal(resolveConfig(parseConfigToml(sample, 'netconsole.toml')).listen[0]!.port, 6666);
});

test('procnet: /proc/net/udp and udp6 rows (real format) with inode and drops', () => {
  const udp = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  110: 0100007F:1A0A 00000000:0000 07 00000000:00000A00 00:00000000 00000000     0        0 123456 2 0000000000000000 17
  123: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2345 2 0000000000000000 0
`;
  assert.deepEqual(parseProcNetUdp(udp), [
    { localPort: 6666, rxQueueBytes: 2560, inode: 123456, drops: 17 },
    { localPort: 68, rxQueueBytes: 0, inode: 2345, drops: 0 },
  ]);
  const udp6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  496: 00000000000000000000000000000000:1A0A 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 99 2 0000000000000000 3
`;
  assert.deepEqual(parseProcNetUdp(udp6), [{ localPort: 6666, rxQueueBytes: 0, inode: 99, drops: 3 }]);
});

test('paths: sender directories come from the address only; file names by day and index', () => {
  assert.equal(senderDirName('10.0.0.5'), '10.0.0.5');
  assert.equal(senderDirName('FD00::1'), 'fd00::1');
  assert.equal(senderDirName('fe80::1%eth0'), 'fe80::1_eth0');
  assert.equal(senderDirName('../../etc'), '.._.._etc');
  assert.equal(senderDirName('..'), '_..');
  assert.ok(!senderDirName('../x').includes('/'));
  assert.equal(fileName('2026-11-26', 0), '2026-11-26.log');
  assert.equal(fileName('2026-11-26', 3), '2026-11-26.3.log');
});

test('batches: datagrams and sender ids survive the trip to the pipeline thread', () => {
  const b = new BatchBuilder();
  const a = b.introduce('10.0.0.1', 6665);
  const c = b.introduce('::1', 7000);
  assert.equal(b.lookup('10.0.0.1', 6665), a);
  assert.ok(b.add(a, 1.5e15, Buffer.from('one\n')));
  assert.ok(b.add(c, 1.5e15 + 1, Buffer.alloc(0)));
  assert.ok(b.add(a, 1.5e15 + 2, Buffer.from('two\n')));
  const t = b.take(false);
  const got: Array<[number, number, string]> = [];
  forEachDatagram(Buffer.from(t.buf), (id, time, p) => got.push([id, time, p.toString()]));
  assert.deepEqual(got, [
    [a, 1.5e15, 'one\n'],
    [c, 1.5e15 + 1, ''],
    [a, 1.5e15 + 2, 'two\n'],
  ]);
  assert.deepEqual(t.intros.map((i) => i.address), ['10.0.0.1', '::1']);
});

test('writer: switches files by size and by day, never splits a line, counts what it wrote', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nc-writer-'));
  try {
    const f = new Formatter('text', true);
    const w = new Writer({
      dir,
      maxFileBytes: 1000,
      maxBufferedBytes: 1 << 20,
      maxOpenFiles: 4,
      idleCloseMs: 60_000,
      retryMs: 50,
      fileMode: 0o640,
      note: (t, text) => f.note(t, text),
      now: () => Date.now() * 1000,
    });
    const line = (day: string, i: number) => ({ day, text: `${day} line ${String(i).padStart(3, '0')} ${'z'.repeat(80)}\n`, lines: 1 });
    for (let i = 0; i < 30; i++) w.write('10.0.0.1', line('2026-11-26', i));
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 30; i < 40; i++) w.write('10.0.0.1', line('2026-11-27', i));
    const { unwritten } = await w.drain(2000);
    assert.equal(unwritten, 0);
    const files = readdirSync(join(dir, '10.0.0.1')).sort();
    assert.ok(files.includes('2026-11-26.log') && files.includes('2026-11-26.1.log') && files.includes('2026-11-27.log'), files.join(' '));
    let all = '';
    for (const name of files) {
      const text = readFileSync(join(dir, '10.0.0.1', name), 'utf8');
      assert.ok(text.length <= 1000 || text.split('\n').length === 2, `${name} respects the size (unless one line is larger)`);
      assert.ok(text.endsWith('\n'));
      for (const l of text.trim().split('\n')) assert.ok(l.startsWith(name.slice(0, 10)), `${l} is in its day's file`);
      all += text;
    }
    assert.equal(all.trim().split('\n').length, 40);
    assert.equal(w.counters.linesWritten, 40);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writer: over the memory bound the oldest queued lines are dropped, counted and reported by a marker', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nc-writer-'));
  try {
    const f = new Formatter('text', true);
    const w = new Writer({
      dir,
      maxFileBytes: 0,
      maxBufferedBytes: 2000,
      maxOpenFiles: 4,
      idleCloseMs: 60_000,
      retryMs: 50,
      fileMode: 0o640,
      note: (t, text) => f.note(t, text),
      now: () => Date.now() * 1000,
    });
    // 100 lines of 100 bytes queued in one go: only the newest ~2000 bytes can stay.
    for (let i = 0; i < 100; i++) w.write('', { day: '2026-11-26', text: `line ${String(i).padStart(3, '0')} ${'q'.repeat(90)}\n`, lines: 1 });
    await w.drain(2000);
    const text = readFileSync(join(dir, '2026-11-26.log'), 'utf8');
    assert.ok(w.counters.linesLost > 0);
    assert.match(text, /lantern -- output fell behind for [\d.]+ s; queued lines were written late; \d+ lines \(\d+ bytes\) lost to the memory bound --/);
    assert.ok(text.includes('line 099'), 'the newest line is kept');
    assert.ok(!text.includes('line 000'), 'the oldest went');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writer: a file not ending in a newline gets one before the first line; a FIFO at the name is refused, not waited on, and its lines stay counted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nc-writer-'));
  try {
    const f = new Formatter('text', true);
    const troubles: string[] = [];
    const opts = {
      dir,
      maxFileBytes: 0,
      maxBufferedBytes: 1 << 20,
      maxOpenFiles: 4,
      idleCloseMs: 60_000,
      retryMs: 50,
      fileMode: 0o640,
      note: (t: number, text: string) => f.note(t, text),
      now: () => Date.now() * 1000,
      onTrouble: (t: string) => troubles.push(t),
    };
    writeFileSync(join(dir, '2026-11-26.log'), 'whole line\nhalf a li');
    const w = new Writer(opts);
    w.write('', { day: '2026-11-26', text: 'next line\n', lines: 1 });
    assert.equal((await w.drain(2000)).unwritten, 0);
    assert.equal(readFileSync(join(dir, '2026-11-26.log'), 'utf8'), 'whole line\nhalf a li\nnext line\n');
    assert.equal(w.counters.filesTerminated, 1);
    assert.match(troubles.join('\n'), /did not end in a newline/);

    // A FIFO where the log file goes: an open without O_NONBLOCK would wait for a reader forever.
    execFileSync('mkfifo', [join(dir, '2026-11-27.log')]);
    const w2 = new Writer(opts);
    for (let i = 0; i < 3; i++) w2.write('', { day: '2026-11-27', text: `line ${i}\n`, lines: 1 });
    const { unwritten } = await w2.drain(300);
    assert.equal(unwritten, 3);
    assert.equal(w2.counters.linesAccepted, w2.counters.linesWritten + w2.counters.linesLost + w2.counters.linesUnwritten);
    assert.ok(w2.counters.writeErrors > 0);
    assert.match(troubles.join('\n'), /2026-11-27\.log is not a regular file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
