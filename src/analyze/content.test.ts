/**
 * The byte-level core of the scan: binary judged by proportion, NUL runs dropped and counted,
 * lines cut to the cap and counted exactly once whatever the chunking.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { HOLE_MIN_BYTES, LineAssembler, NulFilter, judgeContent } from './content.js';
import { Detector } from './detect.js';
import { scanStream } from './scan.js';
import type { Incident } from './model.js';
import { journalLike } from './binarygen.js';

const real = new URL('../../test/data/analyze/real/', import.meta.url);

test('judgeContent: text logs are text, also with the zero runs a crash leaves and a NUL in the first bytes', () => {
  const log = readFileSync(new URL('hung_task_02.log', real));
  assert.deepEqual(judgeContent(log), { binary: false });
  // The tail a crash left unwritten: longer than the text around it.
  assert.deepEqual(judgeContent(Buffer.concat([log.subarray(0, 2000), Buffer.alloc(65536), log])), { binary: false });
  assert.deepEqual(judgeContent(Buffer.concat([Buffer.alloc(100), log])), { binary: false });
  // A sender that ends every message with NUL.
  assert.deepEqual(judgeContent(Buffer.from(log.toString('latin1').replace(/\n/g, '\0\n'), 'latin1')), { binary: false });
  assert.deepEqual(judgeContent(Buffer.alloc(0)), { binary: false });
  assert.deepEqual(judgeContent(Buffer.alloc(4096)), { binary: false }, 'a log that is all hole is empty, not binary');
  // Colour codes and tabs are text.
  assert.deepEqual(judgeContent(Buffer.from('\x1b[31mred\x1b[0m\tok\r\n'.repeat(100))), { binary: false });
});

test('judgeContent: journal, ELF and binary records are refused, also without their magic', () => {
  const j = judgeContent(journalLike(200));
  assert.equal(j.binary, true);
  assert.match((j as { reason: string }).reason, /systemd journal file: read it with journalctl --file FILE/);
  const noMagic = judgeContent(journalLike(200, false));
  assert.equal(noMagic.binary, true, 'judged by proportion');
  const elf = Buffer.concat([Buffer.from('\x7fELF\x02\x01\x01', 'latin1'), Buffer.alloc(60)]);
  assert.match((judgeContent(elf) as { reason: string }).reason, /ELF file: a core dump or a program/);
  // wtmp-like records: a type, a pid, short strings in zero-padded fields.
  const rec = Buffer.alloc(384);
  rec.writeInt32LE(7, 0);
  rec.writeInt32LE(4242, 4);
  rec.write('pts/0', 8);
  rec.write('root', 44);
  const wtmp = Buffer.concat(Array.from({ length: 50 }, () => rec));
  assert.equal(judgeContent(wtmp).binary, true);
  assert.equal(judgeContent(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0x7e, 0])).binary, true);
});

test('NulFilter: runs are dropped and counted; a hole inside a line ends it; chunk boundaries change nothing', () => {
  const input = Buffer.concat([Buffer.from('line one\nline tw'), Buffer.alloc(HOLE_MIN_BYTES * 4), Buffer.from('May  3 next boot\n\0short\0run\n'), Buffer.alloc(10)]);
  const expected = 'line one\nline tw\nMay  3 next boot\nshortrun\n';
  for (let size = 1; size <= input.length; size++) {
    const f = new NulFilter();
    const out: Buffer[] = [];
    for (let i = 0; i < input.length; i += size) out.push(f.filter(input.subarray(i, i + size)));
    assert.equal(Buffer.concat(out).toString(), expected, `chunk ${size}`);
    assert.equal(f.nulBytes, HOLE_MIN_BYTES * 4 + 2 + 10);
    assert.equal(f.nulRuns, 4);
  }
});

function assemble(input: Buffer, chunk: number, cap: number): { out: Buffer; a: LineAssembler } {
  const a = new LineAssembler(cap);
  const parts: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunk) parts.push(a.push(input.subarray(i, i + chunk)));
  parts.push(a.end());
  return { out: Buffer.concat(parts), a };
}

test('LineAssembler: every line once, overlong lines cut on a character boundary and counted once, invalid UTF-8 per line', () => {
  const cap = 64;
  const lines = ['short', 'é'.repeat(100), '', 'x'.repeat(1000), 'bad \xff here', 'ok', 'bad \xfe again', 'last without newline'];
  const input = Buffer.from(lines.join('\n'), 'utf8');
  // 'bad \xff' as latin1 bytes: rebuild those two lines from raw bytes.
  const raw = Buffer.concat(lines.map((l, i) => Buffer.concat([l.startsWith('bad') ? Buffer.from(l, 'latin1') : Buffer.from(l, 'utf8'), Buffer.from(i < lines.length - 1 ? '\n' : '')])));
  assert.ok(input.length > 0);
  for (const chunk of [1, 3, 7, 64, 65, 200, raw.length]) {
    const { out, a } = assemble(raw, chunk, cap);
    const got = out.toString('latin1').split('\n');
    assert.equal(got.length, lines.length, `chunk ${chunk}: one output line per input line`);
    assert.equal(a.overlongLines, 2, `chunk ${chunk}`);
    assert.equal(a.invalidUtf8Lines, 2, `chunk ${chunk}`);
    const accented = Buffer.from(got[1]!, 'latin1');
    assert.ok(accented.length <= cap && isUtf8(accented), 'cut on a character boundary');
    assert.equal(a.overlongBytesCut, 200 - accented.length + (1000 - cap));
    assert.equal(got[7], 'last without newline');
  }
});

test('LineAssembler: property: lines, overlong and invalid counts are exact for any lines and any chunking', () => {
  const lineArb = fc.oneof(
    fc.string({ maxLength: 30 }).map((s) => Buffer.from(s.replace(/\n/g, ' '))),
    fc.integer({ min: 90, max: 400 }).map((n) => Buffer.alloc(n, 0x61)),
    fc.uint8Array({ maxLength: 20 }).map((u) => Buffer.from(u.map((b) => (b === 10 ? 32 : b)))),
  );
  fc.assert(
    fc.property(fc.array(lineArb, { maxLength: 40 }), fc.integer({ min: 1, max: 500 }), fc.boolean(), (ls, chunk, finalNewline) => {
      const cap = 80;
      const input = Buffer.concat(ls.flatMap((l, i) => [l, i < ls.length - 1 || finalNewline ? Buffer.from('\n') : Buffer.alloc(0)]));
      const { out, a } = assemble(input, chunk, cap);
      const outLines = out.length === 0 ? [] : out.toString('latin1').replace(/\n$/, '').split('\n');
      // An empty last piece after the last line end is no line.
      const expectedLines = ls.length - (!finalNewline && ls.length > 0 && ls[ls.length - 1]!.length === 0 ? 1 : 0);
      if (input.length > 0) assert.equal(outLines.length, expectedLines);
      assert.equal(a.overlongLines, ls.filter((l) => l.length > cap).length);
      assert.equal(a.invalidUtf8Lines, ls.filter((l) => l.length <= cap && !isUtf8(l)).length);
      for (const l of outLines) assert.ok(Buffer.byteLength(l, 'latin1') <= cap);
    }),
    { numRuns: 500 },
  );
});

test('scan: a panic after a crash hole in the first 4 KiB is found; lines and NUL runs are counted', async () => {
  const incs: Incident[] = [];
  const det = new Detector((i) => incs.push(i));
  const data = Buffer.concat([Buffer.from('[    1.000000] eth0: link up\n[    2.000000] eth0: link'), Buffer.alloc(8192), readFileSync(new URL('panic_01.log', real)), Buffer.alloc(3000)]);
  const res = await scanStream(Readable.from([data]), det, { name: 't', refYear: 2024, refMonth: 0 });
  det.finish();
  assert.equal(res.nulBytes, 8192 + 3000);
  assert.equal(res.nulRuns, 2);
  assert.equal(res.lines, 2 + 15);
  assert.ok(incs.some((i) => i.kind === 'panic'));
});
