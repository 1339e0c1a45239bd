/**
 * Incident detection: a state machine over normalised lines, one open report per stream
 * (host, or the whole file when lines name no host). Header lines open a report; body lines
 * (frames, registers, task lines, OOM tables) extend it; an end marker, a new header, a run of
 * unrelated lines, a reboot or the end of input closes it. Pure: incidents go to a callback.
 *
 * Memory stays bounded per report: excerpts, frames and SysRq task lists are capped (and counted).
 */
import type { Frame, Incident, IncidentKind, NormLine, OomDetails } from './model.js';
import { timesOfPrefix } from './normalize.js';
import { firstMeaningful, hangGuilty, isGenericFrame, lockupGuilty, normalizeSyscall, parseFrame, parseRip, stallGuilty } from './frames.js';

export interface DetectorOptions {
  /** Lines of raw excerpt kept per incident (head); the rest is counted. */
  excerptLines?: number;
  /** Frames kept per report. */
  maxFrames?: number;
  /** Tasks kept (with stacks) per SysRq-T dump; all are counted. */
  maxSysrqTasks?: number;
  /** Lines a report may span at most before it is closed as truncated. */
  maxReportLines?: number;
}

export type IncidentSink = (incident: Incident) => void;

/**
 * Trigger words: only lines containing one can start a report. Two sets, because V8's regex
 * engine skips fast over text when every alternative starts with a rare character (capitals,
 * punctuation) and slowly when some start with common lower-case letters; two passes over a
 * chunk are ~2.5x faster than one pass with the union (see bench/analyze).
 */
export const TRIGGER_UPPER = /BUG|WARNING|UBSAN: |INFO: |Oops|Kernel panic|Unable to handle|Out of memory|Kill(?:ed)? process|LOCKUP|Machine [Cc]heck|Hardware Error|EDAC|I\/O error|, dev |EXT[234]-fs|XFS|BTRFS|Remounting filesystem|Linux version|Show State|Show Blocked State|Internal error|---\[ end|-- Boot|-- Reboot|UTC \(/;
export const TRIGGER_LOWER = /general protection|invoked oom-killer|oom-kill:|shrink_slab|segfault at|traps: |invalid opcode|divide error|double fault|stack segment/;
export const TRIGGER_RE = new RegExp(`${TRIGGER_UPPER.source}|${TRIGGER_LOWER.source}`);

// ---- header patterns ----
const BLOCKER_RE = /^INFO: task .+:\d+ is blocked on an? ([\w-]+) likely owned by task (.+):(\d+)/;
const RTC_RE = /setting system clock to \S+ \S*\s*UTC \((\d+)\)/;
const LINUX_VERSION_RE = /^Linux version (\S+)/;
const PANIC_RE = /Kernel panic - not syncing: ?(.*?)\s*$/;
const HUNG_RE = /INFO: task (.+):(\d+) (blocked|can't die) (in I\/O wait )?for more than (\d+) seconds/;
const SOFT_RE = /BUG: soft lockup - CPU#(\d+) stuck for (\d+)s! \[(.+):(\d+)\]/;
const HARD_RE = /Watchdog detected hard LOCKUP on cpu (\d+)/;
const RCU_RE = /INFO: (rcu_\w+|rcu) (self-)?detected (expedited )?stalls?/;
const NULL_RE = /^BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL pointer dereference|Kernel NULL pointer dereference)(?: at | address: |, address: )?([0-9a-fx]*)/;
const PAGING_RE = /^BUG: (?:unable to handle kernel paging request|unable to handle page fault for address|unable to handle kernel) ?(?:at |: )?([0-9a-fx]*)/;
const GPF_RE = /^general protection fault(?:, probably for non-canonical address (0x[0-9a-f]+))?(?:: | )?/;
const KBUG_RE = /^kernel BUG at (\S+?):?(\d+)?!/;
const ARM_UNABLE_RE = /^Unable to handle kernel (NULL pointer dereference|paging request) at virtual address ([0-9a-f]+)/;
const BUG_RE = /^BUG: (.+)$/;
// Sanitizer reports (titles after google/syzkaller pkg/report/linux.go). KASAN (mm/kasan/report.c):
// `BUG: KASAN: slab-out-of-bounds in F+0x1/0x2` then `Read of size 8 at addr … by task comm/pid`
// (≤4.x: `Read of size 8 by task …`); `BUG: KASAN: double-free or invalid-free in F` (≤5.x),
// `double-free in F` / `invalid-free in F` (newer); 4.x `BUG: KASAN: null-ptr-deref on address 0…`.
const KASAN_RE = /^KASAN: (double-free or invalid-free|double-free|invalid-free|[a-z-]+) (?:in ([\w.]+)|on address)/;
// KFENCE (mm/kfence/report.c): `BUG: KFENCE: use-after-free read in F`, `out-of-bounds write in F`,
// `invalid free in F`, `invalid read in F`, `memory corruption in F`.
const KFENCE_RE = /^KFENCE: (use-after-free|out-of-bounds|invalid|memory corruption|invalid free)(?: (read|write))? in ([\w.]+)/;
// KMSAN (mm/kmsan/report.c): `BUG: KMSAN: uninit-value in F`, `kernel-infoleak in F`, …
const KMSAN_RE = /^KMSAN: ([a-z-]+) in ([\w.]+)/;
// UBSAN (lib/ubsan.c): `UBSAN: shift-out-of-bounds in net/x.c:12:3` (5.x+), `UBSAN: Undefined behaviour in x.c:12:3` (4.x).
const UBSAN_RE = /^UBSAN: (.+?) in (\S+)/;
/** KASAN's access line: `Read of size 8 at addr ffff… by task comm/pid` (≤4.x without `at addr`). */
const KASAN_ACCESS_RE = /^(Read|Write) (?:of size (\d+)|at addr)/;
/** Lines that start a stack which is not the report's own (allocation/free stacks of sanitizers). */
const OTHER_STACK_RE = /^(?:Allocated by task|Freed by task|Last potentially related work creation|Second to last potentially related|The buggy address|Memory state around|Uninit was (?:created|stored)|Local variable .* created at|kfence-#\d+|(?:allocated|freed) by task \d+ on cpu)/;
// CONFIG_DEBUG_OBJECTS (lib/debugobjects.c debug_print_object):
// `ODEBUG: free active (active state 0) [object: ADDR ]object type: timer_list hint: F+0x0/0x…`, as a WARN.
const ODEBUG_RE = /^ODEBUG: (\w+) (\w+) \(active state (\d+)\) (?:object: \S+ )?object type: (\S+) hint: +(\S+)/;
// CONFIG_HARDENED_USERCOPY (mm/usercopy.c): `usercopy: Kernel memory exposure attempt detected from SLUB
// object 'kmalloc-64' (offset 12, size 100)!` (4.16+, BUG); `Bad or missing usercopy whitelist? …` (WARN);
// 4.8–4.15: `usercopy: kernel memory exposure attempt detected from ffff… (kmalloc-64) (100 bytes)`.
const USERCOPY_RE = /^(?:usercopy: |Bad or missing usercopy whitelist\? )([Kk]ernel memory (?:exposure|overwrite) attempt detected .*?)\s*$/;
/** A WARN/BUG message printed before its header in 5.x+ (or right after it in ≤4.x). */
const PREFACE_RE = /^(?:refcount_t: |list_(?:add|del) corruption|ODEBUG: |usercopy: |Bad or missing usercopy)/;
const OOPS_TRAP_RE = /^Oops: (?:general protection fault|divide error|invalid opcode|stack segment|double fault)\b/;
const TRAP_RE = /^(divide error|invalid opcode|stack segment|PANIC: double fault|double fault|Oops|Internal error): /;
const WARN_OLD_RE = /^WARNING: at (\S+) ([\w.]+)\+0x/;
const WARN_CPU_RE = /^WARNING: CPU: (\d+) PID: (\d+) at (\S+) ([\w.]+)\+0x/;
const WARN_NEW_RE = /^WARNING: (\S+:\d+) at ([\w.]+)\+0x\S+, CPU#(\d+): (.+)\/(\d+)/;
const WARN_ANY_RE = /^WARNING: (.+)$/;
// Lockdep: `WARNING: possible circular locking dependency detected` (4.14+), `[ INFO: possible … ]` (≤4.13).
const LOCKDEP_RE = /^(?:WARNING: |\[ ?INFO: |INFO: )possible (circular locking dependency|recursive locking) detected/;
// `comm/pid is trying to acquire lock:`; the next line names the lock and the acquiring function.
const LOCKDEP_TASK_RE = /^(.+)\/(\d+) is trying to acquire lock:/;
const LOCKDEP_AT_RE = /, at: (?:\[<[0-9a-f]+>\] )?(?:[0-9a-f]{8,16}\s+)?([\w.]+)\+0x/;
// `BUG: sleeping function called from invalid context at mm/slab.c:2960` → `… in_atomic(): 1, irqs_disabled(): 0, pid: 1234, name: foo`.
const MIGHT_SLEEP_TASK_RE = /in_atomic\(\): \d+, irqs_disabled\(\): \d+, (?:non_block: \d+, )?pid: (\d+), name: (.+?)\s*$/;
/** Message lines some reports print after their header (≤4.x WARN messages, might_sleep details). */
const EXTRA_BODY_RE = /^(?:list_(?:add|del) corruption|refcount_t: |ODEBUG: |usercopy: |Bad or missing usercopy|in_atomic\(\)|Preemption disabled at|no locks held by|\d+ locks? held by|INFO: lockdep)/;
const LIST_CORRUPTION_RE = /^(list_(?:add|del)) corruption[.,]/;
/** Reports raised by the list debugging checks (lib/list_debug.c): syzkaller titles them `BUG: corrupted list in F`. */
const LIST_DEBUG_RE = /(?:^|\/)list_debug\.c|^__list_(?:add|del)|^__list_del_entry|^list_del/;
const OOM_HEADER_RE = /^(.+?) invoked oom-killer: gfp_mask=(0x[0-9a-f]+(?:\([^)]*\))?),? (?:nodemask=\S+?,? )?order=(-?\d+),? (?:oom_adj=-?\d+,? )?oom_score_adj=(-?\d+)/;
const OOM_CONSTRAINT_RE = /^oom-kill:constraint=(\w+),nodemask=[^,]*,cpuset=[^,]*,mems_allowed=[^,]*,(?:(global_oom)|oom_memcg=([^,]*)),task_memcg=([^,]*),task=(.+?),pid=(\d+),uid=(\d+)/;
const OOM_KILLED_RE = /(?:^|: )Killed process (\d+),? (?:UID (\d+), )?\((.+?)\),? total-vm:(\d+)kB, anon-rss:(\d+)kB, file-rss:(\d+)kB(?:, shmem-rss:(\d+)kB)?(?:, UID:(\d+))?(?: pgtables:(\d+)kB)?(?: oom_score_adj:(-?\d+))?/;
const OOM_KILL_OLD_RE = /^(Out of memory|Memory cgroup out of memory): Kill process (\d+) \((.+?)\) score (\d+) or sacrifice child/;
const OOM_MEMCG_TASK_RE = /^Task in (\S+) killed as a result of limit of (\S+)/;
/** A row of the OOM task table: `[  pid]   uid  tgid total_vm      rss … name` (the columns between vary by era). */
export const OOM_TABLE_ROW_RE = /^\[\s*(\d+)\]\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s.*\s(\S+)\s*$/;
const SYSRQ_RE = /(?:^|: )(?:SysRq ?: )?Show (Blocked )?State\s*$/;
const SHRINK_RE = /shrink_slab: ([\w.]+)(?:\+0x[0-9a-f]+\/0x[0-9a-f]+)?(?: \[\w+\])? negative objects to delete nr=(-?\d+)/;
const MCE_FATAL_RE = /(?:CPU (\d+): )?Machine Check Exception: ?([0-9a-fx]+)?(?: Bank (\d+): ([0-9a-f]+))?/;
const MCE_LOGGED_RE = /Machine check events logged/;
const MCE_CHECK_RE = /CPU (\d+): Machine Check(?: Exception)?: ?(\S+) Bank (\d+): ([0-9a-f]+)/;
const HW_ERROR_RE = /^(?:\{\d+\})?\[Hardware Error\]: (.+)$|^EDAC (\w+): (\d+ )?(CE|UE) (.*)$|^mce: \[Hardware Error\]: (.+)$/;
const IO_ERROR_RE = /(?:^|: )(?:(critical )?(\w[\w ]*?) error, dev (\w[\w-]*), sector (\d+)|I\/O error, dev (\w[\w-]*), sector (\d+)|Buffer I\/O error on dev(?:ice)? (\w[\w-]*?),)/;
const FS_ERROR_RE = /^(EXT[234]-fs|XFS|BTRFS)(?: (error|critical|warning))? \(device (\w[\w-]*?)\)(?:: ([\w]+)(?::\d+)?)?|^(EXT[234]-fs|XFS|BTRFS) \((\w[\w-]*?)\): (.*(?:Remounting filesystem read-only|Shutting down filesystem|Corruption|metadata I\/O error|error).*)$/;
// ≤4.x printed ip/sp with %p: a NULL ip is `ip           (null)` (padded to the pointer width).
const SEGFAULT_RE = /^(.+?)\[(\d+)\]: segfault at ([0-9a-f]+) ip (?:([0-9a-f]+)| *\(null\)) sp (?:[0-9a-f]+| *\(null\)) error (\d+)(?: in ([^\s[]+))?/;
const TRAPS_RE = /^traps: (.+?)\[(\d+)\] (general protection fault|trap [\w ]+?|\w+ error)(?: ip| in|:)/;

// ---- body patterns ----
const END_TRACE_RE = /---\[ end (?:trace [0-9a-f]+|Kernel panic)/;
// The comm (up to 15 characters: `StreamT~ns #577`, `Web Content`) may hold spaces: see commOf.
const CPU_PID_RE = /CPU: (\d+) (?:UID: \d+ )?PID: (\d+)(?: Comm: (.+))?/;
const CPU_PID_SPLIT_RE = /CPU: (\d+) (?:UID: \d+ )?PID: (\d+)\s*$/;
const SPLIT_PID_TAIL_RE = /^(\d+) Comm: (.+)/;
const OLD_PID_RE = /^Pid: (\d+), comm: (.+)/;
/** What follows the comm on a `CPU: … Comm: C` / `Pid: N, comm: C` line (lib/dump_stack.c: taint, RHEL's kdump state). */
const AFTER_COMM_RE = / +(?:Kdump: |Not tainted|Tainted: )/;
const PROCESS_RE = /^Process (\S+) \(pid: (\d+)/;
const NEW_TASK_RE = /^task:(.+?)\s+state:(\S)(?:\s+running task)?\s+stack:\s*(\d+)\s+pid:\s*(\d+)\s+(?:tgid:\s*(\d+)\s+)?ppid:\s*(\d+)/;
const OLD_TASK_RE = /^(\S.{0,14}?)\s+([RSDTtXZPIKWN])(?: +running task +| *(?:[0-9a-f]{8,16} +)?)(\d+) +(\d+) +(\d+)(?: +\d+)*(?: +0x[0-9a-f]+| +\([\w-]+\))? *$/;
const TAINTED_RE = /^\s*(?:Not tainted|Tainted: ([A-Z ]+?))\s+\d+\.\d+/;
const WORKQUEUE_RE = /^Workqueue: (.+)$/;
const RCU_T_RE = /t=(\d+) jiffies/;
const RCU_DETECTED_BY_RE = /detected by (\d+)/;
const RCU_SELF_CPU_RE = /^\s*(\d+)-\.\.\.|^\s*(\d+)-\S+: \(\d+ ticks/;
const BODY_RE = /^(?:\s|INFO: task .+ is blocked on |Call Trace|Call trace|Backtrace|Stack:|Code:|Modules linked in|CPU: \d|Hardware name|Workqueue:|task: |task:|Pid: \d|Process \S|RIP|EIP|IP:|NIP|RSP|ESP|R[A-Z0-9]{1,2}: |E[A-Z]{2}: |FS: |CS: |DS: |CR[0-4]|DR[0-7]|pc : |lr : |sp : |x\d+ ?: |PC is at|LR is at|pstate|Exception stack|Kernel Offset|Rebooting in|Shutting down cpus|---\[|<(?:IRQ|EOI|NMI|TASK)>|<\/(?:IRQ|TASK|NMI)>|<<EOE>>|Sending NMI|NMI backtrace|Tainted|Not tainted|Oops|invalid opcode|#PF|PGD|PUD|PMD|PTE|\*pdpt|\*pde|irq event stamp|hardirqs|softirqs|INFO: lockdep|Instruction dump|Disabling lock debugging|"echo 0|caller is|preempt_count|Mem-Info|Node \d|active_anon|Free swap|Total swap|\d+ pages|\d+ total pagecache|Tasks state|\[\s*pid\s*\]|\[\s*\d+\]|lowmem_reserve|Swap cache|Unreclaimable|oom-kill:|oom_reaper|Memory cgroup|Bank \d|TSC |ADDR |MISC |PROCESSOR |rcu: |\(detected by|All QSes|rcu_\w+ kthread|Tasks blocked|\(t=|Showing|workqueue |pool \d|Sched Debug|cpu#\d|runnable tasks|cfs_rq|rt_rq|dl_rq|KASAN|Read of size|Write of size|The buggy|Allocated by|Freed by|Memory state|page:|raw: |page dumped|r\d+ ?: |[a-z]{2}: [0-9a-f]{8}|Internal error|Unable to handle|pgd = |\[[0-9a-f]{8}\] \*pgd|Last Breaking|Krnl|mce: |Hardware Error|Kernel panic|Dumping ftrace|\{\d+\}\[Hardware Error\]|\d+-\.\.\.|\t)/;

interface Stream {
  boot: number;
  /** The last report closed in this stream and its last line: a panic right after it is its consequence. */
  lastClosed?: { title: string; lineNo: number };
  /** Wall-clock ms of kernel time 0 in this boot, when the log told us (RTC line). */
  bootEpochMs?: number;
  report?: OpenReport;
  pendingBoot?: Incident;
  /**
   * OOM task-table rows seen while no report was open (a log that starts mid table, or a table
   * whose header was lost): a `panic_on_oom` panic right after them takes their largest task.
   */
  orphanTable?: { rows: number; largest?: { pid: number; comm: string; rssPages: number } };
  /** A WARN message printed before its header with no report open (5.x: `refcount_t: underflow; …`). */
  preface?: string;
  /**
   * An OOM header printed inside another report, held for the few lines until its invoker's
   * `CPU: N PID: P Comm: C` line (4.x: after the `C cpuset=… mems_allowed=…` line), which is the invoker's, not the crash's.
   */
  oomFragment?: { inc: Incident; linesLeft: number };
}

interface OpenReport {
  inc: Incident;
  lines: number;
  inTrace: boolean;
  nonBody: number;
  caller?: string;
  allFrames: Frame[];
  afterEoe: Frame[];
  sawEoe: boolean;
  /** The NMI stack ended (`<<EOE>>`, `</NMI>`): frames before it are watchdog plumbing. */
  sawNmiEnd: boolean;
  pidPrefix?: { cpu: number; pid: string };
  warnFunc?: string;
  panicReason?: string;
  sysrq?: { curTask?: { comm: string; pid?: number; ppid?: number; state: string; frames: string[] }; groups: Map<string, { count: number; frames: string[]; examples: string[] }> };
  /** The victim line arrived: an OOM report is complete. */
  oomDone?: boolean;
  /** Line number of the last line taken into the report. */
  lastLineNo: number;
  /** Detector line count when this report's stream last sent a line. */
  lastSeen: number;
  /** Last lines of a report longer than the excerpt (the end of a report matters as much as its start). */
  tail: string[];
  /** Lockdep report: set once `stack backtrace:` is seen; frames before it belong to the dependency chains. */
  lockdep?: { backtrace: boolean; acquireFunc?: string; expectAt: boolean };
  /** Sanitizer report (KASAN, KFENCE, KMSAN, KCSAN): what its header said. */
  san?: SanitizerHeader;
  /** A sanitizer's allocation/free/origin stack started: its frames are not the report's stack. */
  otherStacks?: boolean;
  /** The header was found after an unknown prefix (a collector's stamp): lines with a prefix of that shape lose it. */
  prefix?: RegExp;
}

interface SanitizerHeader {
  tool: 'KASAN' | 'KFENCE' | 'KMSAN' | 'KCSAN';
  /** Bug type as syzkaller titles it (`use-after-free`, `invalid-free`, `uninit-value`, …). */
  type: string;
  /** `Read` / `Write` (KASAN: from the access line; KFENCE: from the header, lower case). */
  access?: string;
  /** The function the header names. */
  func?: string;
  /** KASAN 4.x `… on address ADDR`: no function in the title. */
  noFunc?: boolean;
}

/** Headers syzkaller finds anywhere in a line: those whose first word starts the header (an OOM or segfault header starts with a comm). */
const ANYWHERE_HEADER_RE = /(?<=\s)(?:BUG: |WARNING: |general protection fault|Oops: |Kernel panic - not syncing|INFO: task |INFO: rcu|kernel BUG at |Unable to handle kernel |UBSAN: |Internal error: |divide error: |invalid opcode: |Watchdog detected hard LOCKUP|watchdog: BUG: soft lockup)/;
const MAX_PREFIX_CHARS = 200;

/** A regex for prefixes shaped like `p`: digit runs and space runs may vary in length (and a `[` may gain padding), the rest is literal. */
function prefixShape(p: string): RegExp {
  const src = p.replace(/(\d+)|( +)|([^\d ]+)/g, (_all, d: string | undefined, sp: string | undefined, lit: string | undefined) =>
    d !== undefined ? '\\d+' : sp !== undefined ? ' +' : lit!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'),
  ).replace(/\\\[(?: \+)?/g, '\\[ *'); // a padded kernel stamp `[  12.3]` widens to `[123.4]`
  return new RegExp('^' + src);
}

const TAIL_LINES = 20;
const MAX_HEADER_CHARS = 4096;
const STALE_LINES = 5000;
/** Kinds whose report is incomplete without a call trace. */
const NEEDS_TRACE: ReadonlySet<IncidentKind> = new Set(['oops', 'warning', 'hung_task', 'soft_lockup', 'hard_lockup', 'rcu_stall']);
const SINGLE_LINE: ReadonlySet<IncidentKind> = new Set(['shrink_slab', 'segfault', 'io_error', 'fs_error', 'boot']);

export interface DetectorStats {
  lines: number;
  kernelLines: number;
  nonKernelLines: number;
  incidents: number;
  partialIncidents: number;
}

export class Detector {
  private readonly streams = new Map<string, Stream>();
  private openCount = 0;
  readonly stats: DetectorStats = { lines: 0, kernelLines: 0, nonKernelLines: 0, incidents: 0, partialIncidents: 0 };
  private readonly excerptLines: number;
  private readonly maxFrames: number;
  private readonly maxSysrqTasks: number;
  private readonly maxReportLines: number;

  constructor(
    private readonly sink: IncidentSink,
    opts: DetectorOptions = {},
  ) {
    this.excerptLines = opts.excerptLines ?? 80;
    this.maxFrames = opts.maxFrames ?? 48;
    this.maxSysrqTasks = opts.maxSysrqTasks ?? 200;
    this.maxReportLines = opts.maxReportLines ?? 20000;
  }

  /** True while some report is open: every following line must be fed, not just trigger lines. */
  hasOpen(): boolean {
    return this.openCount > 0;
  }

  private stream(key: string): Stream {
    let s = this.streams.get(key);
    if (!s) {
      s = { boot: 0 };
      this.streams.set(key, s);
    }
    return s;
  }

  feed(line: NormLine): void {
    this.stats.lines++;
    // A report whose stream went quiet (its host stopped talking) would keep the prefilter off
    // for the rest of a multi-host file: close it after STALE_LINES lines of other streams.
    if ((this.stats.lines & 1023) === 0 && this.openCount > 0) this.closeStale();
    if (!line.kernel) {
      this.stats.nonKernelLines++;
      return;
    }
    this.stats.kernelLines++;
    const st = this.stream(line.host ?? '');
    if (line.bootMarker) {
      this.close(st, 'the log shows a reboot before the report ended');
      this.flushBoot(st);
      st.boot++;
      st.bootEpochMs = undefined;
      st.pendingBoot = this.newIncident('boot', line, st, 'boot: journal boot separator', line.text);
      st.pendingBoot.subkind = 'journal_separator';
      // A text separator line ends here; a JSON record with a new boot id is also a message.
      if (line.text.startsWith('-- ')) return;
    }
    if (st.oomFragment && this.oomFragmentLine(st, line.text)) return;
    const prefixed = st.report?.prefix;
    if (prefixed) {
      const p = prefixed.exec(line.text);
      if (p) line.text = line.text.slice(p[0].length);
    }
    const text = line.text;
    let rtc: RegExpExecArray | null;
    if (line.kernelTime !== undefined && (rtc = RTC_RE.exec(text))) {
      // `rtc_cmos 00:00: setting system clock to 2024-05-03T06:00:00 UTC (1714716000)`: the boot's wall clock.
      st.bootEpochMs = Number(rtc[1]) * 1000 - Math.round(line.kernelTime * 1000);
    }
    if (!line.wall && line.kernelTime !== undefined && st.bootEpochMs !== undefined) {
      const ms = st.bootEpochMs + Math.round(line.kernelTime * 1000);
      line.wall = { ms, iso: new Date(ms).toISOString(), zoned: true };
    }
    const r = st.report;
    if (r && r.caller && line.caller && line.caller !== r.caller && !r.inTrace && r.inc.kind !== 'sysrq_show_state') {
      // Another printk context interleaving before the report has its trace: ignore it for this report.
      if (!TRIGGER_RE.test(text)) return;
    }
    if (TRIGGER_RE.test(text)) {
      if (this.header(line, st)) return;
      if (!st.report && this.headerAnywhere(line, st)) return;
    }
    if (st.pendingBoot) this.flushBoot(st);
    if (r) this.body(line, st, r);
    else this.orphanRow(st, text);
  }

  /**
   * syzkaller finds oops headers anywhere in a line (pkg/report: a console or collector prefix
   * before them). A line no envelope was recognised in (no stamp, no host; text as it came) that
   * holds a trigger word gets a second look: the header may start after a prefix that holds a digit
   * and is not a device's `name 0000:01:00.0: ` tag. The report then strips prefixes of the same shape
   * from its lines. Only trigger lines reach this, so the prefilter keeps its speed.
   */
  private headerAnywhere(line: NormLine, st: Stream): boolean {
    const text = line.text;
    if (line.kernelTime !== undefined || line.host !== undefined || text !== line.raw) return false;
    const m = ANYWHERE_HEADER_RE.exec(text);
    if (!m || m.index === 0 || m.index > MAX_PREFIX_CHARS) return false;
    const prefix = text.slice(0, m.index);
    if (!/\d/.test(prefix) || /: $/.test(prefix)) return false;
    const saved = { wall: line.wall, wallText: line.wallText };
    line.text = text.slice(m.index);
    // The prefix's own times (`2024-…Z [ 9999.551802] `): the incident's time.
    Object.assign(line, timesOfPrefix(prefix));
    if (!this.header(line, st)) {
      line.text = text;
      line.wall = saved.wall;
      line.wallText = saved.wallText;
      delete line.kernelTime;
      delete line.kernelTimeText;
      return false;
    }
    if (st.report) st.report.prefix = prefixShape(prefix);
    return true;
  }

  /** A line while an interleaved OOM header waits for its invoker's pid; true when it was the invoker's line. */
  private oomFragmentLine(st: Stream, text: string): boolean {
    const f = st.oomFragment!;
    const m = CPU_PID_RE.exec(text);
    if (m) {
      const inv = f.inc.tasks.find((t) => t.role === 'invoker');
      const comm = m[3] === undefined ? undefined : commOf(m[3]);
      // Only a line naming the invoker's comm (the kernel keeps 15 characters of it) is taken from the other report.
      if (inv && comm !== undefined && (comm === inv.comm.slice(0, 15) || inv.comm.startsWith(comm))) {
        inv.pid = Number(m[2]);
        if (f.inc.oom?.invoker) f.inc.oom.invoker.pid = inv.pid;
        f.inc.excerpt.push(text);
        this.flushOomFragment(st);
        return true;
      }
    }
    if (--f.linesLeft <= 0) this.flushOomFragment(st);
    return false;
  }

  private flushOomFragment(st: Stream): void {
    const f = st.oomFragment;
    if (!f) return;
    st.oomFragment = undefined;
    this.emit(f.inc);
  }

  /** Keeps the largest task of OOM table rows outside a report; any other line forgets them. */
  private orphanRow(st: Stream, text: string): void {
    if (PREFACE_RE.test(text)) {
      st.preface = text.trim().slice(0, 200);
      st.orphanTable = undefined;
      return;
    }
    // `------------[ cut here ]------------` sits between the message and the header.
    if (!/^-+\[ cut here \]-+\s*$/.test(text)) st.preface = undefined;
    const m = text.length < MAX_HEADER_CHARS ? OOM_TABLE_ROW_RE.exec(text) : null;
    if (!m) {
      if (text.trim() !== '') st.orphanTable = undefined;
      return;
    }
    const t = (st.orphanTable ??= { rows: 0 });
    t.rows++;
    const rss = Number(m[5]);
    if (!t.largest || rss > t.largest.rssPages) t.largest = { pid: Number(m[1]), comm: m[6]!, rssPages: rss };
  }

  private closeStale(): void {
    for (const st of this.streams.values()) {
      if (st.report && this.stats.lines - st.report.lastSeen > STALE_LINES) this.close(st, `no line from this stream in the next ${STALE_LINES} lines`);
    }
  }

  /** Closes every open report (end of input, or a gap in it: what is still open is truncated). */
  finish(reason = 'the log ends before the report does'): void {
    for (const st of this.streams.values()) {
      this.close(st, reason);
      this.flushBoot(st);
    }
    this.streams.clear();
  }

  private flushBoot(st: Stream): void {
    if (st.pendingBoot) {
      const b = st.pendingBoot;
      st.pendingBoot = undefined;
      this.emit(b);
    }
  }

  private newIncident(kind: IncidentKind, line: NormLine, st: Stream, title: string, headline: string): Incident {
    const inc: Incident = {
      kind,
      title,
      headline,
      file: line.file,
      lineNo: line.lineNo,
      boot: st.boot,
      tasks: [],
      altFrames: [],
      frames: [],
      facts: {},
      partial: false,
      partialReasons: [],
      excerpt: [line.raw],
      excerptOmitted: 0,
    };
    if (line.host !== undefined) inc.host = line.host;
    if (line.wall) inc.wall = line.wall;
    if (line.wallText) inc.wallText = line.wallText;
    if (line.kernelTime !== undefined) inc.kernelTime = line.kernelTime;
    if (line.kernelTimeText) inc.kernelTimeText = line.kernelTimeText;
    return inc;
  }

  private open(st: Stream, inc: Incident, line: NormLine): OpenReport {
    const r: OpenReport = { inc, lastLineNo: line.lineNo, lastSeen: this.stats.lines, lines: 1, inTrace: false, nonBody: 0, allFrames: [], afterEoe: [], sawEoe: false, sawNmiEnd: false, tail: [] };
    if (line.caller) r.caller = line.caller;
    st.report = r;
    this.openCount++;
    return r;
  }

  private emit(inc: Incident): void {
    this.stats.incidents++;
    if (inc.partial) this.stats.partialIncidents++;
    this.sink(inc);
  }

  /** Handles a line that may start a report; returns true when it was consumed. */
  private header(line: NormLine, st: Stream): boolean {
    // Kernel messages are at most 1 KiB (LOG_LINE_MAX); a longer "line" is not one, and matching
    // header patterns on megabytes of it could take long.
    const text = line.text.length > MAX_HEADER_CHARS ? line.text.slice(0, MAX_HEADER_CHARS) : line.text;
    const r = st.report;
    let m: RegExpExecArray | null;

    // --- lines that continue an open report rather than start one ---
    if (r) {
      const k = r.inc.kind;
      if (k === 'oom_kill' && !r.oomDone && (OOM_CONSTRAINT_RE.test(text) || OOM_KILLED_RE.test(text) || OOM_KILL_OLD_RE.test(text) || OOM_MEMCG_TASK_RE.test(text))) return false;
      if (k === 'mce' && (MCE_CHECK_RE.test(text) || /^mce: \[Hardware Error\]|^\[Hardware Error\]/.test(text)) && !MCE_LOGGED_RE.test(text)) return false;
      if ((k === 'oops' || k === 'warning' || k === 'panic') && TRAP_RE.test(text) && !/^PANIC/.test(text)) return false;
      if (k === 'warning' && (m = HARD_RE.exec(text))) {
        // 3.x hard lockups are a WARNING in watchdog_overflow_callback followed by this line.
        r.inc.kind = 'hard_lockup';
        r.inc.headline = text;
        r.inc.cpu = Number(m[1]);
        r.inc.facts['warningLine'] = r.inc.excerpt[0] ?? '';
        this.addLine(r, line);
        return true;
      }
      if (k === 'hw_error' && /^\{\d+\}\[Hardware Error\]/.test(text)) return false;
      if (k === 'sysrq_show_state' && !/Kernel panic|BUG:|INFO: |WARNING:|Linux version|invoked oom-killer/.test(text)) return false;
      // A sanitizer line inside an oops (`… KASAN` GPF) continues it; a second sanitizer report does not.
      if (/^(?:BUG: KASAN|BUG: KMSAN|BUG: KFENCE)/.test(text) && k === 'oops' && !r.san) return false;
      if (END_TRACE_RE.test(text)) return false;
      // Lockdep's own lines (`INFO: lockdep is turned off.`) inside its report.
      if (r.lockdep && /^INFO: lockdep/.test(text)) return false;
    }

    if ((m = LINUX_VERSION_RE.exec(text))) {
      this.close(st, 'the log shows a reboot before the report ended');
      const pending = st.pendingBoot;
      st.pendingBoot = undefined;
      if (!pending) st.boot++;
      st.bootEpochMs = undefined;
      const inc = this.newIncident('boot', line, st, `boot: Linux ${m[1]!.slice(0, 80)}`, text);
      inc.facts['version'] = m[1]!;
      this.emit(inc);
      return true;
    }
    if (st.pendingBoot) this.flushBoot(st);

    let inc: Incident | undefined;
    const mk = (kind: IncidentKind, title: string) => (inc = this.newIncident(kind, line, st, title, text));
    let panicReason: string | undefined;
    let warnFunc: string | undefined;
    let san: SanitizerHeader | undefined;
    // 6.x (arch/x86/kernel/dumpstack.c since 6.10) prefixes the trap's own line with `Oops: `
    // (`Oops: general protection fault, probably for non-canonical address …`): title it as the 4.x form.
    const trap = text.startsWith('Oops: ') && OOPS_TRAP_RE.test(text) ? text.slice(6) : text;

    if ((m = OOM_HEADER_RE.exec(text))) {
      const oom: OomDetails = { invoker: { comm: m[1]!.trim() }, gfpMask: m[2]!, order: Number(m[3]) };
      if (r && r.inc.kind !== 'oom_kill' && r.inTrace && (r.inc.kind === 'panic' || r.inc.kind === 'oops' || r.inc.kind === 'warning')) {
        // An OOM header printed by another CPU in the middle of a crash report (interleaved
        // output): record it on its own, keep the crash report open.
        const frag = this.newIncident('oom_kill', line, st, 'OOM: oom-killer invoked, no victim logged', text);
        frag.oom = oom;
        frag.tasks.push({ role: 'invoker', comm: oom.invoker!.comm });
        frag.facts['oomScoreAdj'] = Number(m[4]);
        markPartial(frag, 'oom-killer header interleaved inside another report; no victim line follows it');
        this.flushOomFragment(st);
        st.oomFragment = { inc: frag, linesLeft: 3 };
        r.inc.facts['interleaved'] = true;
        return true;
      }
      mk('oom_kill', 'OOM');
      inc!.oom = oom;
      inc!.facts['oomScoreAdj'] = Number(m[4]);
      inc!.tasks.push({ role: 'invoker', comm: oom.invoker!.comm });
    } else if ((m = PANIC_RE.exec(text))) {
      panicReason = m[1]!;
      mk('panic', 'kernel panic');
      inc!.facts['reason'] = panicReason;
      if (/Machine check|machine check/.test(panicReason)) inc!.subkind = 'machine_check';
      else if (/^Out of memory/.test(panicReason)) {
        inc!.subkind = 'panic_on_oom';
        // The task table printed just before the panic: from the OOM report it ended, or rows
        // seen with no report open (the log starts mid table).
        const prev = r?.inc.kind === 'oom_kill' ? r.inc.oom : undefined;
        const rows = prev?.taskTableRows ?? st.orphanTable?.rows;
        const largest = prev?.largestRssTask ?? st.orphanTable?.largest;
        if (rows !== undefined) inc!.oom = { taskTableRows: rows, ...(largest ? { largestRssTask: largest } : {}) };
      }
      else if (/^hung_task/.test(panicReason)) inc!.subkind = 'hung_task_panic';
      else if (/^softlockup/.test(panicReason)) inc!.subkind = 'softlockup_panic';
      else if (/^Fatal exception/.test(panicReason)) inc!.subkind = 'fatal_exception';
      else if (/^sysrq triggered crash/.test(panicReason)) inc!.subkind = 'sysrq';
    } else if ((m = HUNG_RE.exec(text))) {
      mk('hung_task', 'INFO: task hung');
      if (m[3] === "can't die") inc!.subkind = 'cant_die';
      else if (m[4]) inc!.subkind = 'io_wait';
      inc!.tasks.push({ role: 'blocked', comm: m[1]!, pid: Number(m[2]) });
      inc!.facts['blockedSeconds'] = Number(m[5]);
    } else if ((m = SOFT_RE.exec(text))) {
      mk('soft_lockup', 'BUG: soft lockup');
      inc!.cpu = Number(m[1]);
      inc!.facts['stuckSeconds'] = Number(m[2]);
      inc!.tasks.push({ role: 'stuck', comm: m[3]!, pid: Number(m[4]) });
    } else if ((m = HARD_RE.exec(text))) {
      mk('hard_lockup', 'hard LOCKUP');
      inc!.cpu = Number(m[1]);
    } else if ((m = RCU_RE.exec(text))) {
      mk('rcu_stall', 'INFO: rcu detected stall');
      inc!.subkind = m[2] ? 'self_detected' : 'detected_stalls_on_cpus_tasks';
      inc!.facts['flavor'] = m[1]!;
      if (m[3]) inc!.facts['expedited'] = true;
    } else if ((m = NULL_RE.exec(text))) {
      mk('oops', 'BUG: unable to handle kernel NULL pointer dereference');
      inc!.subkind = 'null_pointer_dereference';
      if (m[1]) inc!.facts['faultAddress'] = m[1];
    } else if ((m = PAGING_RE.exec(text))) {
      mk('oops', 'BUG: unable to handle kernel paging request');
      inc!.subkind = 'paging_request';
      if (m[1]) inc!.facts['faultAddress'] = m[1];
    } else if ((m = ARM_UNABLE_RE.exec(text))) {
      const isNull = m[1] === 'NULL pointer dereference';
      mk('oops', isNull ? 'BUG: unable to handle kernel NULL pointer dereference' : 'BUG: unable to handle kernel paging request');
      inc!.subkind = isNull ? 'null_pointer_dereference' : 'paging_request';
      inc!.facts['faultAddress'] = m[2]!;
    } else if (GPF_RE.test(trap) && trap.startsWith('general protection fault')) {
      mk('oops', 'general protection fault');
      inc!.subkind = 'general_protection_fault';
    } else if ((m = KBUG_RE.exec(text))) {
      mk('oops', 'kernel BUG');
      inc!.subkind = 'kernel_bug';
      inc!.facts['sourceLocation'] = m[2] ? `${m[1]}:${m[2]}` : m[1]!;
    } else if ((m = BUG_RE.exec(text)) && !/^BUG: soft lockup/.test(text) && (san = sanitizerHeader(m[1]!))) {
      // syzkaller titles sanitizer reports without `BUG: ` (`KASAN: use-after-free Read in F`); finalize composes it.
      mk('oops', `${san.tool}: ${san.type}`);
      inc!.subkind = san.tool.toLowerCase();
      inc!.facts['bugType'] = san.type;
      if (san.access) inc!.facts['access'] = san.access;
    } else if ((m = UBSAN_RE.exec(text))) {
      // `UBSAN: shift-out-of-bounds in net/x.c:12:3`: a source location, not a function; the title takes the stack's.
      const type = /^Undefined behaviou?r$/i.test(m[1]!) ? 'undefined-behaviour' : m[1]!;
      mk('warning', `UBSAN: ${sanitizeTitle(type)}`);
      inc!.subkind = 'ubsan';
      inc!.facts['bugType'] = type;
      inc!.facts['sourceLocation'] = m[2]!;
    } else if ((m = BUG_RE.exec(text)) && !/^BUG: soft lockup/.test(text)) {
      const what = m[1]!;
      // Sanitizer headers went to sanitizerHeader above; cut the rest at its first colon or " in process".
      const short = what.replace(/ \[.*$/, '').replace(/ in process .*$/, '').replace(/ at \S+:\d+\s*$/, '').replace(/:.*$/, '');
      mk('oops', `BUG: ${sanitizeTitle(short)}`);
      inc!.subkind = 'bug';
      if (/^scheduling while atomic: (.+)\/(\d+)\/0x[0-9a-f]+/.test(what)) {
        const t = /^scheduling while atomic: (.+)\/(\d+)\/0x[0-9a-f]+/.exec(what)!;
        inc!.subkind = 'scheduling_while_atomic';
        inc!.tasks.push({ role: 'current', comm: t[1]!, pid: Number(t[2]) });
      } else if (/^sleeping function called from invalid context/.test(what)) {
        inc!.subkind = 'sleeping_in_atomic';
        const at = / at (\S+:\d+)\s*$/.exec(what);
        if (at) inc!.facts['sourceLocation'] = at[1]!;
      }
    } else if ((m = TRAP_RE.exec(trap))) {
      const what = m[1] === 'PANIC: double fault' ? 'double fault' : m[1]!;
      mk('oops', what);
      inc!.subkind = what.replace(/ /g, '_').toLowerCase();
    } else if ((m = LOCKDEP_RE.exec(text))) {
      // syzkaller: `possible deadlock in F`, F the function acquiring the lock (LOCKDEP type).
      mk('warning', 'possible deadlock');
      inc!.subkind = m[1] === 'recursive locking' ? 'lockdep_recursive' : 'lockdep_circular';
    } else if ((m = WARN_NEW_RE.exec(text))) {
      mk('warning', 'WARNING');
      warnFunc = m[2]!;
      inc!.facts['sourceLocation'] = m[1]!;
      inc!.cpu = Number(m[3]);
      inc!.tasks.push({ role: 'current', comm: m[4]!, pid: Number(m[5]) });
    } else if ((m = WARN_CPU_RE.exec(text))) {
      mk('warning', 'WARNING');
      warnFunc = m[4]!;
      inc!.cpu = Number(m[1]);
      inc!.facts['sourceLocation'] = m[3]!;
    } else if ((m = WARN_OLD_RE.exec(text))) {
      mk('warning', 'WARNING');
      warnFunc = m[2]!;
      inc!.facts['sourceLocation'] = m[1]!;
    } else if ((m = WARN_ANY_RE.exec(text)) && !/^WARNING: (?:\/etc|CPU: \d+ PID)/.test(text)) {
      mk('warning', `WARNING: ${sanitizeTitle(m[1]!)}`);
    } else if ((m = SYSRQ_RE.exec(text))) {
      mk('sysrq_show_state', m[1] ? 'SysRq-W: show blocked state' : 'SysRq-T: show state');
      inc!.sysrq = { blockedOnly: Boolean(m[1]), tasks: 0, byState: {}, kept: [], blockedGroups: [] };
    } else if ((m = OOM_CONSTRAINT_RE.exec(text)) || (m = OOM_KILL_OLD_RE.exec(text)) || (m = OOM_KILLED_RE.exec(text))) {
      // Victim lines without the oom-killer header (truncated log): still an OOM kill.
      mk('oom_kill', 'OOM');
      inc!.oom = {};
      markPartial(inc!, 'no "invoked oom-killer" header before the victim');
      const rep = this.open(st, inc!, line);
      st.report = rep;
      this.oomLine(rep, text);
      if (rep.oomDone) this.close(st);
      return true;
    } else if ((m = SHRINK_RE.exec(text))) {
      mk('shrink_slab', `shrink_slab: negative objects to delete in ${cleanName(m[1]!)}`);
      inc!.facts['shrinker'] = m[1]!;
      inc!.facts['nr'] = Number(m[2]);
    } else if ((m = MCE_CHECK_RE.exec(text))) {
      mk('mce', `MCE: machine check, bank ${m[3]}`);
      inc!.subkind = 'logged';
      inc!.cpu = Number(m[1]);
      inc!.facts['bank'] = Number(m[3]);
      inc!.facts['status'] = m[4]!;
    } else if (MCE_LOGGED_RE.test(text)) {
      mk('mce', 'MCE: machine check events logged');
      inc!.subkind = 'corrected_logged';
    } else if ((m = MCE_FATAL_RE.exec(text)) && /Machine Check Exception/.test(text)) {
      mk('mce', 'MCE: Machine Check Exception');
      inc!.subkind = 'fatal';
      if (m[1] !== undefined) inc!.cpu = Number(m[1]);
      if (m[3] !== undefined) {
        inc!.facts['bank'] = Number(m[3]);
        inc!.facts['status'] = m[4]!;
      }
    } else if ((m = HW_ERROR_RE.exec(text))) {
      if (m[3]) {
        mk('hw_error', `EDAC: ${m[4] === 'UE' ? 'uncorrected' : 'corrected'} memory error on ${m[2]}`);
        inc!.subkind = m[4] === 'UE' ? 'uncorrected' : 'corrected';
      } else {
        const what = m[1] ?? m[6] ?? '';
        if (/^Hardware error from APEI/.test(what)) {
          mk('hw_error', 'Hardware Error: APEI GHES');
          inc!.subkind = 'ghes';
        } else mk('hw_error', `Hardware Error: ${sanitizeTitle(what).slice(0, 80)}`);
      }
    } else if ((m = IO_ERROR_RE.exec(text))) {
      const dev = m[3] ?? m[5] ?? m[7] ?? '?';
      const what = m[2] ? `${m[1] ?? ''}${m[2]} error` : m[7] ? 'Buffer I/O error' : 'I/O error';
      mk('io_error', `${what} on ${dev}`);
      inc!.facts['device'] = dev;
      const sector = m[4] ?? m[6];
      if (sector) inc!.facts['sector'] = Number(sector);
    } else if ((m = FS_ERROR_RE.exec(text))) {
      if (m[1]) {
        mk('fs_error', `${m[1]} ${m[2] ?? 'error'} on ${m[3]}${m[4] ? ` in ${m[4]}` : ''}`);
        inc!.facts['device'] = m[3]!;
        inc!.facts['filesystem'] = m[1];
      } else {
        const what = /read-only/.test(m[7]!) ? 'remounted read-only' : /Shutting down/.test(m[7]!) ? 'shut down' : /Corruption/.test(m[7]!) ? 'corruption' : 'error';
        mk('fs_error', `${m[5]} ${what} on ${m[6]}`);
        inc!.facts['device'] = m[6]!;
        inc!.facts['filesystem'] = m[5]!;
      }
    } else if ((m = SEGFAULT_RE.exec(text))) {
      const obj = m[6] ? m[6].replace(/\[.*$/, '') : undefined;
      mk('segfault', `segfault: ${m[1]}${obj ? ` in ${obj}` : ''}`);
      inc!.tasks.push({ role: 'faulting', comm: m[1]!, pid: Number(m[2]) });
      inc!.facts['address'] = m[3]!;
      // `(null)`: the kernel printed a NULL instruction pointer.
      inc!.facts['ip'] = m[4] ?? '0';
      inc!.facts['error'] = Number(m[5]);
      if (obj) inc!.facts['object'] = obj;
    } else if ((m = TRAPS_RE.exec(text))) {
      mk('segfault', `${m[3]!.replace(/ \d+$/, '')}: ${m[1]}`);
      inc!.subkind = 'trap';
      inc!.tasks.push({ role: 'faulting', comm: m[1]!, pid: Number(m[2]) });
    }

    if (!inc) return false;
    st.orphanTable = undefined;
    const incident: Incident = inc;
    if (st.preface !== undefined) {
      if (incident.kind === 'warning' || incident.kind === 'oops') warnMessage(incident, st.preface);
      st.preface = undefined;
    }
    // Another report in this stream is still open: a new header ends it.
    this.close(st, undefined);
    if (incident.kind === 'panic' && st.lastClosed && line.lineNo - st.lastClosed.lineNo <= 20) {
      // `Kernel panic - not syncing: Fatal exception` right after an oops is that oops' consequence.
      incident.facts['after'] = st.lastClosed.title;
    }
    if (SINGLE_LINE.has(incident.kind) || (incident.kind === 'hw_error' && incident.subkind !== 'ghes')) {
      this.emit(incident);
      return true;
    }
    const rep = this.open(st, incident, line);
    if (incident.subkind === 'lockdep_circular' || incident.subkind === 'lockdep_recursive') rep.lockdep = { backtrace: false, expectAt: false };
    if (san) rep.san = san;
    if (warnFunc) rep.warnFunc = cleanName(warnFunc);
    if (panicReason !== undefined) rep.panicReason = panicReason;
    if (incident.kind === 'sysrq_show_state') rep.sysrq = { groups: new Map() };
    // Some headers carry body facts on the same line (CPU/PID in the new WARNING format).
    this.details(rep, line);
    return true;
  }

  private addLine(r: OpenReport, line: NormLine): void {
    r.lines++;
    r.lastLineNo = line.lineNo;
    if (r.inc.excerpt.length < this.excerptLines) r.inc.excerpt.push(line.raw);
    else {
      r.tail.push(line.raw);
      if (r.tail.length > TAIL_LINES) {
        r.tail.shift();
        r.inc.excerptOmitted++;
      }
    }
  }

  private body(line: NormLine, st: Stream, r: OpenReport): void {
    const text = line.text.length > MAX_HEADER_CHARS ? line.text.slice(0, MAX_HEADER_CHARS) : line.text;
    r.lastSeen = this.stats.lines;
    // A SysRq-T dump of a big machine is legitimately huge (tens of thousands of tasks).
    if (r.lines >= (r.inc.kind === 'sysrq_show_state' ? this.maxReportLines * 50 : this.maxReportLines)) {
      this.close(st, `report longer than ${this.maxReportLines} lines; cut`);
      return;
    }
    if (END_TRACE_RE.test(text)) {
      this.addLine(r, line);
      this.details(r, line);
      this.close(st);
      return;
    }
    const k = r.inc.kind;
    if (r.lockdep && !r.lockdep.backtrace && /^(?:CPU: \d+ (?:UID: \d+ )?PID: |\s*Call Trace:)/.test(text)) {
      // The task's backtrace starts (also when a console lost the `stack backtrace:` line).
      r.lockdep.backtrace = true;
    }
    if (r.lockdep && !r.lockdep.backtrace) {
      // The dependency chains are many line shapes (lock names, `-> #1`, chain frames, the
      // unsafe-locking scenario): take all until the backtrace of the task.
      this.addLine(r, line);
      this.lockdepLine(r, text);
      return;
    }
    if (k === 'oom_kill') {
      // An OOM report is many line shapes (Mem-Info, zones, task table): take all until the victim.
      this.addLine(r, line);
      this.details(r, line);
      this.oomLine(r, text);
      if (r.oomDone) this.close(st);
      return;
    }
    if (r.caller && line.caller && line.caller !== r.caller && k !== 'sysrq_show_state') {
      // Lines of another printk context (another CPU's NMI backtrace) interleave: not ours.
      return;
    }
    if ((r.san || r.inc.subkind === 'ubsan') && r.inTrace && /^={20,}\s*$/.test(text)) {
      // Sanitizer reports end with a rule of `=` signs.
      this.addLine(r, line);
      this.close(st);
      return;
    }
    const frame = BODY_RE.test(text) ? null : parseFrame(text);
    const isBody =
      (r.san !== undefined && (OTHER_STACK_RE.test(text) || KASAN_ACCESS_RE.test(text) || /^(?:Use-after-free|Out-of-bounds|Invalid) (?:read|write|free)/.test(text))) ||
      frame !== null ||
      r.pidPrefix !== undefined ||
      BODY_RE.test(text) ||
      EXTRA_BODY_RE.test(text) ||
      ((k === 'sysrq_show_state' || k === 'hung_task' || k === 'rcu_stall') && (OLD_TASK_RE.test(text) || NEW_TASK_RE.test(text)));
    if (!isBody && r.inc.subkind === 'ubsan' && !r.inTrace && r.lines < 4 && text.trim() !== '' && !/^=+\s*$/.test(text)) {
      // UBSAN's detail right after its header (`shift exponent 64 is too large for 64-bit type …`).
      const prev = r.inc.facts['detail'];
      r.inc.facts['detail'] = (prev === undefined ? text.trim() : `${prev} ${text.trim()}`).slice(0, 200);
      this.addLine(r, line);
      return;
    }
    if (!isBody) {
      r.nonBody++;
      const limit = k === 'sysrq_show_state' ? 12 : r.inTrace ? 3 : 8;
      if (r.nonBody > limit) this.close(st);
      return;
    }
    r.nonBody = 0;
    this.addLine(r, line);
    this.details(r, line);
  }

  /** Extracts facts from a report line: tasks, CPU, frames, RIP, kind-specific fields. */
  private details(r: OpenReport, line: NormLine): void {
    const text = line.text.length > MAX_HEADER_CHARS ? line.text.slice(0, MAX_HEADER_CHARS) : line.text;
    const inc = r.inc;
    let m: RegExpExecArray | null;
    if (r.pidPrefix) {
      // `CPU: 1 PID: 1` / `88243 Comm: X`: a report line broken in two by the capture.
      const p = r.pidPrefix;
      r.pidPrefix = undefined;
      if ((m = SPLIT_PID_TAIL_RE.exec(text.trim()))) {
        this.setCurrent(inc, commOf(m[2]!), Number(p.pid + m[1]), p.cpu);
        return;
      }
      this.setCurrent(inc, undefined, Number(p.pid), p.cpu);
    }
    if ((m = CPU_PID_SPLIT_RE.exec(text))) {
      r.pidPrefix = { cpu: Number(m[1]), pid: m[2]! };
      return;
    }
    if ((m = CPU_PID_RE.exec(text))) {
      this.setCurrent(inc, m[3] === undefined ? undefined : commOf(m[3]), Number(m[2]), Number(m[1]));
      const t = /(?:Not tainted|Tainted: ([A-Z ]+?)) +(\S+) #/.exec(text);
      if (t) {
        if (t[1]) inc.facts['tainted'] = t[1].trim() ? t[1] : '';
        inc.facts['kernelVersion'] = t[2]!;
      }
      return;
    }
    if ((m = OLD_PID_RE.exec(text)) || (m = PROCESS_RE.exec(text))) {
      const isOld = text.startsWith('Pid:');
      this.setCurrent(inc, isOld ? commOf(m[2]!) : m[1]!, Number(isOld ? m[1] : m[2]), undefined);
      return;
    }
    if ((m = TAINTED_RE.exec(text)) && inc.kind === 'hung_task') {
      if (m[1]) inc.facts['tainted'] = m[1];
      return;
    }
    if ((m = WORKQUEUE_RE.exec(text))) {
      inc.facts['workqueue'] = m[1]!;
      return;
    }
    if (/^\s*(?:Call Trace|Call trace|Backtrace):?/.test(text)) {
      r.inTrace = true;
      return;
    }
    if (/<<EOE>>|<EOI>|<\/IRQ>|<\/NMI>/.test(text)) {
      r.sawEoe = true;
      r.afterEoe = [];
      if (/<<EOE>>|<\/NMI>/.test(text)) r.sawNmiEnd = true;
    }
    const rip = /^\s*(?:RIP|EIP|IP|NIP|pc|PC is at|EIP is at)\b/.test(text) ? parseRip(text.trim()) : null;
    if (rip) {
      // The first kernel-mode RIP is where the CPU was; later ones are interrupted contexts.
      if (!inc.rip) inc.rip = rip.func;
      if (rip.module && !inc.facts['module']) inc.facts['module'] = rip.module;
      return;
    }
    if (inc.kind === 'sysrq_show_state' || inc.kind === 'hung_task' || inc.kind === 'rcu_stall') {
      if ((m = NEW_TASK_RE.exec(text)) || (m = OLD_TASK_RE.exec(text))) {
        const isNew = text.startsWith('task:');
        const comm = m[1]!.trim();
        const state = m[2]!;
        const pid = Number(isNew ? m[4] : m[4]);
        const ppid = Number(isNew ? m[6] : m[5]);
        if (inc.kind === 'sysrq_show_state') this.sysrqTask(r, { comm, pid, ppid, state, frames: [] });
        else if (inc.kind === 'hung_task') {
          const t = inc.tasks.find((x) => x.role === 'blocked');
          if (t && (t.pid === pid || t.comm.startsWith(comm) || comm.startsWith(t.comm.slice(0, 15)))) {
            t.state = state;
            t.ppid = ppid;
          }
        } else inc.tasks.push({ role: 'current', comm, pid, ppid, state });
        return;
      }
    }
    if (LIST_CORRUPTION_RE.test(text.trim()) || ((inc.kind === 'warning' || inc.kind === 'oops') && PREFACE_RE.test(text))) {
      // ≤4.x prints the message after the WARNING line: keep it.
      if (!/^refcount_t: /.test(text) || inc.kind === 'warning') warnMessage(inc, text.trim());
      return;
    }
    if (r.san?.tool === 'KASAN' && r.san.access === undefined && (m = KASAN_ACCESS_RE.exec(text))) {
      r.san.access = m[1]!;
      inc.facts['access'] = m[1]!;
      if (m[2]) inc.facts['accessSize'] = Number(m[2]);
      const by = / by task (.+)\/(\d+)\s*$/.exec(text);
      if (by && !inc.tasks.some((t) => t.role === 'current')) inc.tasks.push({ role: 'current', comm: by[1]!, pid: Number(by[2]) });
      return;
    }
    if (r.san && OTHER_STACK_RE.test(text)) {
      r.otherStacks = true;
      return;
    }
    if (r.san && (m = /which belongs to the cache (\S+) of size (\d+)/.exec(text))) {
      inc.facts['slabCache'] = m[1]!;
      return;
    }
    if (inc.subkind === 'sleeping_in_atomic' && (m = MIGHT_SLEEP_TASK_RE.exec(text))) {
      if (!inc.tasks.some((t) => t.role === 'current')) inc.tasks.push({ role: 'current', comm: m[2]!, pid: Number(m[1]) });
      return;
    }
    if (inc.kind === 'hung_task' && (m = BLOCKER_RE.exec(text))) {
      // 6.x names the likely owner of the lock the task waits for.
      inc.facts['blockedOn'] = m[1]!;
      inc.facts['blockerTask'] = `${m[2]}:${m[3]}`;
      return;
    }
    if (inc.kind === 'rcu_stall') {
      if ((m = RCU_T_RE.exec(text)) && inc.facts['stallJiffies'] === undefined) inc.facts['stallJiffies'] = Number(m[1]);
      if ((m = RCU_DETECTED_BY_RE.exec(text)) && inc.facts['detectedByCpu'] === undefined) inc.facts['detectedByCpu'] = Number(m[1]);
      if ((m = RCU_SELF_CPU_RE.exec(text)) && inc.cpu === undefined) inc.cpu = Number(m[1] ?? m[2]);
    }
    if (inc.kind === 'hw_error' && (m = /event severity: (\w+)/.exec(text))) {
      inc.facts['severity'] = m[1]!;
      if (inc.subkind === 'ghes') inc.title = `Hardware Error: APEI GHES ${m[1]}`;
    }
    if (inc.kind === 'mce') {
      if ((m = /Bank (\d+): ([0-9a-f]+)/.exec(text)) && inc.facts['bank'] === undefined) {
        inc.facts['bank'] = Number(m[1]);
        inc.facts['status'] = m[2]!;
      }
    }
    const frame = r.otherStacks ? null : parseFrame(text);
    if (frame) {
      r.inTrace = true;
      if (r.allFrames.length < this.maxFrames) r.allFrames.push(frame);
      if (r.sawEoe && r.afterEoe.length < this.maxFrames) r.afterEoe.push(frame);
      if (r.sysrq?.curTask && r.sysrq.curTask.frames.length < 24 && frame.reliable) r.sysrq.curTask.frames.push(frame.func);
    }
  }

  /** A line of a lockdep report before its backtrace: the acquiring task and function. */
  private lockdepLine(r: OpenReport, text: string): void {
    const ld = r.lockdep!;
    let m: RegExpExecArray | null;
    if (/^\s*stack backtrace:/.test(text)) {
      ld.backtrace = true;
      return;
    }
    if ((m = LOCKDEP_TASK_RE.exec(text)) && ld.acquireFunc === undefined) {
      if (!r.inc.tasks.some((t) => t.role === 'current')) r.inc.tasks.push({ role: 'current', comm: m[1]!, pid: Number(m[2]) });
      ld.expectAt = true;
      return;
    }
    if (ld.expectAt && (m = LOCKDEP_AT_RE.exec(text))) {
      ld.acquireFunc = cleanName(m[1]!);
      ld.expectAt = false;
      const lock = /\((.+?)\)\{/.exec(text);
      if (lock) r.inc.facts['lock'] = lock[1]!;
    }
  }

  private setCurrent(inc: Incident, comm: string | undefined, pid: number, cpu: number | undefined): void {
    if (cpu !== undefined && inc.cpu === undefined) inc.cpu = cpu;
    const cur = inc.tasks.find((t) => t.role === 'current');
    if (cur) {
      if (cur.comm === '?' && comm && cur.pid === pid) cur.comm = comm;
      return;
    }
    if (inc.kind === 'oom_kill') {
      const inv = inc.tasks.find((t) => t.role === 'invoker');
      if (inv && inv.pid === undefined) {
        inv.pid = pid;
        if (inc.oom?.invoker) inc.oom.invoker.pid = pid;
      }
      return;
    }
    if (inc.kind === 'sysrq_show_state') return;
    inc.tasks.push({ role: 'current', comm: comm ?? '?', pid });
  }

  private sysrqTask(r: OpenReport, task: { comm: string; pid?: number; ppid?: number; state: string; frames: string[] }): void {
    this.endSysrqTask(r);
    const s = r.inc.sysrq!;
    s.tasks++;
    s.byState[task.state] = (s.byState[task.state] ?? 0) + 1;
    r.sysrq!.curTask = task;
  }

  private endSysrqTask(r: OpenReport): void {
    const cur = r.sysrq?.curTask;
    if (!cur) return;
    r.sysrq!.curTask = undefined;
    const s = r.inc.sysrq!;
    if (s.kept.length < this.maxSysrqTasks) s.kept.push(cur);
    if (cur.state === 'D') {
      const top = cur.frames.filter((f) => !/^(?:__)?schedule|^io_schedule|^__switch_to|^context_switch|^preempt_schedule/.test(f)).slice(0, 3);
      const key = top.join(' <- ');
      const groups = r.sysrq!.groups;
      let g = groups.get(key);
      if (!g && groups.size < 1000) {
        g = { count: 0, frames: top, examples: [] };
        groups.set(key, g);
      }
      if (g) {
        g.count++;
        if (g.examples.length < 5) g.examples.push(`${cur.comm}:${cur.pid ?? '?'}`);
      }
    }
  }

  private oomLine(r: OpenReport, text: string): void {
    const oom = (r.inc.oom ??= {});
    let m: RegExpExecArray | null;
    if ((m = OOM_CONSTRAINT_RE.exec(text))) {
      oom.constraint = m[1]!;
      if (m[3]) oom.cgroup = m[3];
      r.inc.facts['globalOom'] = Boolean(m[2]);
      r.inc.facts['taskMemcg'] = m[4]!;
      oom.victim ??= { pid: Number(m[6]), comm: m[5]!, uid: Number(m[7]) };
      return;
    }
    if ((m = OOM_KILL_OLD_RE.exec(text))) {
      if (m[1]!.startsWith('Memory cgroup')) oom.constraint ??= 'CONSTRAINT_MEMCG';
      oom.victim = { ...(oom.victim ?? {}), pid: Number(m[2]), comm: m[3]!, score: Number(m[4]) };
      return;
    }
    if ((m = OOM_MEMCG_TASK_RE.exec(text))) {
      oom.constraint ??= 'CONSTRAINT_MEMCG';
      oom.cgroup = m[2]!;
      return;
    }
    if ((m = OOM_KILLED_RE.exec(text))) {
      const v = { ...(oom.victim ?? {}), pid: Number(m[1]), comm: m[3]! } as NonNullable<OomDetails['victim']>;
      const uid = m[2] ?? m[8];
      if (uid !== undefined) v.uid = Number(uid);
      v.totalVmKb = Number(m[4]);
      v.anonRssKb = Number(m[5]);
      v.fileRssKb = Number(m[6]);
      if (m[7] !== undefined) v.shmemRssKb = Number(m[7]);
      if (m[10] !== undefined) v.oomScoreAdj = Number(m[10]);
      oom.victim = v;
      if (/Memory cgroup out of memory/.test(text)) oom.constraint ??= 'CONSTRAINT_MEMCG';
      r.oomDone = true;
      return;
    }
    if ((m = /Free swap\s*=\s*(\d+)kB/.exec(text))) (oom.memory ??= {}).freeSwapKb = Number(m[1]);
    else if ((m = /Total swap\s*=\s*(\d+)kB/.exec(text))) (oom.memory ??= {}).totalSwapKb = Number(m[1]);
    else if ((m = /^(\d+) pages RAM/.exec(text))) (oom.memory ??= {}).ramPages = Number(m[1]);
    else if ((m = /^\s*active_anon:\d+.* free:(\d+)/.exec(text)) || (m = /^\s*free:(\d+) free_pcp/.exec(text))) (oom.memory ??= {}).freePages = Number(m[1]);
    else if ((m = OOM_TABLE_ROW_RE.exec(text))) {
      oom.taskTableRows = (oom.taskTableRows ?? 0) + 1;
      const rss = Number(m[5]);
      if (!oom.largestRssTask || rss > oom.largestRssTask.rssPages) oom.largestRssTask = { pid: Number(m[1]), comm: m[6]!, rssPages: rss };
    }
  }

  /** Closes the stream's open report; `truncatedBy` marks it partial when it lacks its essential parts. */
  private close(st: Stream, truncatedBy?: string): void {
    this.flushOomFragment(st);
    const r = st.report;
    if (!r) return;
    st.report = undefined;
    this.openCount--;
    this.finalize(r, truncatedBy);
    st.lastClosed = { title: r.inc.title, lineNo: r.lastLineNo };
    this.emit(r.inc);
  }

  private finalize(r: OpenReport, truncatedBy: string | undefined): void {
    const inc = r.inc;
    if (r.tail.length) {
      if (inc.excerptOmitted) inc.excerpt.push(`[… ${inc.excerptOmitted} lines omitted …]`);
      inc.excerpt.push(...r.tail);
    }
    // The module involved: of the faulting instruction, else the top-most module frame.
    const mod = inc.facts['module'] ?? r.allFrames.find((f) => f.reliable && f.module)?.module;
    if (mod !== undefined) inc.facts['module'] = mod;
    const frames = r.allFrames;
    inc.frames = frames.filter((f) => f.reliable).slice(0, 32);
    const first = firstMeaningful(frames);
    const ripFunc = inc.rip && !isGenericFrame(inc.rip) ? normalizeSyscall(inc.rip) : undefined;
    const alt = new Set<string>();
    const needsTrace = NEEDS_TRACE.has(inc.kind);
    switch (inc.kind) {
      case 'hung_task': {
        inc.guiltyFrame = hangGuilty(frames);
        inc.title = inc.guiltyFrame ? `INFO: task hung in ${inc.guiltyFrame}` : 'INFO: task hung';
        if (inc.subkind === 'cant_die') inc.title = inc.title.replace('task hung', "task can't die");
        break;
      }
      case 'soft_lockup':
      case 'rcu_stall': {
        // Soft lockups: syzkaller's lockup rule, which reads the RIP frame first (see lockupGuilty).
        inc.guiltyFrame = (inc.kind === 'soft_lockup' ? lockupGuilty(inc.rip, frames) : stallGuilty(frames)) ?? ripFunc ?? first;
        const base = inc.kind === 'soft_lockup' ? 'BUG: soft lockup' : 'INFO: rcu detected stall';
        inc.title = inc.guiltyFrame ? `${base} in ${inc.guiltyFrame}` : base;
        break;
      }
      case 'hard_lockup': {
        // After an NMI stack (3.x: the watchdog's own frames come first) the interrupted code is what spun.
        const after = r.sawNmiEnd && r.afterEoe.length ? firstMeaningful(r.afterEoe) : undefined;
        inc.guiltyFrame = after ?? ripFunc ?? first;
        inc.title = inc.guiltyFrame ? `hard LOCKUP in ${inc.guiltyFrame}` : 'hard LOCKUP';
        if (r.afterEoe.length) inc.facts['framesAfterNmi'] = r.afterEoe.filter((f) => f.reliable).map((f) => f.func).join(' ');
        break;
      }
      case 'oops': {
        if (r.san) {
          sanitizerTitle(inc, r.san, frames);
          break;
        }
        inc.guiltyFrame = ripFunc ?? first;
        if (inc.subkind === 'kernel_bug' && LIST_DEBUG_RE.test(String(inc.facts['sourceLocation'] ?? ''))) {
          // CONFIG_BUG_ON_DATA_CORRUPTION: `kernel BUG at lib/list_debug.c:N!` (RIP in __list_add_valid).
          inc.subkind = 'list_corruption';
          inc.guiltyFrame = firstMeaningful(frames) ?? inc.guiltyFrame;
          inc.title = 'BUG: corrupted list';
        } else if (inc.subkind === 'kernel_bug' && /(?:^|\/)usercopy\.c/.test(String(inc.facts['sourceLocation'] ?? ''))) {
          // CONFIG_HARDENED_USERCOPY: `kernel BUG at mm/usercopy.c:N!` after `usercopy: Kernel memory exposure
          // attempt detected …`; syzkaller: `BUG: bad usercopy in F`, skipping the usercopy checks.
          inc.subkind = 'usercopy';
          inc.guiltyFrame = firstMeaningful(frames, USERCOPY_SKIP) ?? inc.guiltyFrame;
          inc.title = 'BUG: bad usercopy';
        }
        if (inc.guiltyFrame) inc.title = `${inc.title} in ${inc.guiltyFrame}`;
        break;
      }
      case 'warning': {
        const wf = r.warnFunc && !isGenericFrame(r.warnFunc) && !WARN_SKIP.test(r.warnFunc) ? normalizeSyscall(r.warnFunc) : undefined;
        inc.guiltyFrame = wf ?? firstMeaningful(frames, WARN_SKIP) ?? (r.warnFunc ? normalizeSyscall(r.warnFunc) : undefined);
        if (r.warnFunc) {
          inc.facts['warnFunction'] = r.warnFunc;
          alt.add(r.warnFunc);
        }
        const src = String(inc.facts['sourceLocation'] ?? '');
        if (r.lockdep) {
          inc.guiltyFrame = r.lockdep.acquireFunc ?? firstMeaningful(frames);
          inc.title = inc.guiltyFrame ? `possible deadlock in ${inc.guiltyFrame}` : 'possible deadlock';
          if (!r.lockdep.backtrace) markPartial(inc, truncatedBy ?? 'no stack backtrace in the lockdep report');
          break;
        }
        if (LIST_DEBUG_RE.test(src) || (r.warnFunc && LIST_DEBUG_RE.test(r.warnFunc))) {
          inc.subkind = 'list_corruption';
          inc.title = inc.guiltyFrame ? `BUG: corrupted list in ${inc.guiltyFrame}` : 'BUG: corrupted list';
          break;
        }
        if (inc.subkind === 'ubsan') {
          // syzkaller: `UBSAN: T in F`, F the first frame that is not UBSAN's own (skips ubsan, overflow).
          inc.guiltyFrame = firstMeaningful(frames, /ubsan|overflow/);
          const type = String(inc.facts['bugType']);
          inc.title = `UBSAN: ${sanitizeTitle(type)}${inc.guiltyFrame ? ` in ${inc.guiltyFrame}` : ''}`;
          break;
        }
        if (/(?:^|\/)debugobjects\.c/.test(src) || (r.warnFunc && /^debug_print_object/.test(r.warnFunc))) {
          // ODEBUG: syzkaller titles the WARNING at lib/debugobjects.c `WARNING: ODEBUG bug in F`, F from
          // the stack without ODEBUG's users (timers, work, RCU, frees); the message's hint is kept apart.
          inc.subkind = 'odebug';
          inc.guiltyFrame = firstMeaningful(frames, ODEBUG_SKIP);
          inc.title = inc.guiltyFrame ? `WARNING: ODEBUG bug in ${inc.guiltyFrame}` : 'WARNING: ODEBUG bug';
          break;
        }
        if (/(?:^|\/)usercopy\.c/.test(src) || (r.warnFunc && /^usercopy_warn/.test(r.warnFunc))) {
          inc.subkind = 'usercopy';
          inc.guiltyFrame = firstMeaningful(frames, USERCOPY_SKIP);
          inc.title = inc.guiltyFrame ? `WARNING: bad usercopy in ${inc.guiltyFrame}` : 'WARNING: bad usercopy';
          break;
        }
        if (/(?:^|\/)refcount\.c/.test(src) || (r.warnFunc && /^refcount_/.test(r.warnFunc))) {
          // `refcount_t: underflow; use-after-free.` + WARNING in refcount_warn_saturate (syzkaller: `WARNING: refcount bug in F`).
          inc.subkind = 'refcount';
          inc.title = inc.guiltyFrame ? `WARNING: refcount bug in ${inc.guiltyFrame}` : 'WARNING: refcount bug';
          break;
        }
        if (inc.title === 'WARNING') inc.title = inc.guiltyFrame ? `WARNING in ${inc.guiltyFrame}` : 'WARNING';
        break;
      }
      case 'panic': {
        const reason = r.panicReason ?? '';
        inc.guiltyFrame = stallGuilty(frames) ?? first;
        if (/^corrupted stack end/.test(reason)) inc.title = `kernel panic: corrupted stack end${inc.guiltyFrame ? ` in ${inc.guiltyFrame}` : ''}`;
        else inc.title = `kernel panic: ${sanitizeTitle(reason.replace(/ exitcode=0x[0-9a-f]+/, '').replace(/ - (?:switching to|see) .*$/, '')) || 'unknown reason'}`;
        break;
      }
      case 'oom_kill': {
        const oom = inc.oom ?? {};
        if (oom.victim) {
          inc.tasks.push({ role: 'victim', comm: oom.victim.comm, pid: oom.victim.pid });
          const memcg = oom.constraint === 'CONSTRAINT_MEMCG' ? ' (memcg)' : '';
          inc.title = `OOM kill${memcg}: ${oom.victim.comm}`;
        } else {
          inc.title = 'OOM: oom-killer invoked, no victim logged';
          markPartial(inc, truncatedBy ?? 'no "Killed process" line');
        }
        // The allocation path of an OOM report explains nothing: no guilty frame.
        break;
      }
      case 'sysrq_show_state': {
        // Frames of a dump belong to its many tasks (kept per task), not to the incident.
        inc.frames = [];
        delete inc.facts['module'];
        this.endSysrqTask(r);
        const groups = [...r.sysrq!.groups.values()].sort((a, b) => b.count - a.count);
        inc.sysrq!.blockedGroups = groups.slice(0, 20);
        inc.facts['dStateTasks'] = groups.reduce((n, g) => n + g.count, 0);
        break;
      }
      case 'mce': {
        if (inc.subkind === 'fatal' && inc.facts['bank'] !== undefined) inc.title = `MCE: Machine Check Exception, bank ${inc.facts['bank']}`;
        break;
      }
      default:
        inc.guiltyFrame = first;
    }
    if (ripFunc && ripFunc !== inc.guiltyFrame) alt.add(ripFunc);
    if (inc.rip && inc.rip !== inc.guiltyFrame) alt.add(inc.rip);
    if (first && first !== inc.guiltyFrame) alt.add(first);
    const stall = stallGuilty(frames);
    if (stall && stall !== inc.guiltyFrame) alt.add(stall);
    if (inc.guiltyFrame) alt.delete(inc.guiltyFrame);
    inc.altFrames = inc.kind === 'sysrq_show_state' ? [] : [...alt];
    if (inc.guiltyFrame === undefined) delete inc.guiltyFrame;
    if (needsTrace && frames.length === 0 && !inc.rip) {
      markPartial(inc, truncatedBy ?? 'no call trace in the report');
    } else if (truncatedBy && inc.kind === 'hung_task' && frames.length === 0) {
      markPartial(inc, truncatedBy);
    }
    if (inc.facts['interleaved']) markPartial(inc, 'lines of another report are interleaved');
  }
}

// syzkaller's extra skips (linux.go): ODEBUG's users, the usercopy checks, KASAN's free paths.
const ODEBUG_SKIP = /debug_|rcu|hrtimer_|timer_|work_|percpu_|vunmap|vfree|__free_|kobject_/;
const USERCOPY_SKIP = /usercopy|__check|check_object|check_heap_object|check_copy_size|copy_to_iter|copy_from_iter/;
const FREE_SKIP = /slab_|kfree|vunmap|vfree|kmem_cache_free|free_pages|__free/;

/**
 * A function named by a header; a raw address (`in 0xffffffffc0123456` or `in ffff888012345678`,
 * no symbols) names none.
 */
function symbol(s: string): { func?: string } {
  return /^[A-Za-z_]/.test(s) && !/^(?:0x)?[0-9a-f]{8,}$/i.test(s) ? { func: cleanName(s) } : {};
}

/** Reads a sanitizer header (`KASAN: …`, `KFENCE: …`, `KMSAN: …`, `KCSAN: …`, after `BUG: `). */
function sanitizerHeader(what: string): SanitizerHeader | undefined {
  let m: RegExpExecArray | null;
  if ((m = KASAN_RE.exec(what))) {
    const type = /free/.test(m[1]!) && /invalid|double/.test(m[1]!) ? 'invalid-free' : m[1]!;
    if (!m[2]) return { tool: 'KASAN', type, noFunc: true };
    return { tool: 'KASAN', type, ...symbol(m[2]) };
  }
  if ((m = KFENCE_RE.exec(what))) return { tool: 'KFENCE', type: m[1]!, ...(m[2] ? { access: m[2] } : {}), ...symbol(m[3]!) };
  if ((m = KMSAN_RE.exec(what))) return { tool: 'KMSAN', type: m[1]!, ...symbol(m[2]!) };
  if ((m = /^(KASAN|KFENCE|KMSAN|KCSAN): (.+)$/.exec(what))) {
    // KCSAN titles keep the whole header (`data-race in F / G`); other shapes are kept, sanitised.
    return { tool: m[1] as SanitizerHeader['tool'], type: sanitizeTitle(m[2]!.replace(/\+0x[0-9a-f]+\/0x[0-9a-f]+/g, '')), noFunc: true };
  }
  return undefined;
}

/**
 * Title of a sanitizer report, as syzkaller composes it: `KASAN: T Read|Write in F`, `KASAN: invalid-free in F`,
 * `KFENCE: T read|write in F`, `KMSAN: T in F`. F is the header's function unless it is plumbing
 * (memcpy, a KASAN helper, kfree for a free), else the first meaningful frame of the report's own stack.
 */
function sanitizerTitle(inc: Incident, san: SanitizerHeader, frames: Frame[]): void {
  const skip = san.type === 'invalid-free' || san.type === 'invalid free' ? FREE_SKIP : undefined;
  const usable = (f: string | undefined) => f !== undefined && !isGenericFrame(f) && !(skip && skip.test(f));
  if (!san.noFunc) {
    inc.guiltyFrame = usable(san.func) ? normalizeSyscall(san.func!) : firstMeaningful(frames, skip) ?? san.func;
  }
  let what: string;
  if (san.tool === 'KASAN') what = san.type === 'invalid-free' ? 'invalid-free' : `${san.type}${san.access ? ` ${san.access}` : ''}`;
  else if (san.tool === 'KFENCE') what = `${san.type}${san.access ? ` ${san.access}` : ''}`;
  else what = san.type;
  inc.title = `${san.tool}: ${what}${inc.guiltyFrame ? ` in ${inc.guiltyFrame}` : ''}`;
}

/** Keeps a WARN/BUG message (printed before the header in 5.x+, after it in ≤4.x) as a fact. */
function warnMessage(inc: Incident, text: string): void {
  let m: RegExpExecArray | null;
  if ((m = /^refcount_t: (.+?)\.?\s*$/.exec(text))) inc.facts['refcount'] = m[1]!;
  else if ((m = ODEBUG_RE.exec(text))) {
    inc.facts['odebug'] = `${m[1]} ${m[2]}`;
    inc.facts['odebugObjectType'] = m[4]!;
    inc.facts['odebugHint'] = cleanName(m[5]!.replace(/\+0x.*$/, ''));
  } else if ((m = USERCOPY_RE.exec(text))) inc.facts['usercopy'] = m[1]!.slice(0, 200);
  else if (/^list_(?:add|del) corruption/.test(text)) inc.facts['listCorruption'] = text.slice(0, 200);
}

// WARNINGs about reference counts fire in the put helper; the caller is the interesting frame.
const WARN_SKIP = /^(?:fast_)?dput$|^refcount_|^kobject_|^__warn|^warn_/;

function markPartial(inc: Incident, why: string): void {
  inc.partial = true;
  if (!inc.partialReasons.includes(why)) inc.partialReasons.push(why);
}

/**
 * The comm of a `… Comm: C Not tainted …` tail: everything before the taint marker, as a comm may
 * hold spaces and `#`; without a marker (a line cut by the capture) the first word, as before.
 */
function commOf(rest: string): string {
  const at = rest.search(AFTER_COMM_RE);
  if (at > 0) return rest.slice(0, at).slice(0, 20);
  return rest.trim().split(/\s+/)[0]!;
}

function cleanName(s: string): string {
  const dot = s.indexOf('.');
  return dot > 0 ? s.slice(0, dot) : s;
}

/** Takes run-specific details out of a title so identical problems group (after syzkaller's rules). */
export function sanitizeTitle(s: string): string {
  return s
    .replace(/([A-Za-z_][\w]*)\+0x[0-9a-f]+\/0x[0-9a-f]+/g, '$1')
    .replace(/\b(\w+\.[chS]):\d+/g, '$1:LINE')
    .replace(/CPU#?\s?\d+/g, 'CPU')
    .replace(/\b(?:0x)?[0-9a-f]{6,}\b/gi, 'ADDR')
    .replace(/0x[0-9a-f]+/gi, 'ADDR')
    .replace(/\[\S+:\d+\]/g, '')
    .replace(/\b\d+\b/g, 'NUM')
    .replace(/[\x00-\x1f]/g, '')
    .trim()
    .slice(0, 120);
}

