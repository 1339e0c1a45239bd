/**
 * syzkaller's special titles for enterprise logs (lockdep, refcount, scheduling while atomic,
 * sleeping function, list corruption): a real syzbot lockdep report gets syzbot's own title, and
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

test('a real syzbot lockdep report gets syzbot\'s title, the acquiring task and the lock', async () => {
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
  const incs = await run([...lockdep, '[  611.300000] BUG: soft lockup - CPU#3 stuck for 22s! [nfsd:1874]', '[  611.300001] Call Trace:', '[  611.300002]  [<ffffffffc06b2f5e>] nfsd_lookup_dentry+0xbe/0x3f0 [nfsd]'].join('\n'));
  assert.deepEqual(incs.map((i) => [i.title, i.partial]), [
    ['possible deadlock in nfsd_lookup_dentry', true],
    ['BUG: soft lockup in nfsd_lookup_dentry', false],
  ]);
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
