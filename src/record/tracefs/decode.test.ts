import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { parseEventFormat, parseHeaderEvent, parseHeaderPage, parseFieldLine, FormatError } from './format.js';
import { compileDecoder, decodePage, type DecodedEvent, type EventType } from './decode.js';
import { parseCpuStats, parseInstanceDirName, instanceDirName } from './instance.js';

const data = new URL('../../../test/data/record/', import.meta.url);
const read = (f: string) => readFileSync(new URL(f, data), 'utf8');

function loadTypes(): Map<number, EventType> {
  const types = new Map<number, EventType>();
  for (const f of readdirSync(data).filter((n) => n.endsWith('.format'))) {
    const fmt = parseEventFormat(read(f), f);
    types.set(fmt.id, { name: fmt.name, decode: compileDecoder(fmt) });
  }
  return types;
}

test('format files: fields, data_loc strings, fixed char arrays, ids', () => {
  const exec = parseEventFormat(read('sched_process_exec.format'));
  assert.equal(exec.name, 'sched_process_exec');
  assert.equal(exec.id, 365);
  const filename = exec.fields.find((f) => f.name === 'filename')!;
  assert.equal(filename.dataLoc, true);
  assert.equal(filename.isString, true);
  const exit = parseEventFormat(read('sched_process_exit.format'));
  const comm = exit.fields.find((f) => f.name === 'comm')!;
  assert.deepEqual([comm.offset, comm.size, comm.isString, comm.arrayLength], [8, 16, true, 16]);
  assert.ok(
    exit.fields.some((f) => f.name === 'group_dead'),
    'kernel 6.18 has group_dead',
  );
  const eg = parseEventFormat(read('sys_enter_exit_group.format'));
  const code = eg.fields.find((f) => f.name === 'error_code')!;
  assert.deepEqual([code.offset, code.size], [16, 8]);
});

test('format parser: bad input is a clear error, not a crash', () => {
  assert.throws(() => parseEventFormat('garbage'), FormatError);
  assert.throws(() => parseEventFormat('name: x\nID: 3\n'), /common_type/);
  assert.equal(parseFieldLine('not a field'), null);
  const rel = parseFieldLine('\tfield:__rel_loc char[] name;\toffset:8;\tsize:4;\tsigned:0;')!;
  assert.equal(rel.relLoc, true);
  assert.equal(rel.isString, true);
});

test('header_page and header_event layouts', () => {
  const page = parseHeaderPage(read('header_page'));
  assert.deepEqual(page, { timestampOffset: 0, timestampSize: 8, commitOffset: 8, commitSize: 8, dataOffset: 16, dataSize: 4080 });
  const ev = parseHeaderEvent(read('header_event'));
  assert.deepEqual(ev, { padding: 29, timeExtend: 30, timeStamp: 31, dataMaxTypeLen: 28, typeLenBits: 5, timeDeltaBits: 27 });
});

test('decodes a real trace_pipe_raw page', () => {
  const page = readFileSync(new URL('page-cpu0.bin', data));
  const out: DecodedEvent[] = [];
  const r = decodePage(page, page.length, parseHeaderPage(read('header_page')), parseHeaderEvent(read('header_event')), loadTypes(), 0, out);
  assert.deepEqual(r, { missed: 0, events: 18, unknown: 0, bad: 0 });
  assert.deepEqual(
    out.map((e) => e.name),
    [
      'sched_process_exec',
      'task_newtask',
      'sched_process_exec',
      'task_newtask',
      'sched_process_exec',
      'sys_enter_exit_group',
      'sched_process_exit',
      'task_newtask',
      'sched_process_exec',
      'signal_generate',
      'signal_deliver',
      'sched_process_exit',
      'task_newtask',
      'sched_process_exec',
      'sys_enter_exit_group',
      'sched_process_exit',
      'sys_enter_exit_group',
      'sched_process_exit',
    ],
  );
  for (let i = 1; i < out.length; i++) assert.ok(out[i]!.ts >= out[i - 1]!.ts, 'timestamps ascend within a page');
  assert.equal(out[0]!.fields.filename, '/bin/sh');
  assert.equal(out[5]!.fields.error_code, 7);
  assert.deepEqual([out[9]!.fields.sig, out[9]!.fields.result, out[10]!.fields.sig], [15, 0, 9]);
  assert.equal(out[6]!.fields.comm, 'sh');
  assert.equal(out[6]!.fields.group_dead, 1);
});

/** Build a page by hand: exercises time extends, absolute stamps, padding, long records and loss flags. */
function buildPage(parts: Buffer[], pageTs: number, flags = 0, missed?: number): Buffer {
  const data = Buffer.concat(parts);
  const page = Buffer.alloc(4096);
  page.writeUInt32LE(pageTs % 2 ** 32, 0);
  page.writeUInt32LE(Math.floor(pageTs / 2 ** 32), 4);
  page.writeUInt32LE((data.length | flags) >>> 0, 8);
  data.copy(page, 16);
  if (missed !== undefined) page.writeUInt32LE(missed, 16 + data.length);
  return page;
}
const hdr = (typeLen: number, delta: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(((delta << 5) | typeLen) >>> 0);
  return b;
};
function newtask(pid: number): Buffer {
  // task_newtask record: 48 bytes (common header, pid, comm[16], clone_flags, oom_score_adj).
  const r = Buffer.alloc(44);
  r.writeUInt16LE(205, 0);
  r.writeInt32LE(1, 4);
  r.writeInt32LE(pid, 8);
  r.write('worker', 12);
  r.writeUInt32LE(0x10000, 32);
  return r;
}

test('synthetic page: time extend, absolute stamp, padding, type_len 0, loss marker with count', () => {
  const types = loadTypes();
  const lenWord = Buffer.alloc(4);
  lenWord.writeUInt32LE(44 + 4);
  const ext = Buffer.alloc(4);
  ext.writeUInt32LE(2); // 2 << 27 ns extension
  const abs = Buffer.alloc(4);
  abs.writeUInt32LE(0);
  const pad = Buffer.alloc(4);
  pad.writeUInt32LE(12); // array[0] = bytes after the 4-byte header, itself included
  const page = buildPage(
    [
      hdr(11, 100),
      newtask(10), // small record, delta 100
      hdr(30, 5),
      ext, // time extend: +5 + 2<<27
      hdr(0, 7),
      lenWord,
      newtask(11), // long form record, delta 7
      hdr(29, 1),
      pad,
      Buffer.alloc(8), // discarded event: skipped, delta ignored
      hdr(31, 1000),
      abs, // absolute timestamp 1000
      hdr(11, 1),
      newtask(12),
    ],
    5_000_000_000,
    0x80000000 | 0x40000000,
    3,
  );
  const out: DecodedEvent[] = [];
  const r = decodePage(page, page.length, parseHeaderPage(read('header_page')), parseHeaderEvent(read('header_event')), types, 1, out);
  assert.equal(r.missed, 3);
  assert.equal(r.bad, 0);
  assert.deepEqual(
    out.map((e) => e.fields.pid),
    [10, 11, 12],
  );
  assert.equal(out[0]!.ts, 5_000_000_100);
  assert.equal(out[1]!.ts, 5_000_000_100 + 5 + 2 * 2 ** 27 + 7);
  assert.equal(out[2]!.ts, 1001);
  assert.equal(out[0]!.fields.comm, 'worker');
  assert.equal(out[0]!.cpu, 1);
});

test('corrupt pages are counted, never thrown', () => {
  const types = loadTypes();
  const layout = parseHeaderPage(read('header_page'));
  const he = parseHeaderEvent(read('header_event'));
  const out: DecodedEvent[] = [];
  const tooLong = Buffer.alloc(4096);
  tooLong.writeUInt32LE(5000, 8);
  assert.equal(decodePage(tooLong, 4096, layout, he, types, 0, out).bad, 1);
  assert.equal(decodePage(Buffer.alloc(8), 8, layout, he, types, 0, out).bad, 1);
  // A record whose length runs past the data.
  const overrun = buildPage([hdr(0, 1), Buffer.from([0xff, 0xff, 0, 0])], 0);
  const r = decodePage(overrun, 4096, layout, he, types, 0, out);
  assert.equal(r.bad, 1);
  // Unknown event ids are skipped and counted.
  const unk = Buffer.alloc(12);
  unk.writeUInt16LE(9999, 0);
  const r2 = decodePage(buildPage([hdr(3, 1), unk], 0), 4096, layout, he, types, 0, out);
  assert.deepEqual([r2.unknown, r2.bad], [1, 0]);
  // A string field pointing outside its record.
  const exec = Buffer.alloc(20);
  exec.writeUInt16LE(365, 0);
  exec.writeUInt32LE((200 << 16) | 8, 8);
  const r3 = decodePage(buildPage([hdr(5, 1), exec], 0), 4096, layout, he, types, 0, out);
  assert.equal(r3.bad, 1);
  assert.match(r3.error!, /filename/);
  assert.equal(out.length, 0);
});

test('per-cpu stats and instance names', () => {
  const s = parseCpuStats('entries: 5\noverrun: 12\ncommit overrun: 0\nbytes: 100\noldest event ts:  1.0\nnow ts:  2.0\ndropped events: 3\nread events: 40\n');
  assert.deepEqual(s, { entries: 5, overrun: 12, commitOverrun: 0, dropped: 3, readEvents: 40 });
  assert.deepEqual(parseInstanceDirName(instanceDirName('default', 42)), { name: 'default', pid: 42 });
  assert.equal(parseInstanceDirName('foo'), null);
  assert.equal(parseInstanceDirName('lantern.a/b.1'), null);
});
