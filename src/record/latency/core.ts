/**
 * Slow stat-family calls and slow block I/O: the bpftrace program (generated from validated
 * numbers only), the parsers of its printf lines and histograms, and the texts. Pure: no I/O.
 *
 * Cost design (measured in docs/record.md, bench/detectors): at a stat-family enter the program
 * stores one map value per thread (timestamp, filename pointer, dirfd); at the exit it looks it
 * up, deletes it and compares the duration with the threshold. Only a slow call copies its path
 * (str() at the exit: the caller's buffer is still there) and reaches user space; fast calls
 * never leave the kernel.
 */
import { durationIn } from '../../common/duration.js';

/** A stat-family system call this kernel may trace, and how its enter event names the path and the directory fd. */
export interface StatCall {
  /** syscalls:sys_enter_<name> / sys_exit_<name>. */
  name: string;
  /** The name a user knows it by (what the record says). */
  call: string;
  /** bpftrace expression of the filename pointer (0: the call takes an fd, not a path). */
  filename: string;
  /** bpftrace expression of the directory fd the path is relative to (or the fd itself). */
  dfd: string;
}

export const AT_FDCWD = -100;

/** stat(2), lstat(2), fstat(2), fstatat(2) and statx(2) as x86-64/arm64 name their tracepoints. */
export const STAT_CALLS: StatCall[] = [
  { name: 'newstat', call: 'stat', filename: '(uint64)args->filename', dfd: `(int64)${AT_FDCWD}` },
  { name: 'newlstat', call: 'lstat', filename: '(uint64)args->filename', dfd: `(int64)${AT_FDCWD}` },
  { name: 'newfstat', call: 'fstat', filename: '(uint64)0', dfd: '(int64)(int32)args->fd' },
  { name: 'newfstatat', call: 'newfstatat', filename: '(uint64)args->filename', dfd: '(int64)(int32)args->dfd' },
  { name: 'statx', call: 'statx', filename: '(uint64)args->filename', dfd: '(int64)(int32)args->dfd' },
];

export const BLOCK_EVENTS = { start: 'block_io_start', issue: 'block_rq_issue', complete: 'block_rq_complete' } as const;

/** What the program's BEGIN prints once every probe is attached (src/common/bpftrace.ts readyPrintf). */
export const READY = 'lantern-latency-ready';

/** How often the map of stat calls in flight is printed (ms). */
export const IN_FLIGHT_MS = 1000;

/** The lowest threshold accepted (1 ms, the issue's floor) and the highest (1 h). */
export const MIN_THRESHOLD_NS = 1e6;
export const MAX_THRESHOLD_NS = 3600e9;

export interface SlowStatOptions {
  /** Calls at least this long (ns) are recorded. */
  thresholdNs: number;
}

export interface SlowIoOptions {
  /** Requests at least this long from issue to completion (ns) are recorded. */
  thresholdNs: number;
  /** How often the per-device histograms are printed (ms); status shows the last. */
  histIntervalMs: number;
}

export const DEFAULT_SLOW_STAT: SlowStatOptions = { thresholdNs: 1e9 };
export const DEFAULT_SLOW_IO: SlowIoOptions = { thresholdNs: 1e9, histIntervalMs: 5000 };

/** Threads in a stat call or requests in flight the maps can hold (bpftrace's default is 4096). */
export const MAP_KEYS_MAX = 65536;

/** The first line of every program, up to the owner's pid: how a stale bpftrace of a killed recorder is recognised. */
export function markerPrefix(name: string): string {
  // The name reaches the program text: only the instance-name alphabet.
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(name)) throw new Error(`recorder name ${JSON.stringify(name)} is not letters, digits, _ and -`);
  return `// lantern record ${name} pid `;
}

export function programMarker(name: string, pid: number): string {
  return `${markerPrefix(name)}${Math.trunc(pid)} latency`;
}

function checkedNs(ns: number, what: string, min = MIN_THRESHOLD_NS): number {
  // Numbers only reach the program text after this check (never event data, never a string).
  if (!Number.isSafeInteger(ns) || ns < min || ns > MAX_THRESHOLD_NS) throw new Error(`${what} must be a whole number of ns from ${min} to ${MAX_THRESHOLD_NS}`);
  return ns;
}

/**
 * The bpftrace program for the parts that are on. `statCalls` are the calls whose tracepoints
 * exist here; `blockStart` says whether block_io_start (the submitter's context) exists.
 */
export function latencyProgram(p: { marker: string; stat: SlowStatOptions | null; statCalls: StatCall[]; io: SlowIoOptions | null; blockStart: boolean }): string {
  const out: string[] = [p.marker, `BEGIN { printf("${READY}\\n"); }`];
  const intervals = new Map<number, string[]>();
  if (p.stat) {
    const t = checkedNs(p.stat.thresholdNs, 'slow_stat threshold');
    p.statCalls.forEach((c, i) => {
      // An update the full map refuses leaves no entry: looked up again, counted (@full), printed with the calls in flight.
      out.push(`tracepoint:syscalls:sys_enter_${c.name} { @s[tid] = (nsecs, ${c.filename}, ${c.dfd}); $c = @s[tid]; if ($c.0 == 0) { @full = count(); } }`);
      // A thread is in one system call at a time: the value found is this call's enter (0 when it began
      // before we attached, or the map was full).
      out.push(
        `tracepoint:syscalls:sys_exit_${c.name} { $v = @s[tid]; delete(@s[tid]); if ($v.0 != 0) { $d = nsecs - $v.0; if ($d >= ${t}) { ` +
          `printf("S ${i} %llu %d %d %llu %lld %lld %rx %s\\n", nsecs, pid, tid, $d, args->ret, $v.2, buf(comm, 16), ${c.filename === '(uint64)0' ? '""' : 'str(uptr($v.1))'}); } } }`,
      );
    });
  }
  if (p.io) {
    const t = checkedNs(p.io.thresholdNs, 'slow_io threshold', 0);
    const iv = p.io.histIntervalMs;
    if (!Number.isSafeInteger(iv) || iv < 100 || iv > 3_600_000) throw new Error('slow_io histogram interval must be a whole number of ms from 100 to 3600000');
    // The submitter: block_io_start runs in the context that turned the bio into a request.
    if (p.blockStart) out.push('tracepoint:block:block_io_start { @bs[args->dev, args->sector] = (pid, comm); }');
    out.push('tracepoint:block:block_rq_issue { @bi[args->dev, args->sector] = nsecs; if (@bi[args->dev, args->sector] == 0) { @iofull = count(); } }');
    out.push(
      'tracepoint:block:block_rq_complete { $t = @bi[args->dev, args->sector]; if ($t != 0) { $d = nsecs - $t; ' +
        '@lat[args->dev] = hist($d / 1000); @max[args->dev] = max($d); ' +
        `if ($d >= ${t}) { ${p.blockStart ? '$w = @bs[args->dev, args->sector]; ' : ''}printf("B %llu %d %llu %d %llu %d %d %s %s\\n", nsecs, args->dev, args->sector, args->nr_sector, $d, args->error, ` +
        `${p.blockStart ? '$w.0' : '0'}, args->rwbs, ${p.blockStart ? '$w.1' : '""'}); } ` +
        `delete(@bi[args->dev, args->sector]); } ${p.blockStart ? 'delete(@bs[args->dev, args->sector]); ' : ''}}`,
    );
    intervals.set(iv, [...(intervals.get(iv) ?? []), 'print(@lat); print(@max); print(@iofull);']);
  }
  // Calls in flight, so one that never returns (a hung NFS server, a stuck FUSE daemon) is seen too.
  if (p.stat) intervals.set(IN_FLIGHT_MS, [...(intervals.get(IN_FLIGHT_MS) ?? []), 'print(@s); print(@full);']);
  for (const [ms, body] of intervals) out.push(`interval:ms:${ms} { ${body.join(' ')} }`);
  // bpftrace prints every map at exit unless cleared: only the last histograms are wanted.
  const end: string[] = [];
  // @full and @iofull are left for that print: the final counts (a print() in END would be read after a clear()).
  if (p.io) end.push('print(@lat); print(@max); clear(@lat); clear(@max); clear(@bi);', p.blockStart ? 'clear(@bs);' : '');
  if (p.stat) end.push('clear(@s);');
  out.push(`END { ${end.filter(Boolean).join(' ')} }`);
  return out.join('\n') + '\n';
}

export interface SlowStat {
  call: string;
  /** CLOCK_MONOTONIC ns at the exit. */
  endNs: number;
  pid: number;
  tid: number;
  durationNs: number;
  ret: number;
  dfd: number;
  comm: string;
  /** As passed ('' for fstat, or an AT_EMPTY_PATH call on an fd). */
  path: string;
  /** The raw_tp backend could not read the caller's path (path is ''; the detail says so). */
  pathUnread?: boolean;
  /** The path was longer than the backend copies (RAW_PATH_BYTES - 1 bytes kept). */
  pathCut?: boolean;
}

/**
 * The raw_tp backend's ring record (native/bpfstat/bpfstat.c has the same table):
 *    0 u64 pid_tgid   8 u64 start ns   16 u64 duration ns   24 s64 return value   32 u64 di   40 u64 si
 *   48 u32 syscall id   52 s32 path read result (bytes with the NUL; < 0 an error; 0 no path)
 *   56 char[16] comm   72 char[RAW_PATH_BYTES] path
 */
export const RAW_REC_BYTES = 328;
export const RAW_PATH_BYTES = 256;
/** In-flight entry: 0 u64 pid_tgid, 8 u64 start ns, 16 u64 di, 24 u64 si, 32 u64 syscall id. */
export const RAW_INFLIGHT_BYTES = 40;

/** Where a stat-family call's directory fd is (x86-64 argument registers): fstatat/statx di, fstat di (its fd), stat/lstat none. */
function rawDfd(name: string, di: bigint): number {
  if (name === 'newstat' || name === 'newlstat') return AT_FDCWD;
  return Number(BigInt.asIntN(32, di));
}

/** One ring record at `off`, or null when its syscall id is not a watched call (counted as malformed by the caller). */
export function parseRawStat(buf: Buffer, off: number, byId: ReadonlyMap<number, StatCall>): SlowStat | null {
  if (off + RAW_REC_BYTES > buf.length) return null;
  const call = byId.get(buf.readUInt32LE(off + 48));
  if (!call) return null;
  const pidTgid = buf.readBigUInt64LE(off);
  const start = buf.readBigUInt64LE(off + 8);
  const dur = buf.readBigUInt64LE(off + 16);
  const got = buf.readInt32LE(off + 52);
  const commEnd = buf.indexOf(0, off + 56);
  const comm = buf.toString('utf8', off + 56, commEnd >= 0 && commEnd < off + 72 ? commEnd : off + 72);
  const pathLen = got > 0 ? Math.min(got - 1, RAW_PATH_BYTES - 1) : 0;
  return {
    call: call.call,
    endNs: Number(start + dur),
    pid: Number(pidTgid >> 32n),
    tid: Number(pidTgid & 0xffffffffn),
    durationNs: Number(dur),
    ret: Number(buf.readBigInt64LE(off + 24)),
    dfd: rawDfd(call.name, buf.readBigUInt64LE(off + 32)),
    comm,
    path: buf.toString('utf8', off + 72, off + 72 + pathLen),
    ...(got < 0 && call.filename !== '(uint64)0' ? { pathUnread: true } : {}),
    ...(got >= RAW_PATH_BYTES ? { pathCut: true } : {}),
  };
}

/** One entry of the map of calls: thread, process, start (CLOCK_MONOTONIC ns; 0 while the thread is idle) and the call, null when not a watched one. */
export function parseRawInFlight(buf: Buffer, off: number, byId: ReadonlyMap<number, StatCall>): { pid: number; tid: number; startNs: number; call: StatCall } | null {
  const call = byId.get(Number(buf.readBigUInt64LE(off + 32)));
  if (!call) return null;
  const pidTgid = buf.readBigUInt64LE(off);
  return { pid: Number(pidTgid >> 32n), tid: Number(pidTgid & 0xffffffffn), startNs: Number(buf.readBigUInt64LE(off + 8)), call };
}

/** A percentile of the kernel's log2 histogram of paired calls (bucket i: [2^i, 2^(i+1)) ns): the bucket's upper bound, ns (an over-estimate by < 2x). */
export function log2PercentileNs(hist: number[], q: number): number | null {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= rank) return 2 ** (i + 1);
  }
  return 2 ** hist.length;
}

/** `\x62\x61…` (bpftrace's %rx of a 16-byte buffer) → the text before the first NUL. */
export function hexBytes(s: string): string | null {
  if (!/^(\\x[0-9a-f]{2})*$/i.test(s)) return null;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i += 4) bytes.push(parseInt(s.slice(i + 2, i + 4), 16));
  const end = bytes.indexOf(0);
  return Buffer.from(end < 0 ? bytes : bytes.slice(0, end)).toString('utf8');
}

/** One `S …` printf, or null when it is not one (counted as malformed by the caller). */
export function parseStatLine(text: string, calls: StatCall[]): SlowStat | null {
  const m = /^S (\d+) (\d+) (\d+) (\d+) (\d+) (-?\d+) (-?\d+) (\S*) ([\s\S]*)$/.exec(text);
  if (!m) return null;
  const call = calls[Number(m[1])];
  const comm = hexBytes(m[8]!);
  if (!call || comm === null) return null;
  return { call: call.call, endNs: Number(m[2]), pid: Number(m[3]), tid: Number(m[4]), durationNs: Number(m[5]), ret: Number(m[6]), dfd: Number(m[7]), comm, path: m[9]! };
}

export interface SlowIo {
  /** CLOCK_MONOTONIC ns at the completion. */
  endNs: number;
  /** Kernel dev_t (major << 20 | minor). */
  dev: number;
  major: number;
  minor: number;
  sector: number;
  bytes: number;
  latencyNs: number;
  error: number;
  /** 0 when the submitter was not seen (no block_io_start for it: a front merge, a flush, a request begun before we attached). */
  pid: number;
  rwbs: string;
  comm: string;
}

export function devNumbers(dev: number): { major: number; minor: number } {
  return { major: Math.floor(dev / 2 ** 20), minor: dev % 2 ** 20 };
}

/** One `B …` printf, or null. */
export function parseIoLine(text: string): SlowIo | null {
  const m = /^B (\d+) (\d+) (\d+) (\d+) (\d+) (-?\d+) (\d+) (\S+) ([\s\S]*)$/.exec(text);
  if (!m) return null;
  const dev = Number(m[2]);
  return { endNs: Number(m[1]), dev, ...devNumbers(dev), sector: Number(m[3]), bytes: Number(m[4]) * 512, latencyNs: Number(m[5]), error: Number(m[6]), pid: Number(m[7]), rwbs: m[8]!, comm: m[9]! };
}

/** What rwbs letters say: R read, W write, D discard, F flush, S sync, M metadata, A readahead, N none. */
export function rwbsText(rwbs: string): string {
  if (rwbs.includes('D')) return 'discard';
  if (rwbs.includes('W')) return 'write';
  if (rwbs.includes('R')) return 'read';
  if (rwbs.includes('F')) return 'flush';
  return 'other';
}

export interface HistBucket {
  min: number;
  max: number;
  count: number;
}

export interface DeviceLatency {
  /** major:minor. */
  dev: string;
  name: string | null;
  requests: number;
  /** Upper bounds of the log2 bucket holding the percentile (at most the max), µs. */
  p50Us: number | null;
  p99Us: number | null;
  /** Exact, from the kernel's max(). */
  maxUs: number | null;
}

/** A percentile of a log2 histogram: the upper bound of the bucket that holds it (an over-estimate by < 2x). */
export function percentileUs(buckets: HistBucket[], q: number): number | null {
  const total = buckets.reduce((a, b) => a + b.count, 0);
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (const b of buckets) {
    seen += b.count;
    if (seen >= rank) return b.max + 1;
  }
  return buckets.at(-1)!.max + 1;
}

/** The per-device table from bpftrace's `hist` record (@lat) and `map` record (@max, ns). */
export function deviceLatencies(hist: Record<string, HistBucket[]>, maxNs: Record<string, number>, nameOf: (major: number, minor: number) => string | null): DeviceLatency[] {
  const out: DeviceLatency[] = [];
  for (const [k, buckets] of Object.entries(hist)) {
    const { major, minor } = devNumbers(Number(k));
    const mx = maxNs[k];
    const maxUs = mx === undefined ? null : Math.round(mx / 1000);
    // A bucket's bound can pass the exact maximum: no percentile is above it.
    const cap = (v: number | null) => (v === null || maxUs === null ? v : Math.min(v, Math.max(maxUs, 1)));
    out.push({
      dev: `${major}:${minor}`,
      name: nameOf(major, minor),
      requests: buckets.reduce((a, b) => a + b.count, 0),
      p50Us: cap(percentileUs(buckets, 0.5)),
      p99Us: cap(percentileUs(buckets, 0.99)),
      maxUs,
    });
  }
  return out.sort((a, b) => a.dev.localeCompare(b.dev, undefined, { numeric: true }));
}

/** `12.345 ms` (the form rules read back: src/record/rules/core.ts durationOfDetail). */
export function msText(ns: number): string {
  return `${(ns / 1e6).toFixed(3)} ms`;
}

/**
 * Where a relative path points: against the directory fd's target, or the cwd for AT_FDCWD.
 * `dirOf` reads the link (at report time: the process may have moved or gone, then null).
 */
export function resolvedPath(path: string, dfd: number, dirOf: (which: 'cwd' | number) => string | null): string | null {
  if (path.startsWith('/')) return path;
  const base = dfd === AT_FDCWD ? dirOf('cwd') : dfd >= 0 ? dirOf(dfd) : null;
  if (base === null) return null;
  if (path === '') return base; // fstat, or AT_EMPTY_PATH on an fd
  return base === '/' ? `/${path}` : `${base}/${path}`;
}

/** The detail of a slow_stat record: duration first (rules read it), the path JSON-quoted (it may hold anything). */
export function statDetail(s: SlowStat, resolved: string | null): string {
  // An unread path stays a quoted string (never `fd N`: the call took a path); the status counts them.
  const where = s.path === '' && !s.pathUnread ? `fd ${s.dfd}` : JSON.stringify(s.path);
  const res = resolved !== null && resolved !== s.path ? ` -> ${JSON.stringify(resolved)}` : '';
  return `${msText(s.durationNs)} ${s.call}(${where})${res} = ${s.ret}`;
}

export function ioDetail(r: SlowIo, devName: string | null): string {
  return (
    `${msText(r.latencyNs)} ${rwbsText(r.rwbs)} (${r.rwbs}) ${r.bytes} bytes at sector ${r.sector} on ${r.major}:${r.minor}${devName ? ` (${devName})` : ''}${r.error ? ` error ${r.error}` : ''}` +
    `${r.pid ? '' : '; submitter not seen'}`
  );
}

/** The duration a slow_stat / slow_io detail starts with, ns (null when none). */
export function detailDurationNs(detail: string | null): number | null {
  const m = detail ? /^(\d+\.\d{3}) ms\b/.exec(detail) : null;
  return m ? Math.round(Number(m[1]) * 1e6) : null;
}

/**
 * A duration for thresholds, the common grammar with its unit written: "500ms", "1s", "2.5s",
 * "1500us", "10m", "1h"; ns, or null when not one (a bare number: no unit was ever implied), or
 * outside [min, 1 h].
 */
export function parseThreshold(v: unknown, minNs = MIN_THRESHOLD_NS): number | null {
  const ns = typeof v === 'string' ? durationIn(v, null, 'ns') : null;
  return ns !== null && ns >= minNs && ns <= MAX_THRESHOLD_NS ? ns : null;
}

const JSON_STR = '"(?:[^"\\\\]|\\\\.)*"';
const STAT_DETAIL = new RegExp(`^(\\d+\\.\\d{3}) ms (\\w+)\\((?:fd (-?\\d+)|(${JSON_STR}))\\)(?: -> (${JSON_STR}))? = (-?\\d+)$`);
const IO_DETAIL = /^(\d+\.\d{3}) ms (\w+) \((\S+)\) (\d+) bytes at sector (\d+) on (\d+):(\d+)(?: \((\S+)\))?(?: error (-?\d+))?(; submitter not seen)?$/;

const IN_PROGRESS = /^(\d+\.\d{3}) ms and counting: a stat-family call has not returned/;

/** The detail of a call still in flight past the threshold (seen in the in-flight map; its path is known only when it returns). */
export function inProgressDetail(durationNs: number): string {
  return `${msText(durationNs)} and counting: a stat-family call has not returned (path and call are recorded when it does)`;
}

/** The fields of a slow_stat detail (for --json), read back from statDetail's form; null when it is not one. */
export function statFields(detail: string | null): Record<string, unknown> | null {
  const m = detail ? STAT_DETAIL.exec(detail) : null;
  if (!m) {
    const p = detail ? IN_PROGRESS.exec(detail) : null;
    return p ? { duration_ms: Number(p[1]), in_progress: true } : null;
  }
  const path = m[4] !== undefined ? (JSON.parse(m[4]) as string) : '';
  return {
    duration_ms: Number(m[1]),
    call: m[2],
    path,
    fd: m[3] !== undefined ? Number(m[3]) : null,
    resolved: m[5] !== undefined ? (JSON.parse(m[5]) as string) : path.startsWith('/') ? path : null,
    ret: Number(m[6]),
  };
}

/** The fields of a slow_io detail (for --json); null when it is not one. */
export function ioFields(detail: string | null): Record<string, unknown> | null {
  const m = detail ? IO_DETAIL.exec(detail) : null;
  if (!m) return null;
  return {
    latency_ms: Number(m[1]),
    op: m[2],
    rwbs: m[3],
    bytes: Number(m[4]),
    sector: Number(m[5]),
    device: `${m[6]}:${m[7]}`,
    device_name: m[8] ?? null,
    error: m[9] !== undefined ? Number(m[9]) : 0,
    submitter_seen: m[10] === undefined,
  };
}
