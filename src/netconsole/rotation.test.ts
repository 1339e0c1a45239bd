/** The Writer's rotation policy (writer.ts: rotation, bytesThatFit, overflows), as pure functions. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bytesThatFit, overflows, rotation } from './writer.js';

const lines = (...ls: string[]) => Buffer.from(ls.map((l) => `${l}\n`).join(''));

test('rotation: a new day starts a new file; past the size limit the day goes on in the next index', () => {
  assert.equal(rotation({ day: '2026-11-26', size: 10 }, '2026-11-27', 5, 0), 'new-day');
  assert.equal(rotation({ day: '2026-11-26', size: 10 }, '2026-11-26', 5, 0), 'keep', 'no limit');
  assert.equal(rotation({ day: '2026-11-26', size: 10 }, '2026-11-26', 5, 15), 'keep', 'exactly full');
  assert.equal(rotation({ day: '2026-11-26', size: 10 }, '2026-11-26', 6, 15), 'next-index');
  assert.equal(rotation({ day: '2026-11-26', size: 0 }, '2026-11-26', 100, 15), 'keep', 'an empty file takes any batch (then cut by bytesThatFit)');
  assert.equal(rotation({ day: '2026-11-26', size: 99 }, '2026-11-27', 1000, 15), 'new-day', 'the day decides first');
});

test('overflows: only a non-empty file past a set limit', () => {
  assert.ok(overflows(10, 6, 15));
  assert.ok(!overflows(10, 5, 15));
  assert.ok(!overflows(0, 1000, 15));
  assert.ok(!overflows(10, 1000, 0));
});

test('bytesThatFit: whole lines only; the rest starts the next file; a fresh file takes one line of any size', () => {
  const buf = lines('aaaa', 'bbbb', 'cccc'); // 15 bytes, lines end at 5, 10, 15
  assert.equal(bytesThatFit(0, buf, 0), 15, 'no limit');
  assert.equal(bytesThatFit(0, buf, 15), 15, 'fits exactly');
  assert.equal(bytesThatFit(0, buf, 12), 10, 'two whole lines');
  assert.equal(bytesThatFit(5, buf, 12), 5, 'one line fits after 5 bytes');
  assert.equal(bytesThatFit(8, buf, 12), 0, 'no line fits a non-empty file: next file');
  assert.equal(bytesThatFit(0, buf, 3), 5, 'a fresh file takes one line even past the limit');
  assert.equal(bytesThatFit(12, buf, 12), 0, 'a full file takes nothing');
  assert.equal(bytesThatFit(0, Buffer.alloc(0), 3), 0, 'nothing to write');
});

test('bytesThatFit property: never splits a line, never leaves a fresh file empty, never passes the limit when it can help it', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.string({ minLength: 0, maxLength: 12 }).map((s) => s.replace(/\n/g, ' ')),
        { minLength: 1, maxLength: 8 },
      ),
      fc.nat(60),
      fc.integer({ min: 1, max: 60 }),
      (ls, size, max) => {
        const buf = lines(...ls);
        const n = bytesThatFit(size, buf, max);
        assert.ok(n >= 0 && n <= buf.length);
        if (n > 0 && n < buf.length) assert.equal(buf[n - 1], 10, 'cut after a newline');
        if (size === 0) assert.ok(n > 0, 'a fresh file takes at least one line');
        if (n > 0 && size + n > max) assert.equal(size, 0, 'only a fresh file goes past the limit');
        if (n > 0 && size + n > max) assert.equal(buf.indexOf(10) + 1, n, 'and then with one line');
      },
    ),
  );
});
