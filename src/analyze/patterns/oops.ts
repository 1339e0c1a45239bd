/**
 * Oopses: the kernel faulted or hit a BUG (x86 and ARM page faults, general protection faults,
 * `kernel BUG at`, sanitizers, other `BUG:` lines, traps). Titles after syzkaller's pkg/report.
 */
import type { Frame, Incident } from '../model.js';
import { firstMeaningful, isGenericFrame, normalizeSyscall } from '../frames.js';
import { bugRefinement } from './refinements.js';
import { sanitizeTitle, symbol, trapText } from './text.js';
import type { OpenReport, ReportType, SanitizerHeader, TitleContext } from './types.js';

const NULL_RE = /^BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL pointer dereference|Kernel NULL pointer dereference)(?: at | address: |, address: )?([0-9a-fx]*)/;
const PAGING_RE = /^BUG: (?:unable to handle kernel paging request|unable to handle page fault for address|unable to handle kernel) ?(?:at |: )?([0-9a-fx]*)/;
const GPF_RE = /^general protection fault(?:, probably for non-canonical address (0x[0-9a-f]+))?(?:: | )?/;
const KBUG_RE = /^kernel BUG at (\S+?):?(\d+)?!/;
const ARM_UNABLE_RE = /^Unable to handle kernel (NULL pointer dereference|paging request) at virtual address ([0-9a-f]+)/;
const BUG_RE = /^BUG: (.+)$/;
export const TRAP_RE = /^(divide error|invalid opcode|stack segment|PANIC: double fault|double fault|Oops|Internal error): /;
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
/** KASAN's access line: `Read of size 8 at addr ffff… by task comm/pid` (≤4.x without `at addr`). */
const KASAN_ACCESS_RE = /^(Read|Write) (?:of size (\d+)|at addr)/;
/** Lines that start a stack which is not the report's own (allocation/free stacks of sanitizers). */
const OTHER_STACK_RE =
  /^(?:Allocated by task|Freed by task|Last potentially related work creation|Second to last potentially related|The buggy address|Memory state around|Uninit was (?:created|stored)|Local variable .* created at|kfence-#\d+|(?:allocated|freed) by task \d+ on cpu)/;
// `BUG: sleeping function called from invalid context at mm/slab.c:2960` → `… in_atomic(): 1, irqs_disabled(): 0, pid: 1234, name: foo`.
const MIGHT_SLEEP_TASK_RE = /in_atomic\(\): \d+, irqs_disabled\(\): \d+, (?:non_block: \d+, )?pid: (\d+), name: (.+?)\s*$/;
// syzkaller's extra skip for KASAN's free paths.
const FREE_SKIP = /slab_|kfree|vunmap|vfree|kmem_cache_free|free_pages|__free/;

/** A trap line inside an oops, WARNING or panic report belongs to it (`invalid opcode: 0000 [#1] SMP`). */
export function trapContinues(text: string): boolean {
  return TRAP_RE.test(text) && !/^PANIC/.test(text);
}

/** Lines of an oops (not a sanitizer's): traps, and a sanitizer line inside it (`… KASAN` GPF). */
function oopsContinues(text: string, r: OpenReport): boolean {
  if (trapContinues(text)) return true;
  // A second sanitizer report does not continue a sanitizer report (r.san: see SANITIZER).
  return /^(?:BUG: KASAN|BUG: KMSAN|BUG: KFENCE)/.test(text) && !r.san;
}

/** Oopses are titled at the faulting instruction, else the first meaningful frame; `kernel BUG at` a checker's file is that checker's report. */
function oopsTitle(r: OpenReport, t: TitleContext): void {
  const inc = r.inc;
  inc.guiltyFrame = t.ripFunc ?? t.first;
  const refined = inc.subkind === 'kernel_bug' ? bugRefinement(String(inc.facts['sourceLocation'] ?? '')) : undefined;
  if (refined) {
    inc.subkind = refined.subkind;
    inc.guiltyFrame = firstMeaningful(t.frames, refined.bug!.skip) ?? inc.guiltyFrame;
    inc.title = refined.bug!.title;
  }
  if (inc.guiltyFrame) inc.title = `${inc.title} in ${inc.guiltyFrame}`;
}

const OOPS = { kind: 'oops', docRow: '`oops`', continues: oopsContinues, title: oopsTitle, needsTrace: true } as const;

export const NULL_DEREF: ReportType = {
  ...OOPS,
  name: 'oops.null_deref',
  anywhere: ['BUG: '],
  example: 'BUG: kernel NULL pointer dereference, address: 0000000000000008',
  triggers: ['BUG'],
  header(text, ctx) {
    const m = NULL_RE.exec(text);
    if (!m) return undefined;
    const inc = ctx.incident('BUG: unable to handle kernel NULL pointer dereference');
    inc.subkind = 'null_pointer_dereference';
    if (m[1]) inc.facts['faultAddress'] = m[1];
    return { inc };
  },
};

export const PAGING: ReportType = {
  ...OOPS,
  name: 'oops.paging_request',
  example: 'BUG: unable to handle page fault for address: ffffc90000a4f000',
  triggers: ['BUG'],
  header(text, ctx) {
    const m = PAGING_RE.exec(text);
    if (!m) return undefined;
    const inc = ctx.incident('BUG: unable to handle kernel paging request');
    inc.subkind = 'paging_request';
    if (m[1]) inc.facts['faultAddress'] = m[1];
    return { inc };
  },
};

export const ARM_UNABLE: ReportType = {
  ...OOPS,
  name: 'oops.arm_unable_to_handle',
  anywhere: ['Unable to handle kernel '],
  example: 'Unable to handle kernel NULL pointer dereference at virtual address 00000008',
  triggers: ['Unable to handle'],
  header(text, ctx) {
    const m = ARM_UNABLE_RE.exec(text);
    if (!m) return undefined;
    const isNull = m[1] === 'NULL pointer dereference';
    const inc = ctx.incident(isNull ? 'BUG: unable to handle kernel NULL pointer dereference' : 'BUG: unable to handle kernel paging request');
    inc.subkind = isNull ? 'null_pointer_dereference' : 'paging_request';
    inc.facts['faultAddress'] = m[2]!;
    return { inc };
  },
};

export const GPF: ReportType = {
  ...OOPS,
  name: 'oops.general_protection_fault',
  anywhere: ['general protection fault', 'Oops: '],
  example: 'general protection fault, probably for non-canonical address 0xdffffc0000000001: 0000 [#1] PREEMPT SMP KASAN',
  // 6.10+ (arch/x86/kernel/dumpstack.c) prefixes the trap's own line with `Oops: `: titled as the 4.x form.
  triggers: ['general protection', 'Oops'],
  header(text, ctx) {
    const trap = trapText(text);
    if (!(GPF_RE.test(trap) && trap.startsWith('general protection fault'))) return undefined;
    const inc = ctx.incident('general protection fault');
    inc.subkind = 'general_protection_fault';
    return { inc };
  },
};

export const KERNEL_BUG: ReportType = {
  ...OOPS,
  name: 'oops.kernel_bug',
  anywhere: ['kernel BUG at '],
  example: 'kernel BUG at fs/ext4/inode.c:2712!',
  triggers: ['BUG'],
  header(text, ctx) {
    const m = KBUG_RE.exec(text);
    if (!m) return undefined;
    const inc = ctx.incident('kernel BUG');
    inc.subkind = 'kernel_bug';
    inc.facts['sourceLocation'] = m[2] ? `${m[1]}:${m[2]}` : m[1]!;
    return { inc };
  },
};

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
    inc.guiltyFrame = usable(san.func) ? normalizeSyscall(san.func!) : (firstMeaningful(frames, skip) ?? san.func);
  }
  let what: string;
  if (san.tool === 'KASAN') what = san.type === 'invalid-free' ? 'invalid-free' : `${san.type}${san.access ? ` ${san.access}` : ''}`;
  else if (san.tool === 'KFENCE') what = `${san.type}${san.access ? ` ${san.access}` : ''}`;
  else what = san.type;
  inc.title = `${san.tool}: ${what}${inc.guiltyFrame ? ` in ${inc.guiltyFrame}` : ''}`;
}

export const SANITIZER: ReportType = {
  ...OOPS,
  name: 'oops.sanitizer',
  docRow: '`oops` (sanitizers)',
  example: 'BUG: KASAN: slab-use-after-free in ext4_xattr_set_entry+0x1c4/0xe40',
  triggers: ['BUG'],
  body: ['KASAN', 'Read of size', 'Write of size', 'The buggy', 'Allocated by', 'Freed by', 'Memory state', 'page:', 'raw: ', 'page dumped'],
  header(text, ctx) {
    const m = BUG_RE.exec(text);
    if (!m || /^BUG: soft lockup/.test(text)) return undefined;
    const san = sanitizerHeader(m[1]!);
    if (!san) return undefined;
    // syzkaller titles sanitizer reports without `BUG: ` (`KASAN: use-after-free Read in F`); the title rule composes it.
    const inc = ctx.incident(`${san.tool}: ${san.type}`);
    inc.subkind = san.tool.toLowerCase();
    inc.facts['bugType'] = san.type;
    if (san.access) inc.facts['access'] = san.access;
    return { inc, state: { san } };
  },
  isBody: (_r, text) => OTHER_STACK_RE.test(text) || KASAN_ACCESS_RE.test(text) || /^(?:Use-after-free|Out-of-bounds|Invalid) (?:read|write|free)/.test(text),
  // Sanitizer reports end with a rule of `=` signs.
  end: /^={20,}\s*$/,
  detail(r, text) {
    const inc = r.inc;
    let m: RegExpExecArray | null;
    if (r.san!.tool === 'KASAN' && r.san!.access === undefined && (m = KASAN_ACCESS_RE.exec(text))) {
      r.san!.access = m[1]!;
      inc.facts['access'] = m[1]!;
      if (m[2]) inc.facts['accessSize'] = Number(m[2]);
      const by = / by task (.+)\/(\d+)\s*$/.exec(text);
      if (by && !inc.tasks.some((t) => t.role === 'current')) inc.tasks.push({ role: 'current', comm: by[1]!, pid: Number(by[2]) });
      return true;
    }
    if (OTHER_STACK_RE.test(text)) {
      r.otherStacks = true;
      return true;
    }
    if ((m = /which belongs to the cache (\S+) of size (\d+)/.exec(text))) {
      inc.facts['slabCache'] = m[1]!;
      return true;
    }
    return false;
  },
  title: (r, t) => sanitizerTitle(r.inc, r.san!, t.frames),
};

export const BUG: ReportType = {
  ...OOPS,
  name: 'oops.bug',
  docRow: '`oops` (atomic)',
  example: 'BUG: scheduling while atomic: swapper/0/0/0x00010000',
  triggers: ['BUG'],
  messages: ['in_atomic\\(\\)', 'Preemption disabled at'],
  header(text, ctx) {
    const m = BUG_RE.exec(text);
    if (!m || /^BUG: soft lockup/.test(text)) return undefined;
    const what = m[1]!;
    // Sanitizer headers went to SANITIZER before; cut the rest at its first colon or " in process".
    const short = what
      .replace(/ \[.*$/, '')
      .replace(/ in process .*$/, '')
      .replace(/ at \S+:\d+\s*$/, '')
      .replace(/:.*$/, '');
    const inc = ctx.incident(`BUG: ${sanitizeTitle(short)}`);
    inc.subkind = 'bug';
    const t = /^scheduling while atomic: (.+)\/(\d+)\/0x[0-9a-f]+/.exec(what);
    if (t) {
      inc.subkind = 'scheduling_while_atomic';
      inc.tasks.push({ role: 'current', comm: t[1]!, pid: Number(t[2]) });
    } else if (/^sleeping function called from invalid context/.test(what)) {
      inc.subkind = 'sleeping_in_atomic';
      const at = / at (\S+:\d+)\s*$/.exec(what);
      if (at) inc.facts['sourceLocation'] = at[1]!;
    }
    return { inc };
  },
  detail(r, text) {
    const inc = r.inc;
    const m = inc.subkind === 'sleeping_in_atomic' ? MIGHT_SLEEP_TASK_RE.exec(text) : null;
    if (!m) return false;
    if (!inc.tasks.some((t) => t.role === 'current')) inc.tasks.push({ role: 'current', comm: m[2]!, pid: Number(m[1]) });
    return true;
  },
};

export const TRAP: ReportType = {
  ...OOPS,
  name: 'oops.trap',
  anywhere: ['Oops: ', 'Internal error: ', 'divide error: ', 'invalid opcode: '],
  example: 'invalid opcode: 0000 [#1] SMP NOPTI',
  triggers: ['Oops', 'Internal error', 'invalid opcode', 'divide error', 'double fault', 'stack segment'],
  header(text, ctx) {
    const m = TRAP_RE.exec(trapText(text));
    if (!m) return undefined;
    const what = m[1] === 'PANIC: double fault' ? 'double fault' : m[1]!;
    const inc = ctx.incident(what);
    inc.subkind = what.replace(/ /g, '_').toLowerCase();
    return { inc };
  },
};
