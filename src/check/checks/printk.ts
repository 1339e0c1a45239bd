/** Boot messages and printk: quiet/rhgb, log buffer size, timestamps. */
import { type CheckDef, MiB } from './common.js';
import type { Evidence, Remedy } from '../model.js';
import { cmdlineValue } from '../../host/formats/cmdline.js';
import { dmesgLogBufBytes, formatBytes } from '../parse.js';
import { parseSize } from '../parse.js';
import { cmdlineRemove, cmdlineSet } from '../remedies.js';

export const bootQuiet: CheckDef = {
  id: 'boot.quiet',
  title: 'boot messages not silenced (quiet, rhgb)',
  why: '"quiet" lowers the console log level so hung-task reports, SysRq output and oopses never reach the serial or VGA console; "rhgb" hides boot messages behind a splash screen.',
  run(r, f) {
    const { c, d } = f.cmdline();
    if (!c) return r.unknown((d as { reason: string }).reason, [f.src.evidence('/proc/cmdline', d)]);
    const found = ['quiet', 'rhgb'].filter((t) => c.params.has(t));
    const ev: Evidence[] = [f.src.evidence('kernel command line', d, c.tokens.join(' '))];
    const lvl = f.src.sysctl('kernel.printk');
    if (lvl.ok) ev.push(f.src.evidence('kernel.printk (console loglevel first)', lvl, lvl.text.trim().replace(/\s+/g, ' ')));
    const next = f.nextBoot();
    const nextFound = next ? ['quiet', 'rhgb'].filter((t) => next.c.params.has(t)) : null;
    if (next) ev.push(next.ev);
    if (!found.length) {
      if (nextFound?.length)
        return r.warn(`not on the running command line, but ${nextFound.join(' and ')} come back at the next boot (boot loader configuration)`, ev, {
          kind: 'cmdline',
          text: `Remove ${nextFound.join(' and ')} from the boot loader configuration.`,
          commands: cmdlineRemove(f.distro(), nextFound),
          safe: true,
        });
      if (!next) return r.info("neither quiet nor rhgb on the running command line; the next boot's configuration was not found (BLS entries, grub.conf, /etc/default/grub)", ev);
      return r.ok('neither quiet nor rhgb on the command line', ev);
    }
    if (nextFound && nextFound.length === 0) return r.info(`${found.join(' and ')} on the running command line, already removed for the next boot (reboot pending)`, ev);
    return r.warn(`${found.join(' and ')} on the kernel command line`, ev, {
      kind: 'cmdline',
      text: `Remove ${found.join(' and ')} from the kernel command line of every kernel (effective at next boot); 'dmesg -n 8' raises the console level now.`,
      commands: [...cmdlineRemove(f.distro(), found), 'dmesg -n 8'],
      safe: true,
    });
  },
};

/** Bytes a SysRq-T dump needs per thread: one header line plus a ~15-frame stack (Lantern's estimate). */
export const SYSRQ_T_BYTES_PER_THREAD = 1536;

/**
 * The buffer must hold the dump of this many times the threads counted: the count is a moment
 * (threads come and go, and a hang piles up blocked workers), and the remedy sizes for the same
 * margin, so a host that applied it passes until its thread count doubles.
 */
export const LOGBUF_THREAD_MARGIN = 2;

export const printkLogbuf: CheckDef = {
  id: 'printk.logbuf',
  title: 'kernel log buffer holds a SysRq-T dump',
  commands: ['dmesg', 'procConfigGz'],
  processTable: 'threads',
  why: "SysRq-T prints every thread's stack into the kernel ring buffer; when the buffer is smaller than the dump, its beginning is overwritten before syslog or a console can save it.",
  run(r, f) {
    const ev: Evidence[] = [];
    let bytes: number | null = null;
    let how = '';
    const { c, d: cd } = f.cmdline();
    const lbl = c ? cmdlineValue(c, 'log_buf_len') : undefined;
    if (lbl !== undefined) {
      const b = parseSize(lbl);
      if (b !== null) {
        bytes = b;
        how = 'log_buf_len= on the command line';
        ev.push(f.src.evidence('log_buf_len=', cd, lbl));
      }
    }
    const dm = f.src.get('dmesg');
    if (dm.ok) {
      const m = dmesgLogBufBytes(dm.text);
      if (m) {
        bytes = Math.max(bytes ?? 0, m.bytes);
        how = 'boot message';
        ev.push(f.src.evidence('boot message', dm, m.line));
      }
    } else if (bytes === null) ev.push(f.src.evidence('boot messages', dm));
    if (bytes === null) {
      const { config, ev: cev } = f.kernelConfig();
      const shift = Number(config?.get('CONFIG_LOG_BUF_SHIFT'));
      if (config && Number.isInteger(shift) && shift > 0) {
        bytes = 2 ** shift;
        how = `CONFIG_LOG_BUF_SHIFT=${shift}`;
        ev.push({ ...cev!, value: `CONFIG_LOG_BUF_SHIFT=${shift}` });
      } else if (cev) ev.push(cev);
    }
    const count = f.threadCount();
    ev.push(...count.evidence);
    const threads = count.threads;
    const dist = f.distro();
    if (bytes === null || threads === null) {
      return r.unknown(bytes === null ? 'log buffer size unknown: no log_buf_len=, boot message or kernel config' : 'thread count unknown: no /proc/loadavg, /proc/<pid>/status or ps -elfL', ev);
    }
    const perDump = threads * SYSRQ_T_BYTES_PER_THREAD;
    const needed = perDump * LOGBUF_THREAD_MARGIN;
    const how2 = count.sources.length > 1 ? `the most of ${count.sources.map((x) => `${x.how} ${x.threads}`).join(', ')}` : count.sources[0]!.how;
    const estimate = `${threads} threads (${how2}) × ${SYSRQ_T_BYTES_PER_THREAD} B ≈ ${formatBytes(perDump)} per SysRq-T dump, ${formatBytes(needed)} with room for ${LOGBUF_THREAD_MARGIN}× the threads; buffer ${formatBytes(bytes)} (${how})`;
    if (bytes >= needed) return r.ok(estimate, ev);
    let want = 2 ** 20;
    while (want < needed) want *= 2;
    return r.warn(bytes >= perDump ? `${estimate}: today's dump fits, with no room for more threads` : estimate, ev, {
      kind: 'cmdline',
      text: `Boot with log_buf_len=${want / MiB}M (a power of two with room for ${LOGBUF_THREAD_MARGIN}× today's threads).`,
      commands: cmdlineSet(dist, 'log_buf_len', `${want / MiB}M`),
      safe: true,
    });
  },
};

export const printkTime: CheckDef = {
  id: 'printk.time',
  title: 'printk timestamps on',
  why: 'Without timestamps kernel messages cannot be ordered against application logs or each other across a hang (RHEL 6 shipped with them off).',
  run(r, f) {
    const d = f.src.get('printkTime');
    const ev = [f.src.evidence('printk.time', d)];
    const dist = f.distro();
    const remedy: Remedy = {
      kind: 'cmdline',
      text: 'Turn timestamps on now and at every boot (printk.time=1).',
      commands: ['echo Y > /sys/module/printk/parameters/time', ...cmdlineSet(dist, 'printk.time', '1')],
      safe: true,
    };
    if (!d.ok) return r.unknown(d.reason, ev, remedy);
    const v = d.text.trim();
    if (/^(N|0|disabled?)$/i.test(v)) return r.warn(`printk timestamps are off (${v})`, ev, remedy);
    return r.ok(`printk timestamps are on (${v})`, ev);
  },
};
