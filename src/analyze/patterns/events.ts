/** One-line reports: storage and filesystem errors, user-space faults, shrinker bugs. */
import { cleanName } from './text.js';
import type { ReportType } from './types.js';

const SHRINK_RE = /shrink_slab: ([\w.]+)(?:\+0x[0-9a-f]+\/0x[0-9a-f]+)?(?: \[\w+\])? negative objects to delete nr=(-?\d+)/;
const IO_ERROR_RE = /(?:^|: )(?:(critical )?(\w[\w ]*?) error, dev (\w[\w-]*), sector (\d+)|I\/O error, dev (\w[\w-]*), sector (\d+)|Buffer I\/O error on dev(?:ice)? (\w[\w-]*?),)/;
const FS_ERROR_RE =
  /^(EXT[234]-fs|XFS|BTRFS)(?: (error|critical|warning))? \(device (\w[\w-]*?)\)(?:: ([\w]+)(?::\d+)?)?|^(EXT[234]-fs|XFS|BTRFS) \((\w[\w-]*?)\): (.*(?:Remounting filesystem read-only|Shutting down filesystem|Corruption|metadata I\/O error|error).*)$/;
// ≤4.x printed ip/sp with %p: a NULL ip is `ip           (null)` (padded to the pointer width).
const SEGFAULT_RE = /^(.+?)\[(\d+)\]: segfault at ([0-9a-f]+) ip (?:([0-9a-f]+)| *\(null\)) sp (?:[0-9a-f]+| *\(null\)) error (\d+)(?: in ([^\s[]+))?/;
const TRAPS_RE = /^traps: (.+?)\[(\d+)\] (general protection fault|trap [\w ]+?|\w+ error)(?: ip| in|:)/;

const ONE_LINE = { single: () => true } as const;

export const SHRINK_SLAB: ReportType = {
  ...ONE_LINE,
  name: 'shrink_slab',
  kind: 'shrink_slab',
  docRow: '`shrink_slab`',
  example: 'shrink_slab: super_cache_scan+0x0/0x1a0 negative objects to delete nr=-2147483648',
  triggers: ['shrink_slab'],
  header(text, ctx) {
    const m = SHRINK_RE.exec(text);
    if (!m) return undefined;
    const inc = ctx.incident(`shrink_slab: negative objects to delete in ${cleanName(m[1]!)}`);
    inc.facts['shrinker'] = m[1]!;
    inc.facts['nr'] = Number(m[2]);
    return { inc };
  },
};

export const IO_ERROR: ReportType = {
  ...ONE_LINE,
  name: 'io_error',
  kind: 'io_error',
  docRow: '`io_error`',
  example: 'blk_update_request: I/O error, dev sdb, sector 123456 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0',
  triggers: ['I/O error', ', dev '],
  header(text, ctx) {
    const m = IO_ERROR_RE.exec(text);
    if (!m) return undefined;
    const dev = m[3] ?? m[5] ?? m[7] ?? '?';
    const what = m[2] ? `${m[1] ?? ''}${m[2]} error` : m[7] ? 'Buffer I/O error' : 'I/O error';
    const inc = ctx.incident(`${what} on ${dev}`);
    inc.facts['device'] = dev;
    const sector = m[4] ?? m[6];
    if (sector) inc.facts['sector'] = Number(sector);
    return { inc };
  },
};

export const FS_ERROR: ReportType = {
  ...ONE_LINE,
  name: 'fs_error',
  kind: 'fs_error',
  docRow: '`fs_error`',
  example: 'EXT4-fs error (device sda1): ext4_find_entry:1463: inode #2: comm ls: reading directory lblock 0',
  triggers: ['EXT[234]-fs', 'XFS', 'BTRFS', 'Remounting filesystem'],
  header(text, ctx) {
    const m = FS_ERROR_RE.exec(text);
    if (!m) return undefined;
    if (m[1]) {
      const inc = ctx.incident(`${m[1]} ${m[2] ?? 'error'} on ${m[3]}${m[4] ? ` in ${m[4]}` : ''}`);
      inc.facts['device'] = m[3]!;
      inc.facts['filesystem'] = m[1];
      return { inc };
    }
    const what = /read-only/.test(m[7]!) ? 'remounted read-only' : /Shutting down/.test(m[7]!) ? 'shut down' : /Corruption/.test(m[7]!) ? 'corruption' : 'error';
    const inc = ctx.incident(`${m[5]} ${what} on ${m[6]}`);
    inc.facts['device'] = m[6]!;
    inc.facts['filesystem'] = m[5]!;
    return { inc };
  },
};

export const SEGFAULT: ReportType = {
  ...ONE_LINE,
  name: 'segfault',
  kind: 'segfault',
  docRow: '`segfault`',
  example: 'nginx[2211]: segfault at 0 ip 00007f3a2b1c4d5e sp 00007ffd1e2f3a40 error 4 in libc.so.6[7f3a2b000000+1c5000]',
  triggers: ['segfault at'],
  header(text, ctx) {
    const m = SEGFAULT_RE.exec(text);
    if (!m) return undefined;
    const obj = m[6] ? m[6].replace(/\[.*$/, '') : undefined;
    const inc = ctx.incident(`segfault: ${m[1]}${obj ? ` in ${obj}` : ''}`);
    inc.tasks.push({ role: 'faulting', comm: m[1]!, pid: Number(m[2]) });
    inc.facts['address'] = m[3]!;
    // `(null)`: the kernel printed a NULL instruction pointer.
    inc.facts['ip'] = m[4] ?? '0';
    inc.facts['error'] = Number(m[5]);
    if (obj) inc.facts['object'] = obj;
    return { inc };
  },
};

export const TRAPS: ReportType = {
  ...ONE_LINE,
  name: 'segfault.trap',
  kind: 'segfault',
  docRow: '`segfault`',
  example: 'traps: node[3301] general protection fault ip:55d1c2a3b4c5 sp:7ffc9a8b7c60 error:0 in node[55d1c2000000+2a00000]',
  triggers: ['traps: '],
  header(text, ctx) {
    const m = TRAPS_RE.exec(text);
    if (!m) return undefined;
    const inc = ctx.incident(`${m[3]!.replace(/ \d+$/, '')}: ${m[1]}`);
    inc.subkind = 'trap';
    inc.tasks.push({ role: 'faulting', comm: m[1]!, pid: Number(m[2]) });
    return { inc };
  },
};
