/**
 * The table of kernel-log report types, in priority order: a header line opens a report of the
 * first entry whose `header` reads it. Everything the detector needs to know about a type is in
 * its entry; what is derived from the table (the prefilter, the body-line and message grammars,
 * the header starts found after an unknown prefix) is derived here.
 *
 * Adding a report type: one entry here (and in its family's file), one case file under
 * test/data/analyze/cases/, one docs/analyze.md row (see CONTRIBUTING.md, "Adding a report type").
 */
import { HW_ERROR, MCE_CHECK, MCE_FATAL, MCE_LOGGED } from './hardware.js';
import { FS_ERROR, IO_ERROR, SEGFAULT, SHRINK_SLAB, TRAPS } from './events.js';
import { HARD_LOCKUP, HUNG_TASK, RCU_STALL, SOFT_LOCKUP } from './lockups.js';
import { OOM_KILL, OOM_VICTIM } from './oom.js';
import { ARM_UNABLE, BUG, GPF, KERNEL_BUG, NULL_DEREF, PAGING, SANITIZER, TRAP } from './oops.js';
import { PANIC } from './panic.js';
import { PREFACE_SOURCES } from './refinements.js';
import { SYSRQ } from './sysrq.js';
import type { ReportType } from './types.js';
import { LOCKDEP, UBSAN, WARN_ANY, WARN_CPU, WARN_NEW, WARN_OLD } from './warning.js';

export type { OpenReport, ReportType } from './types.js';

export const REPORT_TYPES: readonly ReportType[] = [
  OOM_KILL,
  PANIC,
  HUNG_TASK,
  SOFT_LOCKUP,
  HARD_LOCKUP,
  RCU_STALL,
  NULL_DEREF,
  PAGING,
  ARM_UNABLE,
  GPF,
  KERNEL_BUG,
  SANITIZER,
  UBSAN,
  BUG,
  TRAP,
  LOCKDEP,
  WARN_NEW,
  WARN_CPU,
  WARN_OLD,
  WARN_ANY,
  SYSRQ,
  OOM_VICTIM,
  SHRINK_SLAB,
  MCE_CHECK,
  MCE_LOGGED,
  MCE_FATAL,
  HW_ERROR,
  IO_ERROR,
  FS_ERROR,
  SEGFAULT,
  TRAPS,
];

/**
 * Lines the detector itself needs to see, though they open no report: a boot (`Linux version`,
 * a journal separator), the RTC line that dates a boot, the end of a trace.
 */
export const STREAM_TRIGGERS = ['Linux version', '---\\[ end', '-- Boot', '-- Reboot', 'UTC \\('] as const;

const allTriggers = [...new Set([...REPORT_TYPES.flatMap((t) => t.triggers), ...STREAM_TRIGGERS])];
/**
 * Trigger words: only lines containing one can start a report. Two sets, because V8's regex
 * engine skips fast over text when every alternative starts with a rare character (capitals,
 * punctuation) and slowly when some start with common lower-case letters; two passes over a
 * chunk are ~2.5x faster than one pass with the union (see bench/analyze).
 */
export const TRIGGER_UPPER = new RegExp(allTriggers.filter((w) => !/^[a-z]/.test(w)).join('|'));
export const TRIGGER_LOWER = new RegExp(allTriggers.filter((w) => /^[a-z]/.test(w)).join('|'));
export const TRIGGER_RE = new RegExp(`${TRIGGER_UPPER.source}|${TRIGGER_LOWER.source}`);

/** Body lines every report shares: registers, stack markers, code, taint, arch-specific dumps. */
const COMMON_BODY = [
  '\\s',
  'Call Trace',
  'Call trace',
  'Backtrace',
  'Stack:',
  'Code:',
  'Modules linked in',
  'CPU: \\d',
  'Hardware name',
  'Workqueue:',
  'task: ',
  'task:',
  'Pid: \\d',
  'Process \\S',
  'RIP',
  'EIP',
  'IP:',
  'NIP',
  'RSP',
  'ESP',
  'R[A-Z0-9]{1,2}: ',
  'E[A-Z]{2}: ',
  'FS: ',
  'CS: ',
  'DS: ',
  'CR[0-4]',
  'DR[0-7]',
  'pc : ',
  'lr : ',
  'sp : ',
  'x\\d+ ?: ',
  'PC is at',
  'LR is at',
  'pstate',
  'Exception stack',
  'Kernel Offset',
  'Rebooting in',
  'Shutting down cpus',
  '---\\[',
  '<(?:IRQ|EOI|NMI|TASK)>',
  '<\\/(?:IRQ|TASK|NMI)>',
  '<<EOE>>',
  'Sending NMI',
  'NMI backtrace',
  'Tainted',
  'Not tainted',
  'Oops',
  'invalid opcode',
  '#PF',
  'PGD',
  'PUD',
  'PMD',
  'PTE',
  '\\*pdpt',
  '\\*pde',
  'Instruction dump',
  'Disabling lock debugging',
  '"echo 0',
  'caller is',
  'preempt_count',
  'r\\d+ ?: ',
  '[a-z]{2}: [0-9a-f]{8}',
  'Internal error',
  'Unable to handle',
  'pgd = ',
  '\\[[0-9a-f]{8}\\] \\*pgd',
  'Last Breaking',
  'Krnl',
  'Kernel panic',
  'Dumping ftrace',
  '\\t',
];
/** Body lines: never frames, always part of an open report (the union serves every type: reports interleave). */
export const BODY_RE = new RegExp(`^(?:${[...COMMON_BODY, ...REPORT_TYPES.flatMap((t) => t.body ?? [])].join('|')})`);
/** Message lines some reports print after their header (≤4.x WARN messages, might_sleep details). */
export const MESSAGE_RE = new RegExp(`^(?:${[...new Set([...PREFACE_SOURCES, ...REPORT_TYPES.flatMap((t) => t.messages ?? [])])].join('|')})`);
/** A line, as it came, that may hold a WARN/BUG message or the cut-here rule before its header (the prefilter keeps it). */
export const PREFACE_ANYWHERE_RE = new RegExp([...PREFACE_SOURCES, '-{4,}\\[ cut here \\]-{4,}'].join('|'));

/** Headers syzkaller finds anywhere in a line: those whose first word starts the header (an OOM or segfault header starts with a comm). */
export const ANYWHERE_HEADER_RE = new RegExp(`(?<=\\s)(?:${[...new Set(REPORT_TYPES.flatMap((t) => t.anywhere ?? []))].join('|')})`);
