/** The Writer on real files: sender paths, file switching by size and day, the memory bound, odd files at the name. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writer, fileName, senderDirName, type WriterOptions } from './writer.js';
import { Formatter } from './format.js';

/** A writer's options as these tests use them (text lines, small retry): `dir` and what a test changes. */
function writerOptions(dir: string, f: Formatter, changes: Partial<WriterOptions> = {}): WriterOptions {
  return {
    dir,
    maxFileBytes: 0,
    maxBufferedBytes: 1 << 20,
    maxOpenFiles: 4,
    idleCloseMs: 60_000,
    retryMs: 50,
    fileMode: 0o640,
    note: (t, text) => f.note(t, text),
    now: () => Date.now() * 1000,
    ...changes,
  };
}

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

test('writer: switches files by size and by day, never splits a line, counts what it wrote', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nc-writer-'));
  try {
    const f = new Formatter('text', true);
    const w = new Writer(writerOptions(dir, f, { maxFileBytes: 1000 }));
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
    const w = new Writer(writerOptions(dir, f, { maxBufferedBytes: 2000 }));
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
    const opts = writerOptions(dir, f, { onTrouble: (t: string) => troubles.push(t) });
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
