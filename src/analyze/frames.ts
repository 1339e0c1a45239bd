/**
 * Stack frames: the grammar of kernel call-trace lines and the choice of a "guilty" frame.
 * Grammar after the kernel's scripts/decode_stacktrace.sh: `[<addr>] ? func+0xOFF/0xLEN [module]`,
 * symbolised `func+0x1/0x2 file.c:12`, `func file.c:12 [inline]`, ARM `[<pc>] (func) from [<lr>] (caller)`,
 * arm64 `func+0x1/0x2 (T)`. Skip lists after syzkaller's pkg/report and satyr's koops normaliser.
 */
import type { Frame } from './model.js';

const ADDR_FRAME_RE = /^\s*(?:<(?:IRQ|NMI|EOI|TASK)>\s*|<<EOE>>\s*)*(?:\[<?(?:0x)?[0-9a-f]+>?\]\s*)+(\? )?(?::(\w+):)?([A-Za-z_][\w.$]*)\+0x[0-9a-f]+\/0x[0-9a-f]+(?:\s+\[([\w-]+)[^\]]*\])?/;
const PLAIN_FRAME_RE = /^\s*(?:<(?:IRQ|NMI|EOI|TASK)>\s*|<<EOE>>\s*)*(\? )?([A-Za-z_][\w.$]*)(?:\+0x[0-9a-f]+\/0x[0-9a-f]+(?:\s+\[([\w-]+)[^\]]*\])?|(?= \S+\.[chS]:\d+))/;
const ARM_FRAME_RE = /^\s*\[<[0-9a-f]+>\] \(([A-Za-z_][\w.$]*)(?:\+0x[0-9a-f]+\/0x[0-9a-f]+)?(?: \[([\w-]+)\])?\) from \[<[0-9a-f]+>\]/;
const RIP_RE =
  /^(?:RIP|EIP|IP|NIP|pc|PC is at|EIP is at|RIP is at)\s*:?\s*(?:[0-9a-f]{4}:)?(?:\[<[0-9a-f]+>\]\s*)*(?:\[<[0-9a-f]+>\]\s+)?([A-Za-z_][\w.$]*)\+0x[0-9a-f]+\/0x[0-9a-f]+(?:\s+\[([\w-]+)[^\]]*\])?/;

/** Drops compiler suffixes (`.isra.3`, `.constprop.0`, `.cold`, `.part.7`). */
export function cleanFunc(name: string): string {
  const dot = name.indexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

/** Syscall wrappers spelled per arch/era map to one name, so titles group across kernels (`__x64_sys_rmdir` → `sys_rmdir`). */
export function normalizeSyscall(func: string): string {
  return func.replace(/^(?:__x64_|__ia32_|__arm64_|__s390x_|__riscv_|__se_|__do_|compat_|___|__)+sys_/, 'sys_').replace(/^(?:SyS_|SYSC_|ksys_)/, 'sys_');
}

/** Parses a call-trace line; null when the line is not a frame. */
export function parseFrame(text: string): Frame | null {
  let m = ADDR_FRAME_RE.exec(text);
  if (m) {
    // 2.6 kernels prefix module symbols: `:jbd:journal_commit_transaction`.
    const mod = m[4] ?? m[2];
    return { func: cleanFunc(m[3]!), reliable: m[1] === undefined, ...(mod ? { module: mod } : {}) };
  }
  m = ARM_FRAME_RE.exec(text);
  if (m) return { func: cleanFunc(m[1]!), reliable: true, ...(m[2] ? { module: m[2] } : {}) };
  m = PLAIN_FRAME_RE.exec(text);
  if (m) {
    // Register dumps and prose can look like `word+0x1/0x2`; real frames are short and start indented or bare.
    return { func: cleanFunc(m[2]!), reliable: m[1] === undefined, ...(m[3] ? { module: m[3] } : {}) };
  }
  return null;
}

/** The function named by an `RIP:` / `EIP is at` / `IP:` / `pc :` line. */
export function parseRip(text: string): { func: string; module?: string } | null {
  const m = RIP_RE.exec(text);
  if (!m) return null;
  return { func: cleanFunc(m[1]!), ...(m[2] ? { module: m[2] } : {}) };
}

/**
 * Wait and lock helpers of well-known out-of-tree modules, skipped like the kernel's own
 * (`schedule`, `mutex_lock`, `wait_for_completion`): a ZFS hang parks in SPL's condition variables
 * (`cv_wait_common` ← `__cv_wait_io` ← `zio_wait`), so the answer is the ZFS function that waited.
 * SPL (openzfs spl/module/spl-condvar.c, spl-taskq.c): `cv_wait_common`, `__cv_wait`, `__cv_wait_io`,
 * `__cv_wait_idle`, `__cv_wait_sig`, `cv_timedwait_common`, `__cv_timedwait*`, `cv_timedwait_hires*`,
 * `taskq_wait*`; ZFS: `txg_wait_synced*`, `txg_wait_open`, `zio_wait`, its reader/writer and range locks
 * (`rrw_enter*`, `zfs_rangelock_enter*`).
 */
const OUT_OF_TREE_WAIT = ['^_*cv_wait', '^_*cv_timedwait', '^taskq_wait', '^txg_wait_', '^zio_wait$', '^rrw_enter', '^zfs_rangelock_enter'];

// Frames that never explain a report: reporting, scheduling, locking, allocation, generic helpers, entry code.
const GENERIC_SKIP = new RegExp(
  [
    '^(?:__)?dump_stack',
    '^show_stack',
    '^show_regs',
    '^dump_backtrace',
    '^sched_show_task',
    '^show_trace',
    '^(?:__)?panic$',
    '^nmi_panic',
    '^oops_',
    '^die$',
    '^__die',
    '^do_trap',
    '^do_error_trap',
    '^do_invalid_op',
    '^do_general_protection',
    '^exc_',
    '^asm_exc_',
    '^handle_bug',
    '^report_bug',
    '^__warn',
    '^warn_slowpath',
    '^do_page_fault',
    '^__do_page_fault',
    '^page_fault',
    '^no_context',
    '^__bad_area',
    '^bad_area',
    '^do_user_addr_fault',
    '^do_kern_addr_fault',
    '^kernelmode_fixup',
    '^page_fault_oops',
    '^spurious_fault',
    '^fixup_exception',
    '^(?:__)?schedule',
    '^preempt_schedule',
    '^io_schedule',
    '^__switch_to',
    '^context_switch',
    '^__cond_resched',
    '^_cond_resched',
    '^check_noncircular',
    '^check_prevs\?_add',
    '^print_circular_bug',
    '^validate_chain',
    '^__might_sleep',
    '^___might_sleep',
    '^__might_fault',
    '^might_fault',
    '^msleep',
    '^ssleep',
    '^usleep_range',
    'spin_lock',
    'spin_unlock',
    'spin_trylock',
    '^_raw_',
    '^do_raw_',
    '^queued_spin',
    '^native_queued',
    '^__pv_queued',
    '^lock_acquire',
    '^lock_release',
    '^__lock_acquire',
    '^lock_',
    '^lockdep',
    '^mutex_',
    '^__mutex_',
    '^rwsem_',
    '^__rwsem',
    '^down_',
    '^__down',
    '^up_read',
    '^up_write',
    '^rt_mutex',
    '^_?atomic_',
    '^refcount_',
    '^percpu_down',
    '^_*kasan',
    '^_*kmsan',
    '^_*asan',
    '^__msan',
    '^_*ubsan',
    '^__sanitizer',
    '^check_memory_region',
    '^memory_is_poisoned',
    '^print_address',
    '^print_report',
    '^kmem_cache',
    '^__kmem_cache',
    '^kmalloc',
    '^__kmalloc',
    '^kzalloc',
    '^kcalloc',
    '^kvmalloc',
    '^kvzalloc',
    '^krealloc',
    '^vmalloc',
    '^__vmalloc',
    '^kfree',
    '^kvfree',
    '^slab_',
    '^__slab',
    '^___slab',
    '^cache_alloc',
    '^alloc_pages',
    '^__alloc_pages',
    '^alloc_page',
    '^__get_free_pages',
    '^get_page_from_freelist',
    '^__rb_',
    '^rb_',
    '^memcpy',
    '^memmove',
    '^memset',
    '^__memcpy',
    '^__memset',
    '^str[a-z]*cmp',
    '^strlen',
    '^strnlen',
    '^strcpy',
    '^strscpy',
    '^copy_from_user',
    '^copy_to_user',
    '^_copy_',
    '^__copy_',
    '^raw_copy',
    '^copy_user',
    '^list_',
    '^__list_',
    '^__raw_',
    '^rcu_read_lock',
    '^rcu_read_unlock',
    '^trace_hardirqs',
    '^debug_',
    '^__debug',
    '^ioread',
    '^iowrite',
    '^readl',
    '^writel',
    '^__readl',
    '^__writel',
    '^smp_call_function_single$',
    '^entry_SYSCALL',
    '^entry_INT80',
    '^do_syscall_',
    '^syscall_',
    '^ret_from_fork',
    '^kthread$',
    '^worker_thread',
    '^process_one_work',
    '^ret_from_intr',
    '^retint_',
    '^apic_timer_interrupt',
    '^irq_exit',
    '^do_IRQ',
    '^common_interrupt',
    '^asm_',
    '^sysvec_',
    '^__sysvec',
    '^el0_',
    '^el1_',
    '^invoke_syscall',
    '^sysenter_',
    '^system_call',
    '^__fentry__',
    '^mcount',
    '^ftrace_',
    '^\\?\\?',
    '^bad_page$',
    '^free_pages_check',
    ...OUT_OF_TREE_WAIT,
  ].join('|'),
);

/** True when a frame is plumbing that never explains a report. */
export function isGenericFrame(func: string): boolean {
  return GENERIC_SKIP.test(func);
}

// Hung tasks: wait, lock and scheduler frames (syzkaller's hang extractor, narrowed so that
// subsystem functions with "wait" in the middle of the name, like request_wait_answer, stay).
const HANG_SKIP =
  /sched|_lock|_slowlock|down|rwsem|completion|kthread|synchronize|context_switch|__switch_to|cancel_delayed_work|rcu_barrier|wait_on_|_wait_bit|wait_for_|wait_event|^(?:__)?wait_|_wait$|^bit_wait|^do_read_cache|^(?:__)?filemap_fdatawait|^folio_wait|^io_wait|^__?lock_page|^(?:__)?lock_/;

export function hangGuilty(frames: Frame[]): string | undefined {
  const rel = frames.filter((f) => f.reliable).map((f) => f.func);
  if (rel.some((f) => f === 'rtnl_lock')) return 'rtnl_lock';
  for (const f of rel) if (/^synchronize_(?:rcu|srcu|net|sched)/.test(f)) return 'synchronize_rcu';
  for (const f of rel) if (!HANG_SKIP.test(f) && !isGenericFrame(f)) return normalizeSyscall(f);
  return undefined;
}

// Stall anchors (syzkaller's stall extractor): the frame just above one of these is the most specific caller.
const STALL_ANCHOR =
  /^(?:do_syscall_|__do_fast_syscall|do_fast_syscall|do_int80_syscall|el0_svc|invoke_syscall|entry_SYSCALL|system_call_fastpath|sysenter_do_call|syscall_call|process_one_work|netif_receive_skb|__netif_receive_skb|do_softirq|__do_softirq|call_timer_fn|expire_timers|__run_timers|run_timer_softirq|ret_from_fork|kthread$|worker_thread|smp_call_function_many_cond|__?vfs_(?:write|read|ioctl|iter_read|iter_write|readv|writev)$|vfs_(?:write|read|ioctl)|do_dentry_open|new_sync_read|new_sync_write|sock_sendmsg|__sock_sendmsg|sock_recvmsg|__sys_sendmsg|___sys_sendmsg|sock_write_iter|sock_read_iter|__do_fault|task_work_run|tasklet_action|irq_work_run|rcu_do_batch|rcu_core)/;

export function stallGuilty(frames: Frame[]): string | undefined {
  const rel = frames.filter((f) => f.reliable).map((f) => f.func);
  for (let i = 0; i < rel.length; i++) {
    if (!STALL_ANCHOR.test(rel[i]!)) continue;
    for (let j = i - 1; j >= 0; j--) {
      const f = rel[j]!;
      if (STALL_ANCHOR.test(f)) continue;
      if (!isGenericFrame(f) || /sys_/.test(f)) return normalizeSyscall(f);
    }
    if (i > 0) continue;
  }
  return undefined;
}

// syzkaller's stall anchors (google/syzkaller pkg/report/linux.go, linuxStallAnchorFrames), matched
// the way it matches them: as substrings unless written with ^/$ (so `vfs_ioctl` also matches `do_vfs_ioctl`).
const LOCKUP_ANCHOR = new RegExp(
  [
    'process_one_work',
    'do_syscall_',
    'do_fast_syscall_',
    'sysenter_dispatch',
    'tracesys_phase2',
    'el0_svc_handler',
    'invoke_syscall',
    'ret_fast_syscall',
    'netif_receive_skb',
    'do_softirq',
    'call_timer_fn',
    '_run_timers',
    'run_timer_softirq',
    'hrtimer_run',
    'run_ksoftirqd',
    'smpboot_thread_fn',
    '^kthread$',
    'start_secondary',
    'cpu_startup_entry',
    'ret_from_fork',
    'vfs_write',
    'vfs_read',
    'vfs_iter_read',
    'vfs_iter_write',
    'do_iter_read',
    'do_iter_write',
    'call_read_iter',
    'call_write_iter',
    'new_sync_read',
    'new_sync_write',
    'vfs_ioctl',
    'ksys_ioctl',
    'compat_ioctl',
    'compat_sys_ioctl',
    'blkdev_driver_ioctl',
    'blkdev_ioctl',
    'do_iter_readv_writev',
    '^call_mmap',
    'mmap_region',
    'do_mmap',
    'do_dentry_open',
    'vfs_open',
    '^sock_sendmsg',
    '^sock_recvmsg',
    '^sock_release',
    '^__sock_release',
    '^setsockopt$',
    'kernel_setsockopt',
    'sock_common_setsockopt',
    '^listen$',
    'kernel_listen',
    'sk_common_release',
    '^sock_mmap',
    '^accept$',
    'kernel_accept',
    '^sock_do_ioctl',
    '^sock_ioctl',
    '^compat_sock_ioctl',
    '^nfnetlink_rcv_msg',
    '^rtnetlink_rcv_msg',
    '^netlink_dump',
    '^(?:sys_)?(?:socketpair|connect|ioctl)',
    '__do_fault',
    'do_page_fault',
    '^page_fault$',
    '__fput',
    'task_work_run',
    'exit_to_usermode',
    'smp_call_function',
    'tasklet_action',
    'tasklet_hi_action',
    // Entry points of the 2.6-4.x kernels that enterprise logs still carry (syzkaller only sees new kernels).
    '^system_call_fastpath$',
    '^sysenter_do_call$',
    '^syscall_call$',
    '^entry_SYSCALL',
  ].join('|'),
);

/**
 * Guilty frame of a soft lockup, by syzkaller's rule for lockups (linux.go: the `BUG: soft lockup`
 * format reads the RIP frame, then the call trace, and applies linuxStallFrameExtractor): the
 * frames are the RIP function (unless it is plumbing) followed by the reliable call-trace frames;
 * the answer is the frame just before the first anchor (for ioctl, the driver's handler; for a
 * syscall, the syscall); when the anchor is `smp_call_function*`, it is `smp_call_function`
 * itself (one title for its variants). Frames Lantern treats as plumbing are skipped, except anchors.
 */
export function lockupGuilty(rip: string | undefined, frames: Frame[]): string | undefined {
  const seq: string[] = [];
  if (rip && !isGenericFrame(rip)) seq.push(normalizeSyscall(rip));
  // With a reliable unwinder the watchdog's own timer interrupt may be printed unmarked
  // (`watchdog_timer_fn` … `sysvec_apic_timer_interrupt`): the lockup is in what it interrupted.
  const reliable = frames.filter((f) => f.reliable);
  const wd = reliable.findIndex((f) => /^watchdog_timer_fn/.test(f.func));
  let from = 0;
  if (wd !== -1) {
    from = wd + 1;
    while (from < reliable.length && /hrtimer|apic_timer_interrupt|sysvec|irq_exit|^tick_/.test(reliable[from]!.func)) from++;
  }
  for (const f of reliable.slice(from)) {
    const name = normalizeSyscall(f.func);
    if (LOCKUP_ANCHOR.test(name) || !isGenericFrame(name) || /^sys_/.test(name)) seq.push(name);
  }
  if (seq.length === 0) return undefined;
  let prev = seq[0]!;
  for (const f of seq) {
    if (LOCKUP_ANCHOR.test(f)) return /smp_call_function/.test(f) ? 'smp_call_function' : prev;
    prev = f;
  }
  return undefined;
}

/** First reliable frame that is not generic plumbing (optionally with extra skips). */
export function firstMeaningful(frames: Frame[], extraSkip?: RegExp): string | undefined {
  for (const f of frames) {
    if (!f.reliable) continue;
    if (isGenericFrame(f.func)) continue;
    if (extraSkip && extraSkip.test(f.func)) continue;
    return normalizeSyscall(f.func);
  }
  return undefined;
}
