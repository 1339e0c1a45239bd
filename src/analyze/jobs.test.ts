/**
 * --jobs: the trigger search on worker threads gives the output of the main thread alone, byte
 * for byte: on every file of test/data/analyze, on large generated logs with a report across
 * every 1 MiB read boundary (plain, gzip, stdin), and when a worker dies part way. The index
 * itself is checked against a line-by-line reference, and the 2-thread run's peak RSS is bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { analyzePaths } from './analyze.js';
import { indexBlock, type BlockIndex } from './blockindex.js';
import type { CaseFormat } from './casegen.js';
import { IndexPool, type BlockIndexer } from './indexpool.js';
import { Detector } from './detect.js';
import { scanStream } from './scan.js';
import { Readable } from 'node:stream';
import { boundaryLog, caseFiles } from './jobsgen.js';
import { TRIGGER_LOWER, TRIGGER_UPPER } from './patterns/index.js';
import { toJson } from './render.js';

const LANTERN = new URL('../../bin/lantern.js', import.meta.url).pathname;
const DATA = new URL('../../test/data/analyze/', import.meta.url).pathname;
const NOW = new Date(Date.UTC(2024, 11, 31));

async function jsonOf(paths: string[], jobs: number): Promise<{ json: string; workerBlocks: number }> {
  const res = await analyzePaths(paths, { jobs, poolMinBytes: 0, now: NOW });
  return { json: JSON.stringify(toJson(res)), workerBlocks: res.workerBlocks };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((d) => (d.isDirectory() ? filesUnder(join(dir, d.name)) : [join(dir, d.name)]))
    .sort();
}

test('jobs: every file under test/data/analyze (the whole tree, and each folder of it) gives the same --json with 1 and 2 threads', async () => {
  assert.ok(filesUnder(DATA).length > 100);
  const dirs = readdirSync(DATA, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => join(DATA, d.name));
  for (const paths of [[DATA], ...dirs.map((d) => [d])]) {
    const one = await jsonOf(paths, 1);
    const two = await jsonOf(paths, 2);
    assert.equal(two.json, one.json, paths[0]);
    assert.equal(one.workerBlocks, 0);
    assert.ok(two.workerBlocks > 0, paths[0]);
  }
});

test('jobs: large logs with a report across every 1 MiB boundary, in several formats: identical with 1, 2 and 3 threads', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-jobs-'));
  try {
    const formats: CaseFormat[] = ['syslog', 'dmesg', 'journal-json', 'netconsole', 'serial-multihost'];
    for (const format of formats) {
      const file = join(dir, `big-${format}.log`);
      writeFileSync(file, boundaryLog(12 << 20, format));
      const one = await jsonOf([file], 1);
      const two = await jsonOf([file], 2);
      const three = await jsonOf([file], 3);
      assert.equal(two.json, one.json, format);
      assert.equal(three.json, one.json, format);
      assert.ok(two.workerBlocks >= 12 && three.workerBlocks >= 12, `${format}: ${two.workerBlocks} blocks on workers`);
      // Not vacuous: the reports across the boundaries were found.
      const doc = JSON.parse(one.json) as { summary: { incidents: number } };
      assert.ok(doc.summary.incidents >= 11, `${format}: ${doc.summary.incidents} incidents`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs the CLI; resolves with its stdout, exit code and peak RSS (VmHWM, polled). */
function runCli(args: string[], stdin?: string): Promise<{ out: Buffer; code: number | null; peakKb: number; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [LANTERN, 'analyze', ...args], { stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    let peakKb = 0;
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    if (stdin) {
      child.stdin!.on('error', () => {});
      child.stdin!.end(readFileSync(stdin));
    }
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch {
        /* exited */
      }
    }, 20);
    child.on('close', (code) => {
      clearInterval(poll);
      resolve({ out: Buffer.concat(out), code, peakKb, err });
    });
  });
}

test('jobs: the CLI on a 40 MiB log (plain, gzip, stdin): --jobs 2 prints what --jobs 1 prints, byte for byte, in bounded memory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-jobs-cli-'));
  try {
    const file = join(dir, 'messages');
    const log = boundaryLog(40 << 20, 'syslog');
    writeFileSync(file, log);
    writeFileSync(join(dir, 'messages.gz'), gzipSync(log, { level: 1 }));
    const outs = new Map<string, string>();
    for (const [name, args, stdin] of [
      ['plain', [file], undefined],
      ['gzip', [join(dir, 'messages.gz')], undefined],
      ['stdin', ['-'], file],
    ] as const) {
      const one = await runCli(['--json', '--jobs', '1', ...args], stdin);
      const two = await runCli(['--json', '--jobs', '2', ...args], stdin);
      outs.set(name, two.out.toString());
      assert.equal(one.code, 0, `${name}: ${one.err}`);
      assert.equal(two.code, 0, `${name}: ${two.err}`);
      assert.ok(one.out.length > 1000, name);
      assert.ok(two.out.equals(one.out), `${name}: --jobs 2 output differs from --jobs 1`);
      // Flat memory: the read-ahead and the workers' heaps are bounded (the 2 GiB figure is in docs/analyze.md).
      if (two.peakKb) assert.ok(two.peakKb < 200 * 1024, `${name}: peak RSS ${two.peakKb} kB`);
    }
    // Three readers (a file read into one reused buffer, zlib, a pipe): the same incidents.
    const incidents = (name: string) => {
      const groups = JSON.stringify((JSON.parse(outs.get(name)!) as { groups: unknown[] }).groups);
      return groups
        .replaceAll(`"file":${JSON.stringify(join(dir, 'messages.gz'))}`, '"file":"F"')
        .replaceAll(`"file":${JSON.stringify(file)}`, '"file":"F"')
        .replaceAll('"file":"-"', '"file":"F"');
    };
    assert.ok(incidents('plain').includes('"file":"F"'));
    assert.ok(incidents('gzip') === incidents('plain'), 'gzip and plain file differ');
    assert.ok(incidents('stdin') === incidents('plain'), 'stdin and plain file differ');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('jobs: --jobs is in the help; it takes a whole number from 1 to 64; anything else is a usage error', () => {
  const help = spawnSync(process.execPath, [LANTERN, 'analyze', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout.replace(/\s+/g, ' '), /--jobs <n> worker threads searching large inputs for trigger words \(default: 1 = none with the native search, else the number of CPUs\)/);
  for (const bad of ['0', '-1', '2.5', 'many', '65']) {
    const r = spawnSync(process.execPath, [LANTERN, 'analyze', '--jobs', bad, DATA], { encoding: 'utf8' });
    assert.equal(r.status, 64, bad);
    assert.match(r.stderr, /^lantern: bad --jobs '.*': a whole number from 1 to 64\n$/, bad);
  }
});

test('jobs: a worker that dies part way loses nothing: its blocks are indexed on the main thread', async () => {
  const block = boundaryLog(3 << 20, 'dmesg');
  const blocks = Array.from({ length: 24 }, (_, i) => block.subarray(i * 100_000, i * 100_000 + 300_000));
  const pool = new IndexPool(2);
  try {
    const out: Promise<BlockIndex>[] = blocks.slice(0, 12).map((b) => Promise.resolve(pool.index(b)));
    // Kill one worker with blocks still out; the rest go through the fallback.
    await (pool as unknown as { workers: { terminate(): Promise<number> }[] }).workers[0]!.terminate();
    for (const b of blocks.slice(12)) out.push(Promise.resolve(pool.index(b)));
    const got = await Promise.all(out);
    got.forEach((g, i) => assert.deepEqual(g, indexBlock(blocks[i]!), `block ${i}`));
    assert.ok(pool.counts.fallback > 0);
  } finally {
    await pool.close();
  }
});

test('jobs: blocks indexed late and out of order (random delays), with any read-ahead, feed the detector as indexed at once', async () => {
  const log = boundaryLog(6 << 20, 'syslog');
  const run = async (indexer: BlockIndexer | undefined, maxQueuedBlocks: number) => {
    const incidents: string[] = [];
    const det = new Detector((inc) => incidents.push(JSON.stringify(inc)));
    // Chunks of odd sizes, as a pipe delivers them.
    const chunks = Array.from({ length: Math.ceil(log.length / 300_007) }, (_, i) => log.subarray(i * 300_007, (i + 1) * 300_007));
    const res = await scanStream(Readable.from(chunks), det, { name: 't', refYear: 2024, refMonth: 11, maxQueuedBlocks, ...(indexer ? { indexer } : {}) });
    det.finish();
    return JSON.stringify({ res, incidents });
  };
  let seed = 7;
  const slow: BlockIndexer = {
    index: (block) => {
      const idx = indexBlock(block);
      seed = (seed * 1103515245 + 12345) >>> 0;
      return new Promise((r) => setTimeout(() => r(idx), seed % 7));
    },
  };
  const expected = await run(undefined, 1);
  assert.ok(expected.length > 10_000);
  for (const q of [1, 2, 5, 32]) assert.equal(await run(slow, q), expected, `read-ahead ${q}`);
});

/** The index by its definition: line by line, the first trigger word of each line holding one. */
function referenceIndex(block: Buffer): BlockIndex {
  const s = block.toString('latin1');
  const hits: number[] = [];
  const hitLines: number[] = [];
  let start = 0;
  let line = 0;
  for (const l of s.split('\n')) {
    const u = TRIGGER_UPPER.exec(l)?.index ?? -1;
    const w = TRIGGER_LOWER.exec(l)?.index ?? -1;
    const first = u === -1 ? w : w === -1 ? u : Math.min(u, w);
    if (first !== -1) {
      hits.push(start + first);
      hitLines.push(line);
    }
    start += l.length + 1;
    line++;
  }
  return { newlines: line - 1, hits: Int32Array.from(hits), hitLines: Int32Array.from(hitLines) };
}

test('jobs: the block index is the line-by-line one, for any lines (trigger words anywhere, blocks longer than a search piece)', () => {
  const words = ['BUG', 'Kernel panic', 'segfault at', 'oom-kill:', 'traps: ', 'WARNING', 'XFS', 'I/O error', 'général', 'ÿ', 'bu', 'ok'];
  const line = fc.array(fc.oneof(fc.constantFrom(...words), fc.string({ maxLength: 40 })), { maxLength: 8 }).map((p) => p.join(' ').replace(/\n/g, ' '));
  fc.assert(
    fc.property(fc.array(line, { maxLength: 60 }), fc.integer({ min: 0, max: 3 }), fc.boolean(), (lines, repeat, terminated) => {
      // Repeated to well past 256 KiB sometimes: the index cuts a block into pieces.
      let text = lines.join('\n');
      if (repeat > 0 && text.length > 0) text = (text + '\n').repeat(Math.ceil((repeat * 150_000) / (text.length + 1)));
      const block = Buffer.from(terminated && text ? text + '\n' : text, 'latin1');
      assert.deepEqual(indexBlock(block), referenceIndex(block));
    }),
    { numRuns: 150 },
  );
  // A line longer than a search piece (64 KiB), with trigger words at its start and end.
  const long = Buffer.from(`a\nBUG x ${'y'.repeat(100_000)} segfault at 0\nKernel panic\n${'z '.repeat(40_000)}\nok traps: \n`, 'latin1');
  assert.deepEqual(indexBlock(long), referenceIndex(long));
  assert.ok(caseFiles().length > 20);
});
