/**
 * The native trigger search (native/triggerscan) against the JavaScript one it replaces: the
 * same block index on every case file, the real logs, generated logs and random or hostile bytes
 * (NULs, invalid UTF-8, bytes >= 0x80, words cut at the block's end), with SIMD and without; the
 * same `lantern analyze --json` output either way, with and without worker threads, which load
 * the addon themselves. The words come from the pattern table (literalsOf), and stand for exactly
 * what the trigger expressions match. On CI (process.env.CI) the addon must be built.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { TRIGGER_SEARCH, indexBlock, indexBlockJs, literalsOf, triggerWords, type BlockIndex } from './blockindex.js';
import { defaultJobs } from './analyze.js';
import { fallbackNote } from './cli.js';
import { boundaryLog } from './jobsgen.js';
import { TRIGGER_LOWER, TRIGGER_RE, TRIGGER_UPPER } from './patterns/index.js';
import { loadTriggerScan, type SimdLevel, type TriggerScanAddon } from './triggerscan.js';

const LANTERN = new URL('../../bin/lantern.js', import.meta.url).pathname;
const DATA = new URL('../../test/data/analyze/', import.meta.url).pathname;
const SHARED_LOGS = new URL('../../../shared/kernel-logs/', import.meta.url).pathname;
const loaded = loadTriggerScan();
const mod: TriggerScanAddon | null = 'mod' in loaded ? loaded.mod : null;
const missing = 'error' in loaded ? `native trigger search unavailable: native/triggerscan ${loaded.error}` : '';
const skip = mod ? false : missing;

/**
 * The addon's index at each SIMD level this CPU has (AVX2, SSSE3 only, none: the paths of older
 * or other machines); the default one is indexBlock's.
 */
const levels: [SimdLevel, (b: Buffer) => BlockIndex][] = mod
  ? (['avx2', 'ssse3', 'none'] as const).flatMap((level) => {
      const m = mod.create(triggerWords(), level);
      return mod.info(m).simd === level ? [[level, (b: Buffer): BlockIndex => mod.index(m, b)] as [SimdLevel, (b: Buffer) => BlockIndex]] : [];
    })
  : [];

const plain = (i: BlockIndex) => ({ newlines: i.newlines, hits: [...i.hits], hitLines: [...i.hitLines] });

/** Both native paths give the JavaScript index for `block` (whole, and cut at line ends every ~`cut` bytes). */
function assertSame(block: Buffer, what: string, cut = 0): void {
  const blocks = [block];
  if (cut > 0) {
    blocks.length = 0;
    for (let p = 0; p < block.length;) {
      const nl = block.indexOf(10, Math.min(block.length - 1, p + cut));
      const e = nl === -1 ? block.length : nl + 1;
      blocks.push(block.subarray(p, e));
      p = e;
    }
  }
  for (const [n, b] of blocks.entries()) {
    const js = plain(indexBlockJs(b));
    assert.deepEqual(plain(indexBlock(b)), js, `${what} (block ${n})`);
    for (const [level, index] of levels) assert.deepEqual(plain(index(b)), js, `${what} (block ${n}, SIMD ${level})`);
  }
}

const logsIn = (dir: string): string[] =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.log'))
        .sort()
        .map((f) => join(dir, f))
    : [];

test('triggerscan: the native trigger search is built on CI', { skip: !process.env.CI && mod === null ? `${missing} (CI requires it)` : false }, () => {
  assert.ok(mod, `CI must build native/triggerscan (npm ci runs scripts/build-native.mjs): ${missing}`);
  assert.ok(TRIGGER_SEARCH.native, `analyze must use it: ${TRIGGER_SEARCH.fallbackReason}`);
});

test('triggerscan: literalsOf expands classes, optional groups, alternatives and escapes; refuses what is not a set of words', () => {
  assert.deepEqual(literalsOf('Kill(?:ed)? process|Machine [Cc]heck|EXT[2-4]-fs|I\\/O error|---\\[ end'), [
    'Kill process',
    'Killed process',
    'Machine Check',
    'Machine check',
    'EXT2-fs',
    'EXT3-fs',
    'EXT4-fs',
    'I/O error',
    '---[ end',
  ]);
  assert.deepEqual(literalsOf('a(?:b|c(?:d|e))f?'), ['ab', 'abf', 'acd', 'acdf', 'ace', 'acef']);
  for (const bad of ['CPU: \\d', 'a.b', 'ab*', 'ab+', 'a{2}', '^ab', '[^a]b', '(ab)', 'ab)', '[ab', 'caf\u0101', 'a??']) assert.throws(() => literalsOf(bad), /is not a set of words/, bad);
  assert.throws(() => literalsOf('[a-z][a-z][a-z]'), /more than 4096 words/);
});

test('triggerscan: the words are exactly what the trigger expressions match', () => {
  const words = triggerWords();
  assert.ok(words.length >= 30, String(words.length));
  const whole = new RegExp(`^(?:${TRIGGER_UPPER.source}|${TRIGGER_LOWER.source})$`);
  for (const w of words) assert.ok(whole.test(w), w);
  // Each expression's alternatives, one by one: every word of one is among the words.
  for (const re of [TRIGGER_UPPER, TRIGGER_LOWER])
    for (const alt of re.source.split('|'))
      assert.ok(
        literalsOf(alt).every((w) => words.includes(w)),
        alt,
      );
  assert.ok(words.every((w) => TRIGGER_RE.test(w)));
});

test('triggerscan: the addon refuses words it cannot search, and bytes that are not a Uint8Array', { skip }, () => {
  const m = mod!;
  assert.throws(() => m.create([]), /1 to 4096 words/);
  assert.throws(() => m.create(['ab']), /3 to 1024 bytes/);
  assert.throws(() => m.create(['abc\nd']), /line end/);
  assert.throws(() => m.create([7 as unknown as string]), /must be a string/);
  assert.throws(() => m.index(m.create(['abc']), 'abc' as unknown as Uint8Array), /Buffer or Uint8Array/);
  assert.throws(() => m.index({}, Buffer.from('abc')), /matcher/);
  assert.throws(() => m.create(['abc'], 'sse9' as SimdLevel), /simd must be/);
  assert.equal(m.info(m.create(triggerWords())).words, triggerWords().length);
  assert.equal(m.info(m.create(['abc'], 'none')).simd, 'none');
  // The levels tested: at least the portable one, and on x86-64 the SSSE3 one (every x86-64 CPU
  // of the last 15 years has it).
  assert.ok(levels.some(([l]) => l === 'none'));
  if (process.arch === 'x64') assert.ok(levels.some(([l]) => l === 'ssse3'));
});

test('triggerscan: the same block index on every case file, the real logs and generated logs', { skip }, () => {
  const files = [...logsIn(join(DATA, 'cases')), ...logsIn(join(DATA, 'real')), ...logsIn(join(DATA, 'titles')), ...logsIn(SHARED_LOGS)];
  assert.ok(files.length > 100, String(files.length));
  for (const f of files) {
    const b = readFileSync(f);
    assertSame(b, f);
    assertSame(b, f, 97);
  }
  for (const format of ['syslog', 'dmesg', 'logread'] as const) assertSame(boundaryLog(3 << 20, format), format, 1 << 20);
});

test('triggerscan: the same block index on random and hostile bytes: NULs, invalid UTF-8, words cut at the end', { skip }, () => {
  const words = [...triggerWords(), 'Kernel pan', 'BU', 'segfault a', 'oom-kil', 'EXT5-fs', 'Machine CHECK', '\u00ffBUG', 'BUGBUG'];
  const piece = fc.oneof(
    fc.constantFrom(...words),
    fc.constantFrom('\n', '\0', '\0\0\0\0', '\xff\xfe', '\xc3\x28', '\xe2\x82', '\r\n', ' '),
    fc.string({ maxLength: 30 }),
    fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a).toString('latin1')),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 80 }), fc.integer({ min: 0, max: 40 }), (parts, cut) => {
      const block = Buffer.from(parts.join(''), 'latin1');
      assertSame(block, JSON.stringify(parts));
      // A block ending anywhere: a word cut by the end is no word.
      assertSame(block.subarray(0, Math.max(0, block.length - cut)), `cut ${cut}: ${JSON.stringify(parts)}`);
    }),
    { numRuns: 3000 },
  );
  // Every word at every position near both ends of blocks of every small length.
  for (const w of words) {
    for (let len = 0; len <= 40; len++) {
      for (let at = 0; at <= len; at++) {
        const b = Buffer.alloc(len, 'x');
        Buffer.from(w, 'latin1').copy(b, at);
        assertSame(b, `${w} at ${at} of ${len}`);
      }
    }
  }
  // Long lines of noise with words far apart, one line end in 64 KiB.
  const big = Buffer.alloc(1 << 20, 'a b c d e f g s t r i n ');
  for (let p = 1000; p < big.length - 100; p += 65_537) Buffer.from(words[(p >> 10) % words.length]!, 'latin1').copy(big, p);
  for (let p = 5000; p < big.length; p += 64 << 10) big[p] = 10;
  assertSame(big, 'long lines');
});

test('triggerscan: worker threads load the addon and use it', { skip }, async () => {
  const url = new URL('./blockindex.js', import.meta.url).href;
  const w = new Worker(`import(${JSON.stringify(url)}).then((m) => require('node:worker_threads').parentPort.postMessage(m.TRIGGER_SEARCH.native !== null))`, { eval: true });
  const native = await new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  await w.terminate();
  assert.equal(native, true);
});

function analyze(args: string[], search: 'js' | 'auto'): string {
  const r = spawnSync(process.execPath, [LANTERN, 'analyze', '--json', ...args], { encoding: 'utf8', env: { ...process.env, LANTERN_ANALYZE_SEARCH: search }, maxBuffer: 256 << 20 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  return r.stdout;
}

test('triggerscan: lantern analyze prints the same --json with the native and the JavaScript search', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-triggerscan-'));
  try {
    const big = join(dir, 'boundaries.log');
    writeFileSync(big, boundaryLog(40 << 20, 'syslog'));
    // The case logs among hostile lines (NUL runs, invalid UTF-8, latin1 bytes, words cut short
    // or run together), past several 1 MiB read chunks.
    const hostile = join(dir, 'hostile.log');
    const noise = ['\0\0\0\0 BUG', 'Kernel pan\xffic', '\xc3\x28 segfault a', 'oom-kill:oom-kill:', '\xe2\x82 WARNING', 'x'.repeat(5000) + 'traps: ', '\r'];
    const cases = logsIn(join(DATA, 'cases')).map((f) => readFileSync(f, 'latin1'));
    const parts: string[] = [];
    for (let i = 0; parts.join('').length < 3 << 20; i++) parts.push(noise[i % noise.length]! + '\n', cases[i % cases.length]!);
    writeFileSync(hostile, Buffer.from(parts.join(''), 'latin1'));
    const runs: string[][] = [[join(DATA, 'cases')], [join(DATA, 'real')], ...(existsSync(SHARED_LOGS) ? [[SHARED_LOGS]] : []), ['--jobs', '1', big], ['--jobs', '2', big], [hostile]];
    for (const args of runs) {
      const js = analyze(args, 'js');
      assert.ok(JSON.parse(js).summary.incidents > 0, args.join(' '));
      assert.equal(analyze(args, 'auto'), js, args.join(' '));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('triggerscan: --jobs defaults to 1 with the native search (workers cost it more than they save), to the CPUs without', () => {
  const js = { native: null, fallbackReason: 'x', forced: false };
  assert.equal(defaultJobs({ native: () => indexBlockJs(Buffer.alloc(0)), fallbackReason: '', forced: false }), 1);
  assert.equal(defaultJobs(js), Math.max(1, availableParallelism()));
});

test('triggerscan: a large run on the JavaScript search says why, once; a small or requested one says nothing', () => {
  const missingAddon = { native: null, fallbackReason: 'native/triggerscan not built (x missing)', forced: false };
  assert.equal(fallbackNote(missingAddon, 64 << 20), 'lantern analyze: note: the trigger search ran in JavaScript (2-4x slower): native/triggerscan not built (x missing)\n');
  assert.equal(fallbackNote(missingAddon, 1 << 20), null);
  assert.equal(fallbackNote({ ...missingAddon, forced: true }, 64 << 20), null);
  assert.equal(fallbackNote({ native: () => indexBlockJs(Buffer.alloc(0)), fallbackReason: '', forced: false }, 64 << 20), null);
});
