/**
 * The soft lockup frame (frames.ts lockupGuilty): syzkaller's rule for lockups, reading the RIP
 * function first (google/syzkaller pkg/report/linux.go, `BUG: soft lockup` + linuxStallFrameExtractor).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lockupGuilty } from './frames.js';
import type { Frame } from './model.js';

const fr = (...names: string[]): Frame[] => names.map((n) => (n.startsWith('? ') ? { func: n.slice(2), reliable: false } : { func: n, reliable: true }));

test('the frame just before the first anchor: the driver ioctl handler before do_vfs_ioctl', () => {
  assert.equal(lockupGuilty('ioread32', fr('? nouveau_timer_wait_eq', 'nv50_dac_sense', 'nouveau_drm_ioctl', 'do_vfs_ioctl', 'SyS_ioctl', 'sysenter_do_call')), 'nouveau_drm_ioctl');
});

test('the RIP function counts as the first frame: an RIP right above an anchor is the answer', () => {
  assert.equal(lockupGuilty('d_walk', fr('shrink_dcache_parent', 'do_rmdir', 'do_syscall_64')), 'do_rmdir');
  assert.equal(lockupGuilty('acme_spin', fr('process_one_work', 'worker_thread')), 'acme_spin');
});

test('smp_call_function* as an anchor names the family', () => {
  assert.equal(lockupGuilty('smp_call_function_many', fr('on_each_cpu', 'flush_tlb_all', 'do_vfs_ioctl')), 'smp_call_function');
  // Also deeper in the stack: the anchor itself, not the frame before it (syzkaller's exception).
  assert.equal(lockupGuilty(undefined, fr('kvm_flush_remote_tlbs', 'smp_call_function_many_cond', 'on_each_cpu_cond_mask')), 'smp_call_function');
});

test('a plumbing RIP (a spin lock) is skipped; syscalls are normalised; no anchor gives no answer', () => {
  assert.equal(lockupGuilty('native_queued_spin_lock_slowpath', fr('_raw_spin_lock', 'acme_lookup', '__x64_sys_acme', 'do_syscall_64')), 'sys_acme');
  assert.equal(lockupGuilty('acme_spin', fr('acme_loop')), undefined);
});

test('the watchdog timer interrupt printed without `?` marks is not the lockup', () => {
  const frames = fr(
    'watchdog_timer_fn',
    '__hrtimer_run_queues',
    'hrtimer_interrupt',
    '__sysvec_apic_timer_interrupt',
    'sysvec_apic_timer_interrupt',
    'asm_sysvec_apic_timer_interrupt',
    'isolate_migratepages',
    'compact_zone',
    'kcompactd',
    'kthread',
    'ret_from_fork',
  );
  assert.equal(lockupGuilty('isolate_migratepages_block', frames), 'kcompactd');
});
