/**
 * End-to-end, on real files, pipes and special files: the real `lantern analyze` binary reading
 * truncated archives, process substitution, /dev/stdin, FIFOs with and without a writer, device
 * nodes and sockets, binary files (a real core dump, wtmp from utmpdump, a journal-like file),
 * logs with crash holes, and a 200 MB line. Everything generated lives in a temp dir removed after.
 */
import { skipUnlessCI } from '../common/testenv.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { journalLike } from './binarygen.js';

const bin = new URL('../../bin/lantern.js', import.meta.url).pathname;
const real = new URL('../../test/data/analyze/real/', import.meta.url).pathname;
const LOG = join(real, 'hung_task_02.log'); // 215 lines, 5 incidents (4 hung tasks, 1 panic)
const tmp = mkdtempSync(join(tmpdir(), 'lantern-analyze-inputs-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

interface Input {
  name: string;
  format: string;
  compression?: string;
  bytes: number;
  lines: number;
  overlongLines: number;
  overlongBytesCut: number;
  invalidUtf8Lines: number;
  nulBytes: number;
  nulRuns: number;
  incidents: number;
  truncated?: boolean;
  error?: string;
}
interface Doc {
  inputs: Input[];
  summary: { incidents: number; byKind: Record<string, number> };
}

interface Run {
  code: number | null;
  out: string;
  err: string;
  ms: number;
}

/** The binary, run by node directly (or inside `bash -c` for process substitution). */
function lantern(args: string[], opts: { input?: string | Buffer; stdin?: number; timeout?: number } = {}): Run {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [bin, 'analyze', ...args], {
    encoding: 'utf8',
    timeout: opts.timeout ?? 30000,
    env: { ...process.env, NO_COLOR: '1' },
    ...(opts.input !== undefined ? { input: opts.input } : { stdio: [opts.stdin ?? 'pipe', 'pipe', 'pipe'] }),
    maxBuffer: 64 << 20,
  });
  return { code: r.status, out: r.stdout, err: r.stderr, ms: Date.now() - t0 };
}

function bashLantern(script: string, timeout = 30000): Run {
  const t0 = Date.now();
  const r = spawnSync('bash', ['-c', script], {
    encoding: 'utf8',
    timeout,
    env: { ...process.env, NO_COLOR: '1', NODE: process.execPath, BIN: bin },
  });
  return { code: r.status, out: r.stdout, err: r.stderr, ms: Date.now() - t0 };
}

/** The binary, asynchronously (while a writer in this process or a child feeds a FIFO). */
function lanternAsync(args: string[], timeout = 30000): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [bin, 'analyze', ...args], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    c.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const timer = setTimeout(() => c.kill('SIGKILL'), timeout);
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err, ms: Date.now() - t0 });
    });
  });
}

const doc = (r: Run): Doc => JSON.parse(r.out) as Doc;

function hasProgram(name: string): boolean {
  return spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0;
}

test('a truncated .gz (cut with head -c) keeps what was read before the cut and is marked truncated', () => {
  const gz = join(tmp, 'kern.log.gz');
  const cut = join(tmp, 'kern-cut.log.gz');
  writeFileSync(gz, gzipSync(readFileSync(LOG)));
  const size = readFileSync(gz).length;
  execFileSync('bash', ['-c', `head -c ${Math.floor((size * 2) / 3)} "$0" > "$1"`, gz, cut]);
  // What gzip itself recovers from the cut file: the same bytes must be analysed.
  const recovered = spawnSync('gzip', ['-dc', cut], { maxBuffer: 64 << 20 });
  assert.notEqual(recovered.status, 0, 'gzip agrees the file is cut');
  const r = lantern(['--json', cut]);
  assert.equal(r.code, 0, r.err);
  const inp = doc(r).inputs[0]!;
  assert.equal(inp.compression, 'gzip');
  assert.equal(inp.truncated, true);
  assert.match(inp.error!, /^gzip: unexpected end of file$/);
  assert.equal(inp.bytes, recovered.stdout.length);
  assert.equal(inp.lines, recovered.stdout.toString('latin1').split('\n').length);
  assert.ok(inp.incidents >= 3, `incidents before the cut: ${inp.incidents}`);
  assert.match(r.err, /kern-cut\.log\.gz: gzip: unexpected end of file \(truncated: the \d+ lines before the cut were analysed\)/);
  const text = lantern([cut]);
  assert.equal(text.code, 0);
  assert.match(text.out, /kern-cut\.log\.gz: dmesg, \d+ lines, \d+ incidents \(gzip, truncated: read up to the cut\) error: gzip: unexpected end of file/);
});

test("a truncated or corrupt .bz2 gives bzip2's own diagnosis and keeps what it decompressed", (t) => {
  if (!hasProgram('bzip2')) {
    skipUnlessCI(t, 'bzip2 is not installed (apt-get install bzip2)');
    return;
  }
  // Two bzip2 blocks (-1: 100 kB blocks); the cut lies in the second, so the first is kept.
  const big = join(tmp, 'big-for-bz2.log');
  const text = readFileSync(LOG, 'latin1');
  writeFileSync(big, text.repeat(Math.ceil(150000 / text.length)));
  const bz = execFileSync('bzip2', ['-1', '-c', big], { maxBuffer: 64 << 20 });
  const cut = join(tmp, 'cut.log.bz2');
  writeFileSync(cut, bz.subarray(0, Math.floor(bz.length * 0.8)));
  let r = lantern(['--json', cut]);
  assert.equal(r.code, 0, r.err);
  let inp = doc(r).inputs[0]!;
  assert.equal(inp.compression, 'bzip2');
  assert.equal(inp.truncated, true);
  assert.equal(inp.error, 'bzip2 -dc failed (exit 2): Compressed file ends unexpectedly');
  assert.ok(inp.lines > 1000 && inp.incidents > 0, `${inp.lines} lines, ${inp.incidents} incidents kept`);
  // A flipped byte inside the data: the CRC check fails.
  const bad = Buffer.from(bz);
  bad[Math.floor(bad.length / 4)] ^= 0x55;
  const corrupt = join(tmp, 'corrupt.log.bz2');
  writeFileSync(corrupt, bad);
  r = lantern(['--json', corrupt, join(real, 'panic_01.log')]);
  assert.equal(r.code, 0, r.err);
  inp = doc(r).inputs[0]!;
  assert.equal(inp.truncated, true);
  assert.match(inp.error!, /^bzip2 -dc failed \(exit 2\): (Data integrity error when decompressing\.|Compressed file ends unexpectedly)$/);
});

for (const [prog, pkg, message] of [
  ['xz', 'xz-utils', 'xz -dc failed (exit 1): Unexpected end of input'],
  ['zstd', 'zstd', 'zstd -dc failed (exit 1): Read error (39) : premature end'],
] as const) {
  test(`a truncated ${prog} file keeps what was decompressed, marked truncated with ${prog}'s diagnosis`, (t) => {
    if (!hasProgram(prog)) {
      skipUnlessCI(t, `${prog} is not installed (apt-get install ${pkg}; listed in .ci/packages)`);
      return;
    }
    // The log, then lines that do not compress: the cut falls in them, after the log's incidents.
    let seed = 7;
    const noise = Array.from({ length: 40000 }, () => `noise ${((seed = (seed * 48271) % 2147483647) * 2654435761).toString(36)}${seed.toString(16)}`).join('\n');
    const packed = execFileSync(prog, ['-q', '-c'], { input: readFileSync(LOG, 'latin1') + noise + '\n', maxBuffer: 64 << 20 });
    const cut = join(tmp, `cut.log.${prog}`);
    writeFileSync(cut, packed.subarray(0, Math.floor(packed.length / 2)));
    const r = lantern(['--json', cut]);
    assert.equal(r.code, 0, r.err);
    const inp = doc(r).inputs[0]!;
    assert.equal(inp.truncated, true);
    assert.equal(inp.error, message);
    assert.ok(inp.lines > 0 && inp.incidents > 0, `${inp.lines} lines, ${inp.incidents} incidents kept`);
  });
}

test('process substitution <(cat log) and <(gzip -c log) are read as pipes', () => {
  let r = bashLantern(`"$NODE" "$BIN" analyze --json <(cat ${JSON.stringify(LOG)})`);
  assert.equal(r.code, 0, r.err);
  let d = doc(r);
  assert.match(d.inputs[0]!.name, /^\/dev\/fd\/\d+$/);
  assert.equal(d.inputs[0]!.lines, 215);
  assert.equal(d.summary.incidents, 5);
  r = bashLantern(`"$NODE" "$BIN" analyze --json <(gzip -c ${JSON.stringify(LOG)}) <(true)`);
  assert.equal(r.code, 0, r.err);
  d = doc(r);
  assert.equal(d.inputs[0]!.compression, 'gzip');
  assert.equal(d.inputs[0]!.lines, 215);
  assert.equal(d.inputs[1]!.lines, 0, 'a pipe whose writer closed without writing is an empty input');
  assert.equal(d.inputs[1]!.error, undefined);
  assert.ok(r.ms < 10000);
});

test('/dev/stdin and - fed by a pipe, plain and gzip; binary content on stdin is refused', () => {
  const log = readFileSync(LOG);
  for (const name of ['/dev/stdin', '-']) {
    for (const input of [log, gzipSync(log)]) {
      const r = lantern(['--json', name], { input });
      assert.equal(r.code, 0, r.err);
      const inp = doc(r).inputs[0]!;
      assert.equal(inp.name, name);
      assert.equal(inp.compression, input === log ? 'none' : 'gzip');
      assert.equal(inp.lines, 215);
      assert.equal(doc(r).summary.incidents, 5);
    }
  }
  // A gzip stream arriving through a shell pipe, one byte at a time at first (the sniff waits for enough).
  const r = bashLantern(`{ gzip -c ${JSON.stringify(LOG)} | { head -c 1; sleep 0.2; head -c 2; sleep 0.2; cat; }; } | "$NODE" "$BIN" analyze --json /dev/stdin`);
  assert.equal(r.code, 0, r.err);
  assert.equal(doc(r).inputs[0]!.compression, 'gzip');
  assert.equal(doc(r).inputs[0]!.lines, 215);
  const bin = lantern(['-'], { input: gzipSync(journalLike(300)) });
  assert.equal(bin.code, 66);
  assert.match(bin.err, /-: binary file \(a systemd journal file/);
});

test('a FIFO without a writer does not hang: refused after a short grace, the other inputs still analysed', async () => {
  const fifo = join(tmp, 'nowriter.fifo');
  execFileSync('mkfifo', [fifo]);
  let r = await lanternAsync([fifo], 15000);
  assert.equal(r.code, 66, r.err);
  assert.match(r.err, /nowriter\.fifo: FIFO without a writer: nobody opened it for writing within 2 s \(nothing read\)/);
  assert.ok(r.ms < 10000, `took ${r.ms} ms`);
  r = await lanternAsync(['--json', fifo, join(real, 'panic_01.log')], 15000);
  assert.equal(r.code, 0, r.err);
  assert.equal(doc(r).summary.byKind['panic'], 1);
});

test('a FIFO with a writer is read to EOF: writer first, writer late, writer slow', async () => {
  const fifo = join(tmp, 'writer.fifo');
  execFileSync('mkfifo', [fifo]);
  const q = JSON.stringify(LOG);
  const f = JSON.stringify(fifo);
  for (const writer of [
    `cat ${q} > ${f}`, // blocks in open until analyze opens the FIFO
    `sleep 0.7; cat ${q} > ${f}`, // opens after analyze did: within the grace
    `exec 3> ${f}; head -c 100 ${q} >&3; sleep 1; tail -c +101 ${q} >&3; sleep 0.5`, // holds it open, writes in bursts
    `exec 3> ${f}; sleep 1; gzip -c ${q} >&3`, // a writer that is there but silent at first, then gzip
  ]) {
    const w = spawn('bash', ['-c', writer], { stdio: 'ignore' });
    const r = await lanternAsync(['--json', fifo], 20000);
    await new Promise((res) => (w.exitCode !== null ? res(null) : w.on('close', res)));
    assert.equal(r.code, 0, `${writer}: ${r.err}`);
    assert.equal(doc(r).inputs[0]!.lines, 215, writer);
    assert.equal(doc(r).summary.incidents, 5, writer);
  }
});

test('device nodes and sockets named as inputs are refused before they are opened; stdin on a device too', async () => {
  const zero = join(tmp, 'zero'); // /dev/zero: opened and read, it never ends
  const watchdog = join(tmp, 'watchdog'); // /dev/watchdog: opening it arms the timer
  const loop = join(tmp, 'loop0');
  execFileSync('mknod', [zero, 'c', '1', '5']);
  execFileSync('mknod', [watchdog, 'c', '10', '130']);
  execFileSync('mknod', [loop, 'b', '7', '0']);
  const sock = join(tmp, 'log.sock');
  const server = createServer();
  await new Promise<void>((res) => server.listen(sock, res));
  try {
    const r = await lanternAsync(['--json', zero, watchdog, loop, sock], 20000);
    assert.equal(r.code, 66, r.err);
    assert.match(r.err, /zero: is a character device 1:5 \(not opened: only regular files, FIFOs and pipes are read\)/);
    assert.match(r.err, /watchdog: is a character device 10:130 \(not opened/);
    assert.match(r.err, /loop0: is a block device 7:0 \(not opened/);
    assert.match(r.err, /log\.sock: is a socket \(not opened/);
    assert.ok(r.ms < 10000);
  } finally {
    server.close();
  }
  // stdin: a terminal is read, /dev/null is empty, a device that never ends is refused.
  const fd = openSync(zero, 'r');
  try {
    const r = lantern([], { stdin: fd, timeout: 20000 });
    assert.equal(r.code, 66);
    assert.match(r.err, /-: stdin is a character device 1:5 \(not read: redirect a file or a pipe\)/);
  } finally {
    closeSync(fd);
  }
  const devnull = openSync('/dev/null', 'r');
  try {
    const r = lantern([], { stdin: devnull });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /no incidents found/);
  } finally {
    closeSync(devnull);
  }
});

test('a directory walk takes regular files and links to them; special files are listed as skipped, never opened', async () => {
  const d = join(tmp, 'walk');
  mkdirSync(join(d, 'sub'), { recursive: true });
  copyFileSync(join(real, 'panic_01.log'), join(d, 'kern.log'));
  symlinkSync(join(d, 'kern.log'), join(d, 'sub', 'link-to-kern.log'));
  execFileSync('mkfifo', [join(d, 'fifo')]);
  execFileSync('mknod', [join(d, 'zero'), 'c', '1', '5']);
  symlinkSync('/dev/zero', join(d, 'link-to-zero'));
  symlinkSync(join(d, 'sub'), join(d, 'link-to-dir'));
  const server = createServer();
  await new Promise<void>((res) => server.listen(join(d, 'sock'), res));
  try {
    const r = await lanternAsync(['--json', d], 20000);
    assert.equal(r.code, 0, r.err);
    const byName = Object.fromEntries(doc(r).inputs.map((i) => [i.name.slice(d.length + 1), i]));
    assert.deepEqual(Object.keys(byName).sort(), ['fifo', 'kern.log', 'link-to-dir', 'link-to-zero', 'sock', 'sub/link-to-kern.log', 'zero']);
    assert.equal(byName['kern.log']!.format, 'dmesg');
    assert.equal(byName['sub/link-to-kern.log']!.format, 'dmesg');
    assert.equal(byName['fifo']!.error, 'is a FIFO (not read: in a directory only regular files are read)');
    assert.equal(byName['zero']!.error, 'is a character device 1:5 (not read: in a directory only regular files are read)');
    assert.equal(byName['sock']!.error, 'is a socket (not read: in a directory only regular files are read)');
    assert.equal(byName['link-to-zero']!.error, 'symbolic link to a character device 1:5 (not read: in a directory only regular files are read)');
    assert.equal(byName['link-to-dir']!.error, 'symbolic link to a directory (not followed)');
    assert.equal(doc(r).summary.byKind['panic'], 2);
    assert.ok(r.ms < 10000, 'the FIFO was not opened');
  } finally {
    server.close();
  }
});

test('binary files are refused by content: a real core dump, wtmp from utmpdump, a journal file, also compressed', (t) => {
  const dir = join(tmp, 'binary');
  mkdirSync(dir);
  // wtmp in its real format, written by util-linux.
  const rows = Array.from(
    { length: 200 },
    (_, i) => `[7] [${String(1000 + i).padStart(5, '0')}] [ts/0] [root    ] [pts/0       ] [10.0.0.1            ] [10.0.0.1       ] [2024-05-03T06:00:00,000000+00:00]\n`,
  ).join('');
  const wtmp = spawnSync('utmpdump', ['-r'], { input: rows });
  if (wtmp.status !== 0 || wtmp.stdout.length === 0) {
    skipUnlessCI(t, 'utmpdump (util-linux) is not installed');
    return;
  }
  writeFileSync(join(dir, 'wtmp'), wtmp.stdout);
  writeFileSync(join(dir, 'system.journal'), journalLike(300));
  writeFileSync(join(dir, 'nomagic.journal~'), journalLike(300, false));
  const journals = existsSync('/var/log/journal')
    ? readdirSync('/var/log/journal', { recursive: true })
        .map(String)
        .filter((n) => n.endsWith('.journal'))
    : [];
  if (journals.length) copyFileSync(join('/var/log/journal', journals[0]!), join(dir, 'real.journal'));
  const r = lantern(['--json', dir]);
  assert.equal(r.code, 66, r.err);
  const refused = r.err.trim().split('\n').slice(0, -1);
  assert.equal(refused.length, 3 + (journals.length ? 1 : 0), r.err);
  for (const line of refused) assert.match(line, /^lantern analyze: \S+: binary file \(/);
  assert.match(r.err, /lantern: no input could be read/);
  assert.match(r.err, /system\.journal: binary file \(a systemd journal file: read it with journalctl --file FILE/);
  assert.match(r.err, /wtmp: binary file \([\d.]+% control bytes in the first \d+ bytes; not a text log\)/);
  // The same content compressed or on stdin: judged after decompression.
  const gz = lantern(['--json', '-'], { input: gzipSync(wtmp.stdout) });
  assert.equal(gz.code, 66);
  assert.match(gz.err, /-: binary file/);
  // A real core dump, written by this kernel (core_pattern must name a plain file).
  const pattern = readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim();
  if (pattern.startsWith('|')) {
    skipUnlessCI(t, `core_pattern pipes cores to ${pattern}: no core file to test with`);
    return;
  }
  spawnSync('bash', ['-c', 'ulimit -c unlimited; sleep 30 & p=$!; sleep 0.2; kill -SEGV $p; wait $p; true'], { cwd: dir, stdio: 'ignore' });
  const core = readdirSync(dir).find((n) => n.startsWith('core'));
  if (!core) {
    skipUnlessCI(t, `no core file was written (core_pattern ${pattern})`);
    return;
  }
  const c = lantern([join(dir, core)]);
  assert.equal(c.code, 66);
  assert.match(c.err, /binary file \(an ELF file: a core dump or a program, not a text log\)/);
  // Without its ELF magic the proportion still refuses it.
  const noMagic = readFileSync(join(dir, core));
  noMagic.write('XXXX', 0, 'latin1');
  writeFileSync(join(tmp, 'core-nomagic'), noMagic);
  assert.match(lantern([join(tmp, 'core-nomagic')]).err, /binary file \([\d.]+% control bytes in the first (MiB|\d+ bytes)/);
});

test('a log with the zero runs a crash leaves (one in the first 4 KiB) is read, the runs skipped and counted; also gzip-compressed', () => {
  const log = Buffer.concat([
    Buffer.from('May  3 06:00:00 web01 kernel: [    1.000000] eth0: link up\nMay  3 06:00:01 web01 kernel: [    2.0000'),
    Buffer.alloc(4096 * 3), // the unwritten tail of the previous boot
    Buffer.from(readFileSync(LOG, 'latin1').replace(/^/gm, 'May  3 07:00:00 web01 kernel: '), 'latin1'),
    Buffer.alloc(512),
  ]);
  const p = join(tmp, 'crashed.log');
  writeFileSync(p, log);
  for (const [args, input] of [
    [[p], undefined],
    [['-'], gzipSync(log)],
  ] as const) {
    const r = lantern(['--json', ...args], input === undefined ? {} : { input });
    assert.equal(r.code, 0, r.err);
    const inp = doc(r).inputs[0]!;
    assert.equal(inp.nulBytes, 4096 * 3 + 512);
    assert.equal(inp.nulRuns, 2);
    assert.equal(inp.bytes, log.length);
    assert.equal(inp.lines, 2 + 215 + 1, 'the cut line, the log, and the empty line the final zeros follow');
    assert.equal(doc(r).summary.byKind['panic'], 1);
  }
  assert.match(lantern([p]).out, /12800 NUL bytes in 2 runs skipped/);
});

test('a 200 MB line without newline is one line, one overlong line, with bounded memory; a panic at its start is found', () => {
  const p = join(tmp, 'long.log');
  // Streamed to the file, never held: 200 MB of 'x' after a panic line head.
  execFileSync('bash', ['-c', `{ printf '[ 1.000000] Kernel panic - not syncing: huge '; head -c 200000000 /dev/zero | tr '\\0' x; } > "$0"`, p]);
  const t0 = Date.now();
  const r = spawnSync(
    process.execPath,
    [
      '-e',
      `process.on('exit', () => process.stderr.write('maxRSS=' + process.resourceUsage().maxRSS + '\\n')); process.argv = [process.argv[0], 'lantern', 'analyze', '--json', ${JSON.stringify(p)}]; import(${JSON.stringify(bin)});`,
    ],
    { encoding: 'utf8', timeout: 60000 },
  );
  const ms = Date.now() - t0;
  assert.equal(r.status, 0, r.stderr);
  const inp = (JSON.parse(r.stdout) as Doc).inputs[0]!;
  assert.equal(inp.bytes, 200000045);
  assert.equal(inp.lines, 1);
  assert.equal(inp.overlongLines, 1);
  assert.equal(inp.overlongBytesCut, 200000045 - 65536, 'everything past the 64 KiB kept is counted as cut');
  assert.equal((JSON.parse(r.stdout) as Doc).summary.byKind['panic'], 1);
  const rssKb = Number(/maxRSS=(\d+)/.exec(r.stderr)![1]);
  assert.ok(rssKb < 200 * 1024, `max RSS ${rssKb} kB`);
  assert.ok(ms < 10000, `took ${ms} ms`);
  // The same on a pipe: an overlong line arriving on stdin.
  const piped = bashLantern(`{ printf 'a\\nb'; head -c 5000000 /dev/zero | tr '\\0' y; printf '\\nc'; } | "$NODE" "$BIN" analyze --json`);
  const pin = doc(piped).inputs[0]!;
  assert.deepEqual([pin.lines, pin.overlongLines, pin.overlongBytesCut], [3, 1, 5000001 - 65536]);
});

test('1001 lines with invalid UTF-8 count 1001; the final unterminated line counts', () => {
  const p = join(tmp, 'invalid.log');
  const lines: Buffer[] = [];
  for (let i = 0; i < 1001; i++) lines.push(Buffer.from(`May  3 06:00:00 h app[1]: bad byte `), Buffer.from([0xff, 0xfe]), Buffer.from(` ${i}\n`));
  lines.push(Buffer.from('May  3 06:00:01 h app[1]: last line, no newline'));
  writeFileSync(p, Buffer.concat(lines));
  const r = lantern(['--json', p]);
  assert.equal(r.code, 0, r.err);
  const inp = doc(r).inputs[0]!;
  assert.equal(inp.lines, 1002);
  assert.equal(inp.invalidUtf8Lines, 1001);
  assert.match(lantern([p]).out, /1002 lines, 0 incidents \(1001 lines with invalid UTF-8\)/);
});
