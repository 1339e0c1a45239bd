/** Text and JSON renderings of stored records. Pure. */
import { historyStep, logTime, shortDomain } from './process/domains.js';
import { signalName, siCodeName } from './process/signals.js';
import type { StoredEvent } from './store/store.js';
import { ioFields, statFields } from './latency/core.js';

/** Starts the detail of a `lost` record for records the store could not take (their count is in `lost`). */
export const STORE_LOSS_PREFIX = 'store: ';

function isStoreLoss(e: StoredEvent): boolean {
  return e.cpu === null && (e.detail?.startsWith(STORE_LOSS_PREFIX) ?? false);
}

export function isoTime(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString();
}

/** Who sent a fatal signal, in words: `kill(4242) /usr/bin/kill`, or `the kernel (SI_KERNEL, in oom(12))`. */
export function senderText(e: StoredEvent): string {
  if (e.sender_kind === null || e.sender_kind === 'unknown' || e.sender_pid === null) return 'an unknown sender';
  const who = `${e.sender_comm ?? '?'}(${e.sender_pid})`;
  if (e.detail === 'oom-killer') return `the kernel's OOM killer (in the context of ${who})`;
  if (e.sender_pid === e.pid && e.sender_kind === 'process') return `itself, ${who}${e.sender_program ? ' ' + e.sender_program : ''}`;
  if (e.sender_kind === 'kernel') {
    return `the kernel (${siCodeName(e.sig_code ?? 0x80, e.signal ?? 0)}, in the context of ${who})`;
  }
  return `${who}${e.sender_program ? ' ' + e.sender_program : ''}`;
}

/**
 * One line per record, in the style of the classic SystemTap recorder:
 * `[2014/05/04 01:07:03] starting /bin/login by uid=0 from init(1) /bin/sh /sbin/mingetty; pid=1234 domain <kernel> …`
 * — the parent's comm(pid), then the programs this process exec'd before since its fork,
 * then its pid and new domain. `priorImages` comes from the model (live) or the store (queries).
 */
export function renderLine(e: StoredEvent, domainName: (id: number) => string, priorImages: string[] = []): string {
  const t = `[${logTime(e.time_us)}]`;
  const domain = e.domain_id !== null ? shortDomain(domainName(e.domain_id)) : '?';
  switch (e.type) {
    case 'exec': {
      const from = e.parent_comm !== null ? `${e.parent_comm}(${e.ppid})` : `pid ${e.ppid}`;
      const uid = e.uid === null ? '?' : String(e.uid);
      const prior = priorImages.length ? ' ' + priorImages.join(' ') : '';
      return `${t} ${e.reconstructed ? 'running (reconstructed)' : 'starting'} ${e.program ?? '?'} by uid=${uid} from ${from}${prior}; pid=${e.pid} domain ${domain}`;
    }
    case 'exit':
      return `${t} exit ${e.program ?? e.comm ?? '?'} pid=${e.pid} tid=${e.tid} code=${e.exit_code === null ? 'unknown' : e.exit_code} ${domain}`;
    case 'signal':
      return `${t} killed ${e.program ?? e.comm ?? '?'} pid=${e.pid} tid=${e.tid} by ${signalName(e.signal ?? 0)} (${e.signal}) from ${senderText(e)} ${domain}`;
    case 'lost':
      // The recorder's own loss (records the store could not take) has no CPU: it counts records.
      if (isStoreLoss(e)) return `${t} LOST ${e.lost ?? 'an unknown number of'} records (${e.detail})`;
      return `${t} LOST ${e.lost === null ? 'an unknown number of' : e.lost} events on cpu ${e.cpu ?? '?'} (${e.detail ?? ''})`;
    case 'hung':
      return `${t} hung ${e.program ?? e.comm ?? '?'} pid=${e.pid} tid=${e.tid} comm=${e.comm ?? '?'}: ${e.detail ?? ''} ${domain}`;
    case 'slab':
      return `${t} slab pid=${e.tid} comm=${e.comm || '?'}: ${e.detail ?? ''}`;
    case 'dentry':
      return `${t} dentry: ${e.detail ?? ''}`;
    case 'rule':
      return `${t} rule: ${e.detail ?? ''}`;
    case 'io':
      return `${t} io ${e.program ?? e.comm ?? '?'} pid=${e.pid} tid=${e.tid} ppid=${e.ppid} comm=${e.comm ?? '?'}: ${e.detail ?? ''} ${domain}`;
    case 'slow_stat':
    case 'slow_io':
      return `${t} ${e.type} ${e.program ?? e.comm ?? '?'} pid=${e.pid} tid=${e.tid} comm=${e.comm || '?'}: ${e.detail ?? ''} ${domain}`;
    default:
      return `${t} ${String(e.type)}`;
  }
}

/** The JSON shape of one record (`--json`), with the domain spelled out and names for signals. */
export function eventJson(e: StoredEvent, domainName: (id: number) => string): Record<string, unknown> {
  const base: Record<string, unknown> = { id: e.id, type: e.type, time: isoTime(e.time_us), time_us: e.time_us };
  if (e.type === 'lost') return { ...base, cpu: e.cpu, lost: e.lost, lost_unit: isStoreLoss(e) ? 'records' : 'events', detail: e.detail };
  if (e.type === 'dentry') return { ...base, detail: e.detail };
  // A slab record keeps the shrinker's NUMA node in the cpu column.
  if (e.type === 'slab') return { ...base, pid: e.tid, comm: e.comm, nid: e.cpu, detail: e.detail };
  Object.assign(base, {
    pid: e.pid,
    tid: e.tid,
    ppid: e.ppid,
    start: e.pstart_us === null ? null : isoTime(e.pstart_us),
    uid: e.uid,
    program: e.program,
    comm: e.comm,
    domain: e.domain_id === null ? null : domainName(e.domain_id),
    reconstructed: e.reconstructed === 1,
  });
  if (e.type === 'exit') base.exit_code = e.exit_code;
  if (e.type === 'signal') {
    Object.assign(base, {
      signal: e.signal,
      signal_name: signalName(e.signal ?? 0),
      si_code: e.sig_code,
      sender:
        e.sender_kind === null || e.sender_kind === 'unknown'
          ? null
          : { kind: e.sender_kind, pid: e.sender_pid, comm: e.sender_comm, program: e.sender_program, ...(e.detail === 'oom-killer' ? { reason: 'oom-killer' } : {}) },
    });
  }
  if (e.type === 'exec' && e.detail) base.cmdline = e.detail;
  if (e.type === 'hung') base.detail = e.detail;
  // The byte counts themselves are added from the io_exit table by the caller (eventIoJson).
  if (e.type === 'io') base.detail = e.detail;
  if (e.type === 'slow_stat' || e.type === 'slow_io') Object.assign(base, { detail: e.detail, ...((e.type === 'slow_stat' ? statFields : ioFields)(e.detail) ?? {}) });
  // A rule record carries the process of the record it fired on (from_id), and what it did.
  if (e.type === 'rule') Object.assign(base, { fired_on: e.from_id, detail: e.detail });
  return base;
}

/** `init(2014/05/04-01:04:33)=>sh(2014/05/04-01:07:03)` from an exec chain, oldest first. */
export function renderHistory(chain: Array<{ comm: string | null; program: string | null; time_us: number }>): string {
  return chain.map((c) => historyStep(c.comm ?? (c.program ? c.program.slice(c.program.lastIndexOf('/') + 1) : '?'), c.time_us)).join('=>');
}

/** The `io` member of an io record's JSON, from its io_exit row. */
export function eventIoJson(io: { read_bytes: number; write_bytes: number; cancelled_write_bytes: number; read_chars: number; write_chars: number }): Record<string, number> {
  return { read_bytes: io.read_bytes, write_bytes: io.write_bytes, cancelled_write_bytes: io.cancelled_write_bytes, rchar: io.read_chars, wchar: io.write_chars };
}
