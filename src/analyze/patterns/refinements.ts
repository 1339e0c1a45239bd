/**
 * Report types a WARNING or a `kernel BUG at` turns out to be, from where it fired (syzkaller's
 * special titles): list corruption, ODEBUG, usercopy, refcount. Each also names the message the
 * kernel prints with it (before the header in 5.x+, after it in ≤4.x), kept as facts. Order is
 * priority: the first that matches a report's source location or WARN function wins.
 */
import type { Incident } from '../model.js';
import { cleanName } from './text.js';

export interface Refinement {
  subkind: string;
  /** The message lines it prints (regex sources, at line start): a preface before the header, or a line after it. */
  preface: readonly string[];
  /** The source file of the WARNING / kernel BUG (`facts.sourceLocation`). */
  at: RegExp;
  /** The function a WARNING header names. */
  warnFunc?: RegExp;
  /** Title of a WARNING at `at`; `skip` given: the guilty frame is the first meaningful one beyond it. */
  warning?: { title: string; skip?: RegExp };
  /** Title of a `kernel BUG at` `at`; the guilty frame is the first meaningful one (beyond `skip`). */
  bug?: { title: string; skip?: RegExp };
  /** Keeps the message as facts; false when the line is not this type's message. */
  message?(text: string, facts: Incident['facts']): boolean;
}

// syzkaller's extra skips (linux.go): ODEBUG's users, the usercopy checks.
const ODEBUG_SKIP = /debug_|rcu|hrtimer_|timer_|work_|percpu_|vunmap|vfree|__free_|kobject_/;
export const USERCOPY_SKIP = /usercopy|__check|check_object|check_heap_object|check_copy_size|copy_to_iter|copy_from_iter/;
/** Reports raised by the list debugging checks (lib/list_debug.c): syzkaller titles them `BUG: corrupted list in F`. */
const LIST_DEBUG_RE = /(?:^|\/)list_debug\.c|^__list_(?:add|del)|^__list_del_entry|^list_del/;
// CONFIG_DEBUG_OBJECTS (lib/debugobjects.c debug_print_object):
// `ODEBUG: free active (active state 0) [object: ADDR ]object type: timer_list hint: F+0x0/0x…`, as a WARN.
const ODEBUG_RE = /^ODEBUG: (\w+) (\w+) \(active state (\d+)\) (?:object: \S+ )?object type: (\S+) hint: +(\S+)/;
// CONFIG_HARDENED_USERCOPY (mm/usercopy.c): `usercopy: Kernel memory exposure attempt detected from SLUB
// object 'kmalloc-64' (offset 12, size 100)!` (4.16+, BUG); `Bad or missing usercopy whitelist? …` (WARN);
// 4.8–4.15: `usercopy: kernel memory exposure attempt detected from ffff… (kmalloc-64) (100 bytes)`.
const USERCOPY_RE = /^(?:usercopy: |Bad or missing usercopy whitelist\? )([Kk]ernel memory (?:exposure|overwrite) attempt detected .*?)\s*$/;

export const REFINEMENTS: readonly Refinement[] = [
  {
    subkind: 'list_corruption',
    preface: ['list_(?:add|del) corruption'],
    at: LIST_DEBUG_RE,
    warnFunc: LIST_DEBUG_RE,
    warning: { title: 'BUG: corrupted list' },
    // CONFIG_BUG_ON_DATA_CORRUPTION: `kernel BUG at lib/list_debug.c:N!` (RIP in __list_add_valid).
    bug: { title: 'BUG: corrupted list' },
    message(text, facts) {
      if (!/^list_(?:add|del) corruption/.test(text)) return false;
      facts['listCorruption'] = text.slice(0, 200);
      return true;
    },
  },
  {
    // ODEBUG: syzkaller titles the WARNING at lib/debugobjects.c `WARNING: ODEBUG bug in F`, F from
    // the stack without ODEBUG's users (timers, work, RCU, frees); the message's hint is kept apart.
    subkind: 'odebug',
    preface: ['ODEBUG: '],
    at: /(?:^|\/)debugobjects\.c/,
    warnFunc: /^debug_print_object/,
    warning: { title: 'WARNING: ODEBUG bug', skip: ODEBUG_SKIP },
    message(text, facts) {
      const m = ODEBUG_RE.exec(text);
      if (!m) return false;
      facts['odebug'] = `${m[1]} ${m[2]}`;
      facts['odebugObjectType'] = m[4]!;
      facts['odebugHint'] = cleanName(m[5]!.replace(/\+0x.*$/, ''));
      return true;
    },
  },
  {
    // CONFIG_HARDENED_USERCOPY: `kernel BUG at mm/usercopy.c:N!` after `usercopy: Kernel memory exposure
    // attempt detected …`; syzkaller: `BUG: bad usercopy in F`, skipping the usercopy checks.
    subkind: 'usercopy',
    preface: ['usercopy: ', 'Bad or missing usercopy'],
    at: /(?:^|\/)usercopy\.c/,
    warnFunc: /^usercopy_warn/,
    warning: { title: 'WARNING: bad usercopy', skip: USERCOPY_SKIP },
    bug: { title: 'BUG: bad usercopy', skip: USERCOPY_SKIP },
    message(text, facts) {
      const m = USERCOPY_RE.exec(text);
      if (!m) return false;
      facts['usercopy'] = m[1]!.slice(0, 200);
      return true;
    },
  },
  {
    // `refcount_t: underflow; use-after-free.` + WARNING in refcount_warn_saturate (syzkaller: `WARNING: refcount bug in F`).
    subkind: 'refcount',
    preface: ['refcount_t: '],
    at: /(?:^|\/)refcount\.c/,
    warnFunc: /^refcount_/,
    warning: { title: 'WARNING: refcount bug' },
    message(text, facts) {
      const m = /^refcount_t: (.+?)\.?\s*$/.exec(text);
      if (!m) return false;
      facts['refcount'] = m[1]!;
      return true;
    },
  },
];

/** A WARN/BUG message line (printed before the header in 5.x+, right after it in ≤4.x). */
export const PREFACE_SOURCES: readonly string[] = REFINEMENTS.flatMap((x) => x.preface);
export const PREFACE_RE = new RegExp(`^(?:${PREFACE_SOURCES.join('|')})`);

/** Keeps a WARN/BUG message as facts (`facts.refcount`, `facts.odebug…`, `facts.usercopy`, `facts.listCorruption`). */
export function warnMessage(inc: Incident, text: string): void {
  // The message order mirrors the kernel's; the first type that reads the line keeps it.
  for (const x of MESSAGE_ORDER) if (x.message?.(text, inc.facts)) return;
}
// Read in this order (the patterns are disjoint; the order is kept from when they were one chain).
const MESSAGE_ORDER = ['refcount', 'odebug', 'usercopy', 'list_corruption'].map((s) => REFINEMENTS.find((x) => x.subkind === s)!);

const LIST_CORRUPTION_RE = /^(list_(?:add|del)) corruption[.,]/;

/** A message line after a header (≤4.x): kept as facts; true when the line was one (it holds no frame). */
export function messageAfterHeader(inc: Incident, text: string): boolean {
  if (!(LIST_CORRUPTION_RE.test(text.trim()) || ((inc.kind === 'warning' || inc.kind === 'oops') && PREFACE_RE.test(text)))) return false;
  // A refcount message after an oops header belongs to no refcount WARNING.
  if (!/^refcount_t: /.test(text) || inc.kind === 'warning') warnMessage(inc, text.trim());
  return true;
}

/** The refinement a WARNING at `src` in `warnFunc` is, if any. */
export function warningRefinement(src: string, warnFunc: string | undefined): Refinement | undefined {
  return REFINEMENTS.find((x) => x.warning && (x.at.test(src) || (warnFunc !== undefined && x.warnFunc?.test(warnFunc))));
}

/** The refinement a `kernel BUG at src` is, if any. */
export function bugRefinement(src: string): Refinement | undefined {
  return REFINEMENTS.find((x) => x.bug && x.at.test(src));
}
