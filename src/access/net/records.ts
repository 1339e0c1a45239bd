/**
 * Pure decoder of the network program's printf records (program.ts documents their layout).
 * No I/O: bpftrace's text in, typed records out; anything that does not parse is counted.
 */
import { constants } from 'node:os';
import { AF_INET, AF_INET6, AF_UNIX, IPPROTO_TCP, IPPROTO_UDP, NET_OPS, NET_OUTCOMES, NETCOUNT_MAP, UNIX_HALF, type NetOp, type NetOutcome } from './program.js';

export type SockType = 'stream' | 'dgram' | 'seqpacket' | 'raw' | 'other';

export interface NetRecord {
  op: NetOp;
  tid: number;
  pid: number;
  uid: number;
  ppid: number;
  /** The process's start, microseconds on the boot clock (as /proc/<pid>/stat counts). */
  pstartUs: number;
  /** When it happened, microseconds on CLOCK_MONOTONIC (bpftrace's nsecs). */
  monoUs: number;
  family: 'inet' | 'inet6' | 'unix' | 'other';
  sockType: SockType;
  /** 'udp', 'tcp', or the protocol number. */
  protocol: 'udp' | 'tcp' | number;
  /** IPv4 dotted quad, IPv6 in RFC 5952 form (`::1`, `::ffff:127.0.0.1`), or '' for unix. */
  address: string;
  port: number;
  /** unix sockets: the path, abstract names as `@name`. */
  path?: string;
  /** The call's result: >= 0 success (bytes for a send), < 0 a negated errno. */
  ret: number;
  /** errno name for a negative result (`ECONNREFUSED`), absent on success. */
  errno?: string;
  comm: string;
}

export interface ExeRecord {
  pid: number;
  /** The parent at the exec. */
  ppid: number;
  pstartUs: number;
  path: string;
}

export interface DecodeCounters {
  records: number;
  exes: number;
  /** Lines that did not parse (counted, the first kept). */
  malformed: number;
  firstMalformed?: string;
  /** unix connect/bind records that arrived without their path (a lost record). */
  unixWithoutPath: number;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** `ECONNREFUSED` for 111 (or -111); `errno 999` for one Node does not name. */
export function errnoName(n: number): string {
  return ERRNO_NAMES.get(Math.abs(n)) ?? `errno ${Math.abs(n)}`;
}

/** Nanoseconds as decimal text to microseconds (exact for any uptime, unlike Number(ns) / 1000). */
export function nsTextToUs(text: string): number {
  return text.length <= 3 ? 0 : Number(text.slice(0, -3));
}

function sockTypeOf(n: number): SockType {
  return n === 1 ? 'stream' : n === 2 ? 'dgram' : n === 5 ? 'seqpacket' : n === 3 ? 'raw' : 'other';
}

/** The 16-bit port from its network-order bytes as a little-endian load gave them. */
export function portFromWire(n: number): number {
  return ((n & 0xff) << 8) | ((n >> 8) & 0xff);
}

function bytesOf(words: number[]): number[] {
  return words.flatMap((w) => [w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, (w >>> 24) & 0xff]);
}

export function formatIPv4(b: ArrayLike<number>): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952: lower case, no leading zeros, the longest run (>= 2) of zero groups as `::`, IPv4-mapped as `::ffff:a.b.c.d`. */
export function formatIPv6(b: ArrayLike<number>): string {
  const bytes = Array.from(b);
  if (bytes.slice(0, 10).every((x) => x === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return `::ffff:${formatIPv4(bytes.slice(12))}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

const N_RE = /^N (\w+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (-?\d+) ([^]*)$/;
const U_RE = /^U (\d+) ([01]) ([01]) ([^]*)$/;
const X_RE = /^X (\d+) (\d+) ([01]) (\d+) ([^]*)$/;

/**
 * Turns the program's records into NetRecords and ExeRecords. Stateful only in pairing: the unix
 * path halves wait for the N record of their thread, the exe halves for each other.
 */
export class NetDecoder {
  readonly counters: DecodeCounters = { records: 0, exes: 0, malformed: 0, unixWithoutPath: 0 };
  private readonly unixByTid = new Map<number, { abstract: boolean; parts: string[] }>();
  private readonly exeHalves = new Map<string, { top?: { flag: number; names: string }; bottom?: { ppid: number; names: string } }>();

  /** One printf text; returns what it completed (nothing for a half record). */
  feed(text: string): NetRecord | ExeRecord | null {
    let m = N_RE.exec(text);
    if (m) return this.record(m);
    m = U_RE.exec(text);
    if (m) {
      const tid = Number(m[1]);
      const half = Number(m[3]);
      if (half === 0 || !this.unixByTid.has(tid)) this.unixByTid.set(tid, { abstract: m[2] === '1', parts: [] });
      this.unixByTid.get(tid)!.parts[half] = m[4]!;
      if (this.unixByTid.size > 4096) this.unixByTid.delete(this.unixByTid.keys().next().value!);
      return null;
    }
    m = X_RE.exec(text);
    if (m) return this.exe(m);
    this.counters.malformed++;
    this.counters.firstMalformed ??= text.slice(0, 200);
    return null;
  }

  private record(m: RegExpExecArray): NetRecord | null {
    const op = m[1] as NetOp;
    if (!NET_OPS.includes(op)) {
      this.counters.malformed++;
      this.counters.firstMalformed ??= m[0].slice(0, 200);
      return null;
    }
    const num = (i: number) => Number(m[i]);
    const fam = num(8);
    const words = [num(11), num(12), num(13), num(14)];
    const ret = num(16);
    const proto = num(10);
    const rec: NetRecord = {
      op,
      tid: num(2),
      pid: num(3),
      uid: num(4),
      ppid: num(5),
      pstartUs: nsTextToUs(m[6]!),
      monoUs: nsTextToUs(m[7]!),
      family: fam === AF_INET ? 'inet' : fam === AF_INET6 ? 'inet6' : fam === AF_UNIX ? 'unix' : 'other',
      sockType: sockTypeOf(num(9)),
      protocol: proto === IPPROTO_UDP ? 'udp' : proto === IPPROTO_TCP ? 'tcp' : proto,
      address: fam === AF_INET ? formatIPv4(bytesOf(words.slice(0, 1))) : fam === AF_INET6 ? formatIPv6(bytesOf(words)) : '',
      port: fam === AF_UNIX ? 0 : portFromWire(num(15)),
      ret,
      comm: m[17]!,
    };
    // A connect that is under way on a non-blocking socket has not failed.
    if (ret < 0 && !(op === 'connect' && errnoName(ret) === 'EINPROGRESS')) rec.errno = errnoName(ret);
    const pending = this.unixByTid.get(rec.tid);
    if (pending) this.unixByTid.delete(rec.tid);
    if (rec.family === 'unix') {
      if (pending) {
        const first = pending.parts[0] ?? '';
        // The second half belongs to the name only when the first one was full.
        const name = first.length >= UNIX_HALF ? first + (pending.parts[1] ?? '') : first;
        rec.path = pending.abstract ? `@${name}` : name;
      } else {
        this.counters.unixWithoutPath++;
        rec.path = '?';
      }
    }
    this.counters.records++;
    return rec;
  }

  private exe(m: RegExpExecArray): ExeRecord | null {
    const key = `${m[1]}/${m[2]}`;
    const h = this.exeHalves.get(key) ?? {};
    if (m[3] === '0') h.top = { flag: Number(m[4]), names: m[5]! };
    else h.bottom = { ppid: Number(m[4]), names: m[5]! };
    if (!h.top || !h.bottom) {
      this.exeHalves.set(key, h);
      if (this.exeHalves.size > 4096) this.exeHalves.delete(this.exeHalves.keys().next().value!);
      return null;
    }
    this.exeHalves.delete(key);
    this.counters.exes++;
    return { pid: Number(m[1]), ppid: h.bottom.ppid, pstartUs: nsTextToUs(m[2]!), path: exePath(h.top.flag, h.top.names, h.bottom.names) };
  }
}

/**
 * The path from the six dentry names, top first. The root's name is "/" and the root is its own
 * parent, so a shallow path repeats "/" at the top; a dentry name never holds a "/" otherwise.
 * flag 0: the top name is not at the root, so the path is cut and starts with `…/`.
 */
export function exePath(flag: number, top: string, bottom: string): string {
  const names = `${top}/${bottom}`.split('/').filter((n) => n !== '');
  return (flag === 0 ? '…/' : '/') + names.join('/');
}

/** The record's destination or local address as `ADDR PORT` (TOMOYO's layout) or the unix path. */
export function operandOf(r: NetRecord): string {
  return r.family === 'unix' ? (r.path ?? '?') : `${r.address} ${r.port}`;
}

/** Sends counted in the kernel for one process, destination and outcome. */
export interface SentCount {
  pid: number;
  pstartUs: number;
  sockType: SockType;
  family: 'inet' | 'inet6' | 'other';
  address: string;
  port: number;
  failed: boolean;
  count: number;
}

/**
 * The counter map as bpftrace prints it with -f json: `{"@sent": {"pid,start,type,fam,a0,a1,a2,a3,port,failed": n}}`.
 * Keys that do not parse are counted in `malformed`.
 */
export function parseSentMap(data: unknown): { counts: SentCount[]; malformed: number } {
  const counts: SentCount[] = [];
  let malformed = 0;
  const map = (data as Record<string, unknown> | null)?.['@sent'];
  if (!map || typeof map !== 'object') return { counts, malformed };
  for (const [key, value] of Object.entries(map as Record<string, unknown>)) {
    const f = key.split(',');
    if (f.length !== 10 || !f.every((x) => /^\d+$/.test(x)) || typeof value !== 'number') {
      malformed++;
      continue;
    }
    const n = f.map(Number);
    const fam = n[3];
    const words = n.slice(4, 8);
    counts.push({
      pid: n[0]!,
      pstartUs: nsTextToUs(f[1]!),
      sockType: sockTypeOf(n[2]!),
      family: fam === AF_INET ? 'inet' : fam === AF_INET6 ? 'inet6' : 'other',
      address: fam === AF_INET ? formatIPv4(bytesOf(words.slice(0, 1))) : fam === AF_INET6 ? formatIPv6(bytesOf(words)) : '',
      port: portFromWire(n[8]!),
      failed: n[9] === 1,
      count: value,
    });
  }
  return { counts, malformed };
}

/** What the probes saw, per operation and outcome: printed (first occurrences), duplicates kept in the kernel, printed again as the dedupe map was full. */
export type NetCounts = Record<NetOp, Record<NetOutcome, number>>;

export function emptyNetCounts(): NetCounts {
  return Object.fromEntries(NET_OPS.map((op) => [op, Object.fromEntries(NET_OUTCOMES.map((o) => [o, 0]))])) as NetCounts;
}

/**
 * The per-CPU counter map as bpftrace prints it (summed over the CPUs) with -f json:
 * `{"@netcount": {"1,0": 5, "1,1": 99995}}` (operation index, outcome index). The counts are totals
 * since the start, so each print replaces the last. Keys that do not parse are counted.
 */
export function parseNetCounts(data: unknown): { counts: NetCounts; malformed: number } | null {
  const map = (data as Record<string, unknown> | null)?.[NETCOUNT_MAP];
  if (map === undefined) return null;
  const counts = emptyNetCounts();
  let malformed = 0;
  if (!map || typeof map !== 'object') return { counts, malformed };
  for (const [key, value] of Object.entries(map as Record<string, unknown>)) {
    const m = /^(\d+),(\d+)$/.exec(key);
    const op = m ? NET_OPS[Number(m[1])] : undefined;
    const outcome = m ? NET_OUTCOMES[Number(m[2])] : undefined;
    if (!op || !outcome || typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      malformed++;
      continue;
    }
    counts[op][outcome] = value;
  }
  return { counts, malformed };
}
