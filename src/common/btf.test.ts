/**
 * The BTF reader on the running kernel's /sys/kernel/btf/vmlinux (the offsets the I/O detector's
 * BPF program reads at) and on a small hand-made blob (test/data/common/btf/small.btf, its
 * README lists the types): members through typedefs, const, anonymous unions and nested
 * structs, bitfields, loops; cut, damaged and foreign input is a BtfError, never another throw.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Btf, BtfError, KIND, parseBtf, VMLINUX_BTF } from './btf.js';
import { facilitySkip } from './testenv.js';

const SMALL = readFileSync(fileURLToPath(new URL('../../test/data/common/btf/small.btf', import.meta.url)));
const noVmlinux = existsSync(VMLINUX_BTF) ? undefined : `${VMLINUX_BTF} is absent (a kernel without CONFIG_DEBUG_INFO_BTF)`;

const btfError = (re: RegExp) => (e: unknown) => e instanceof BtfError && re.test(e.message);

test('small blob: struct members, through typedef + const, an anonymous union, a pointer, an array', () => {
  const b = parseBtf(SMALL);
  assert.equal(b.count, 14);
  assert.equal(b.findStruct('outer'), 6);
  assert.equal(b.findStruct('inner'), 2, 'the struct, not the forward declaration of that name (id 12)');
  assert.equal(b.findStruct('nothing'), null);
  assert.deepEqual(b.memberPlace('outer', 'x'), { bitOffset: 0, byteOffset: 0, bitfieldSize: 0, typeId: 1, kind: KIND.INT, size: 4 });
  assert.equal(b.byteOffset('outer', 'in', 8), 8);
  assert.equal(b.byteOffset('outer', 'in.b', 4), 12, 'const inner_t followed to struct inner');
  assert.equal(b.byteOffset('outer', 'u', 4), 16, 'a member of the anonymous union');
  assert.deepEqual(b.memberPlace('outer', 'v'), { bitOffset: 128, byteOffset: 16, bitfieldSize: 0, typeId: 7, kind: KIND.PTR, size: 8 });
  assert.equal(b.sizeOf(6), 32);
  assert.equal(b.memberPlace('arr', 'q').size, 16);
  assert.equal(b.nameOf(3), 'inner_t');
});

test('small blob: a path through a pointer, a missing member or struct, a bitfield, a wrong size, a typedef loop: clear BtfErrors', () => {
  const b = parseBtf(SMALL);
  assert.throws(() => b.memberPlace('nothing', 'x'), btfError(/^BTF has no struct nothing$/));
  assert.throws(() => b.memberPlace('outer', 'y'), btfError(/^BTF: struct outer has no member y$/));
  assert.throws(() => b.memberPlace('outer', 'x.z'), btfError(/^BTF: struct outer\.x is not a struct or union, it has no member z$/));
  assert.throws(() => b.memberPlace('outer', 'p.x'), btfError(/^BTF: struct outer\.p is not a struct or union, it has no member x$/), 'a pointer is not followed');
  assert.throws(() => b.byteOffset('bits', 'hi'), btfError(/bits\.hi is a bitfield \(bit 3\)/));
  assert.equal(b.memberPlace('bits', 'hi').bitfieldSize, 5);
  assert.throws(() => b.byteOffset('outer', 'x', 8), btfError(/^BTF: struct outer\.x is 4 bytes, expected 8$/));
  assert.throws(() => b.memberPlace('has_loop', 'l'), btfError(/a loop of typedefs or modifiers/));
  // Damage that nests the anonymous union into itself: the search ends, the member is just not there.
  const selfNested = Buffer.from(SMALL);
  selfNested.writeUInt32LE(0, 24 + 100); // union member v: nameless…
  selfNested.writeUInt32LE(5, 24 + 104); // …and of the union's own type
  assert.throws(() => parseBtf(selfNested).memberPlace('outer', 'zzz'), btfError(/^BTF: struct outer has no member zzz$/));
  assert.equal(parseBtf(selfNested).byteOffset('outer', 'u', 4), 16);
  assert.throws(() => b.nameOf(99), btfError(/^BTF type id 99 does not exist \(1 to 14\)$/));
});

test('bad input: too short, wrong magic, big-endian, other version, header or sections past the end, a cut type', () => {
  assert.throws(() => parseBtf(Buffer.alloc(0)), btfError(/^BTF too short: 0 bytes/));
  assert.throws(() => parseBtf(Buffer.from('\x7fELF' + '\0'.repeat(40), 'latin1')), btfError(/^not BTF: magic 0x457f, expected 0xeb9f$/));
  const be = Buffer.from(SMALL);
  be.writeUInt16BE(0xeb9f, 0);
  assert.throws(() => parseBtf(be), btfError(/big-endian/));
  const v2 = Buffer.from(SMALL);
  v2[2] = 2;
  assert.throws(() => parseBtf(v2), btfError(/^BTF version 2 is not supported/));
  const hdr = Buffer.from(SMALL);
  hdr.writeUInt32LE(1 << 20, 4);
  assert.throws(() => parseBtf(hdr), btfError(/^BTF header length 1048576 is outside/));
  const strs = Buffer.from(SMALL);
  strs.writeUInt32LE(strs.readUInt32LE(20) + 1, 20);
  assert.throws(() => parseBtf(strs), btfError(/^BTF truncated: the string section ends at/));
  const kind = Buffer.from(SMALL);
  kind[24 + 7] = 31; // type 1's kind byte
  assert.throws(() => parseBtf(kind), btfError(/^BTF type 1 has unknown kind 31$/));
  const vlen = Buffer.from(SMALL);
  vlen.writeUInt16LE(0xffff, 24 + 16 + 4); // type 2 (struct inner) claims 65535 members
  assert.throws(() => parseBtf(vlen), btfError(/^BTF type 2 is cut: its 786420 bytes of members run past the type section$/));
  const name = Buffer.from(SMALL);
  name.writeUInt32LE(100_000, 24); // type 1's name outside the strings
  assert.throws(() => parseBtf(name).idsNamed('int'), btfError(/^BTF name offset 100000 is outside the string section/));
});

test('bad input: the blob cut at every length, and random damage, give a BtfError or a usable reader, nothing else', () => {
  for (let n = 0; n < SMALL.length; n++) {
    try {
      const b = parseBtf(SMALL.subarray(0, n));
      b.findStruct('outer');
    } catch (e) {
      assert.ok(e instanceof BtfError, `cut at ${n}: ${String(e)}`);
    }
  }
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(SMALL.length - 1), fc.nat(255)), { minLength: 1, maxLength: 8 }), (edits) => {
      const buf = Buffer.from(SMALL);
      for (const [at, v] of edits) buf[at] = v;
      try {
        const b = parseBtf(buf);
        for (const [s, m] of [
          ['outer', 'in.b'],
          ['outer', 'u'],
          ['bits', 'hi'],
          ['has_loop', 'l'],
          ['arr', 'q'],
        ] as const) {
          try {
            b.memberPlace(s, m);
          } catch (e) {
            if (!(e instanceof BtfError)) throw e;
          }
        }
      } catch (e) {
        if (!(e instanceof BtfError)) throw e;
      }
    }),
    { numRuns: 2000 },
  );
});

test('the running kernel: task_struct and cred members the I/O detector reads, typed as the kernel declares them', { skip: facilitySkip(noVmlinux) }, () => {
  const t0 = Date.now();
  const b = parseBtf(readFileSync(VMLINUX_BTF));
  const ms = Date.now() - t0;
  assert.ok(b.count > 10_000, `${b.count} types`);
  assert.ok(b instanceof Btf);
  const ioac = b.byteOffset('task_struct', 'ioac', b.sizeOf(b.findStruct('task_io_accounting')!));
  // struct task_io_accounting: rchar, wchar, syscr, syscw, read_bytes, write_bytes, cancelled_write_bytes (all u64).
  assert.equal(b.byteOffset('task_struct', 'ioac.rchar', 8), ioac);
  assert.equal(b.byteOffset('task_struct', 'ioac.read_bytes', 8), ioac + 32);
  assert.equal(b.byteOffset('task_struct', 'ioac.write_bytes', 8), ioac + 40);
  assert.equal(b.byteOffset('task_struct', 'ioac.cancelled_write_bytes', 8), ioac + 48);
  assert.equal(b.byteOffset('task_struct', 'tgid', 4), b.byteOffset('task_struct', 'pid', 4) + 4);
  assert.equal(b.memberPlace('task_struct', 'comm').size, 16);
  assert.equal(b.memberPlace('task_struct', 'real_parent').kind, KIND.PTR);
  assert.equal(b.byteOffset('cred', 'uid.val', 4) % 4, 0);
  assert.ok(b.sizeOf(b.findStruct('task_struct')!) > b.byteOffset('task_struct', 'ioac.cancelled_write_bytes', 8));
  console.log(`# vmlinux BTF: ${b.count} types, parsed in ${ms} ms; task_struct.ioac at ${ioac}`);
});
