/**
 * syzkaller's special titles for enterprise logs (lockdep, refcount, scheduling while atomic,
 * sleeping function, list corruption; KASAN, KFENCE, KMSAN, KCSAN, UBSAN, ODEBUG, usercopy — after
 * google/syzkaller pkg/report/linux.go): a real syzbot lockdep report gets syzbot's own title, and
 * a lockdep report cut before its backtrace is kept, partial. The per-era case files under
 * test/data/analyze/cases/ (lockdep_*, refcount_*, sched_atomic_*, might_sleep_*, list_corruption_*)
 * are checked in every input format by cases.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { Detector } from './detect.js';
import { scanStream } from './scan.js';
import type { Incident } from './model.js';
import { CASE_FORMATS, renderCase } from './casegen.js';

const titles = new URL('../../test/data/analyze/titles/', import.meta.url);
const cases = new URL('../../test/data/analyze/cases/', import.meta.url);

async function run(text: string): Promise<Incident[]> {
  const incs: Incident[] = [];
  const det = new Detector((i) => incs.push(i));
  await scanStream(Readable.from([Buffer.from(text)]), det, { name: 't', refYear: 2024, refMonth: 11 });
  det.finish();
  return incs;
}

test("a real syzbot lockdep report gets syzbot's title, the acquiring task and the lock", async () => {
  const incs = await run(readFileSync(new URL('lockdep_syzbot_ocfs2.log', titles), 'utf8'));
  assert.equal(incs.length, 1);
  const i = incs[0]!;
  assert.equal(i.title, 'possible deadlock in ocfs2_read_blocks');
  assert.equal(i.subkind, 'lockdep_circular');
  assert.equal(i.partial, false);
  assert.deepEqual(i.tasks[0], { role: 'current', comm: 'syz.3.993', pid: 9951 });
  assert.equal(i.facts['lock'], '&oi->ip_io_mutex');
  // The dependency chains' frames are not the report's stack: the backtrace's are.
  assert.equal(i.frames[0]?.func, 'dump_stack_lvl');
});

test('a lockdep report cut before its backtrace is kept, partial, with its title', async () => {
  const lines = readFileSync(new URL('lockdep_circular_5.14.log', cases), 'utf8').split('\n');
  const cut = lines.findIndex((l) => l.includes('*** DEADLOCK ***'));
  const incs = await run(lines.slice(0, cut).join('\n'));
  assert.equal(incs.length, 1);
  assert.equal(incs[0]!.title, 'possible deadlock in xfs_ilock');
  assert.equal(incs[0]!.partial, true);
});

test('a new report header inside an unfinished lockdep report ends it', async () => {
  const lockdep = readFileSync(new URL('lockdep_recursive_3.10.log', cases), 'utf8').split('\n').slice(0, 12);
  const incs = await run(
    [...lockdep, '[  611.300000] BUG: soft lockup - CPU#3 stuck for 22s! [nfsd:1874]', '[  611.300001] Call Trace:', '[  611.300002]  [<ffffffffc06b2f5e>] nfsd_lookup_dentry+0xbe/0x3f0 [nfsd]'].join(
      '\n',
    ),
  );
  assert.deepEqual(
    incs.map((i) => [i.title, i.partial]),
    [
      ['possible deadlock in nfsd_lookup_dentry', true],
      ['BUG: soft lockup in nfsd_lookup_dentry', false],
    ],
  );
});

test('the WARN message printed before its header (5.x) is kept, in every input format', async () => {
  const refcount = readFileSync(new URL('refcount_5.14.log', cases), 'utf8');
  const list = readFileSync(new URL('list_corruption_5.14.log', cases), 'utf8');
  const list310 = readFileSync(new URL('list_corruption_3.10.log', cases), 'utf8');
  for (const format of CASE_FORMATS) {
    const r = (await run(renderCase(refcount, format))).find((i) => i.subkind === 'refcount');
    assert.equal(r?.facts['refcount'], 'underflow; use-after-free', `refcount as ${format}`);
    const l = (await run(renderCase(list, format))).find((i) => i.subkind === 'list_corruption');
    assert.match(String(l?.facts['listCorruption']), /^list_del corruption\. next->prev should be/, `list_del as ${format}`);
    // ≤4.x: the message follows the WARNING line.
    const o = (await run(renderCase(list310, format))).find((i) => i.subkind === 'list_corruption');
    assert.match(String(o?.facts['listCorruption']), /^list_add corruption\. prev->next should be next/, `list_add as ${format}`);
  }
});

test('ODEBUG and usercopy messages are kept as facts, before (5.x) or after (3.10) the header, in every input format', async () => {
  const odebug514 = readFileSync(new URL('odebug_5.14.log', cases), 'utf8');
  const odebug310 = readFileSync(new URL('odebug_3.10.log', cases), 'utf8');
  const usercopy = readFileSync(new URL('usercopy_5.14.log', cases), 'utf8');
  for (const format of CASE_FORMATS) {
    const a = (await run(renderCase(odebug514, format))).find((i) => i.subkind === 'odebug');
    assert.deepEqual([a?.facts['odebug'], a?.facts['odebugObjectType'], a?.facts['odebugHint']], ['free active', 'timer_list', 'bnxt_timer'], `ODEBUG 5.14 as ${format}`);
    const b = (await run(renderCase(odebug310, format))).find((i) => i.subkind === 'odebug');
    assert.deepEqual([b?.facts['odebug'], b?.facts['odebugObjectType'], b?.facts['odebugHint']], ['free active', 'work_struct', 'nfs4_renew_state'], `ODEBUG 3.10 as ${format}`);
    const u = (await run(renderCase(usercopy, format))).find((i) => i.subkind === 'usercopy');
    assert.equal(u?.facts['usercopy'], "Kernel memory exposure attempt detected from SLUB object 'kmalloc-512' (offset 408, size 160)!", `usercopy as ${format}`);
  }
});

test('a KASAN report: the access from its access line, its own stack only (not the Allocated/Freed stacks)', async () => {
  const [i] = await run(readFileSync(new URL('kasan_uaf_5.14.log', cases), 'utf8'));
  assert.deepEqual([i!.facts['access'], i!.facts['accessSize'], i!.facts['bugType']], ['Read', 8, 'use-after-free']);
  const funcs = i!.frames.map((f) => f.func);
  assert.ok(funcs.includes('rpc_free_task'));
  assert.ok(!funcs.includes('nfs4_alloc_stid') && !funcs.includes('nfs4_put_stid'), JSON.stringify(funcs));
});

test('KASAN title shapes: newer double-free header, 4.x `on address`, plumbing in the header, two reports in a row', async () => {
  const incs = await run(
    [
      '[ 1.000000] BUG: KASAN: double-free in kvfree+0x1/0x2',
      '[ 1.000001] Call Trace:',
      '[ 1.000002]  kvfree+0x1/0x2',
      '[ 1.000003]  xt_free_table_info+0x1/0x2',
      '[ 1.000004] ==================================================================',
      '[ 2.000000] BUG: KASAN: null-ptr-deref on address 0000000000000010',
      '[ 2.000001] Read of size 8 by task syz-executor/4242',
      '[ 2.000002] Call Trace:',
      '[ 2.000003]  dump_stack+0x1/0x2',
      '[ 2.000004]  tun_chr_close+0x1/0x2',
      '[ 2.000005] ==================================================================',
      '[ 3.000000] BUG: KASAN: stack-out-of-bounds in strnlen+0x1/0x2',
      '[ 3.000001] Read of size 1 at addr ffffc90001 by task modprobe/77',
      '[ 3.000002] Call Trace:',
      '[ 3.000003]  kasan_report+0x1/0x2',
      '[ 3.000004]  strnlen+0x1/0x2',
      '[ 3.000005]  acme_parse_name+0x1/0x2 [acme]',
      '[ 3.000006] BUG: KASAN: use-after-free in acme_poll+0x1/0x2 [acme]',
      '[ 3.000007] Write of size 4 at addr ffff8880 by task acmed/78',
      '[ 3.000008] Call Trace:',
      '[ 3.000009]  acme_poll+0x1/0x2 [acme]',
    ].join('\n'),
  );
  assert.deepEqual(
    incs.map((i) => i.title),
    ['KASAN: invalid-free in xt_free_table_info', 'KASAN: null-ptr-deref Read', 'KASAN: stack-out-of-bounds Read in acme_parse_name', 'KASAN: use-after-free Write in acme_poll'],
  );
  assert.deepEqual(incs[1]!.tasks[0], { role: 'current', comm: 'syz-executor', pid: 4242 });
});

test('KFENCE and KCSAN title shapes', async () => {
  const incs = await run(
    [
      '[ 1.000000] BUG: KFENCE: out-of-bounds write in acme_fill+0x1/0x2 [acme]',
      '[ 1.000001] Out-of-bounds write at 0x000000001234abcd (1B right of kfence-#3):',
      '[ 1.000002]  acme_fill+0x1/0x2 [acme]',
      '[ 1.000003] ==================================================================',
      '[ 2.000000] BUG: KFENCE: invalid free in kfree+0x1/0x2',
      '[ 2.000001] Invalid free of 0x000000001234abcd (in kfence-#4):',
      '[ 2.000002]  kfree+0x1/0x2',
      '[ 2.000003]  acme_release+0x1/0x2 [acme]',
      '[ 2.000004] ==================================================================',
      '[ 3.000000] BUG: KCSAN: data-race in acme_read / acme_write',
      '[ 3.000001] write to 0xffff888 of 4 bytes by task 12 on cpu 1:',
      '[ 3.000002]  acme_write+0x1/0x2',
    ].join('\n'),
  );
  assert.deepEqual(
    incs.map((i) => i.title),
    ['KFENCE: out-of-bounds write in acme_fill', 'KFENCE: invalid free in acme_release', 'KCSAN: data-race in acme_read / acme_write'],
  );
});

test('UBSAN 4.x `Undefined behaviour in file:line` is titled `UBSAN: undefined-behaviour in F`', async () => {
  const incs = await run(
    [
      '[ 7.000000] ================================================================================',
      '[ 7.000001] UBSAN: Undefined behaviour in drivers/acme/acme.c:123:9',
      '[ 7.000002] signed integer overflow:',
      "[ 7.000003] 2147483647 + 1 cannot be represented in type 'int'",
      '[ 7.000004] CPU: 0 PID: 1 Comm: swapper/0 Not tainted 4.19.0 #1',
      '[ 7.000005] Call Trace:',
      '[ 7.000006]  dump_stack+0x1/0x2',
      '[ 7.000007]  ubsan_epilogue+0x1/0x2',
      '[ 7.000008]  handle_overflow+0x1/0x2',
      '[ 7.000009]  __ubsan_handle_add_overflow+0x1/0x2',
      '[ 7.000010]  acme_count+0x1/0x2 [acme]',
      '[ 7.000011]  acme_probe+0x1/0x2 [acme]',
      '[ 7.000012] ================================================================================',
      '[ 8.000000] acme 0000:01:00.0: probe done',
    ].join('\n'),
  );
  assert.deepEqual(
    incs.map((i) => [i.kind, i.subkind, i.title, i.facts['sourceLocation'], i.partial]),
    [['warning', 'ubsan', 'UBSAN: undefined-behaviour in acme_count', 'drivers/acme/acme.c:123:9', false]],
  );
});

test('UBSAN detail lines and the KASAN object cache are kept as facts, in every input format', async () => {
  const shift = readFileSync(new URL('ubsan_shift_6.x.log', cases), 'utf8');
  const uaf = readFileSync(new URL('kasan_uaf_5.14.log', cases), 'utf8');
  for (const format of CASE_FORMATS) {
    const u = (await run(renderCase(shift, format))).find((i) => i.subkind === 'ubsan');
    assert.equal(u?.facts['detail'], "shift exponent 64 is too large for 64-bit type 'long long unsigned int'", `UBSAN as ${format}`);
    assert.ok(
      u?.excerpt.some((l) => l.includes('shift exponent 64')),
      `UBSAN excerpt as ${format}`,
    );
    const k = (await run(renderCase(uaf, format))).find((i) => i.subkind === 'kasan');
    assert.equal(k?.facts['slabCache'], 'nfsd4_delegations', `KASAN as ${format}`);
  }
});

test('the usercopy WARN (whitelist fallback, 4.16+) is `WARNING: bad usercopy in F`', async () => {
  const incs = await run(
    [
      "[ 9.000000] Bad or missing usercopy whitelist? Kernel memory overwrite attempt detected to SLAB object 'acme_cache' (offset 16, size 8)!",
      '[ 9.000001] ------------[ cut here ]------------',
      '[ 9.000002] WARNING: CPU: 1 PID: 4242 at mm/usercopy.c:81 usercopy_warn+0x7d/0xa0',
      '[ 9.000003] RIP: 0010:usercopy_warn+0x7d/0xa0',
      '[ 9.000004] Call Trace:',
      '[ 9.000005]  __check_heap_object+0xb8/0x11b',
      '[ 9.000006]  __check_object_size+0xb9/0x1c0',
      '[ 9.000007]  acme_set_config+0x1/0x2 [acme]',
      '[ 9.000008]  acme_ioctl+0x1/0x2 [acme]',
      '[ 9.000009] ---[ end trace 0123456789abcdef ]---',
    ].join('\n'),
  );
  assert.deepEqual(
    incs.map((i) => [i.title, i.subkind, i.facts['usercopy']]),
    [['WARNING: bad usercopy in acme_set_config', 'usercopy', "Kernel memory overwrite attempt detected to SLAB object 'acme_cache' (offset 16, size 8)!"]],
  );
});
