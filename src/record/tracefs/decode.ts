/**
 * Decoder of binary ring-buffer pages as read from `per_cpu/cpuN/trace_pipe_raw`.
 * Pure: a page (Buffer) plus the layouts from header_page, header_event and each event's
 * format file in, decoded events out. Nothing about a particular event is hard-coded here.
 *
 * Page = header (timestamp, commit) + compressed event headers + records. The commit word
 * carries the data length in its low 27 bits, and two flags set by the kernel when events
 * were lost before this page (RB_MISSED_EVENTS, bit 31) and when the lost count is stored
 * right after the data (RB_MISSED_STORED, bit 30); see kernel/trace/ring_buffer.c.
 */
import type { EventFormat, EventHeaderLayout, FieldFormat, PageLayout } from './format.js';

export type FieldValue = number | string;

export interface DecodedEvent {
  /** Trace-clock timestamp in ns (the instance uses the `mono` clock: CLOCK_MONOTONIC). */
  ts: number;
  cpu: number;
  /** Event name from its format file (`sched_process_exec`). */
  name: string;
  /** The task that was running when the event fired (a thread id). */
  commonPid: number;
  fields: Record<string, FieldValue>;
}

export type RecordDecoder = (buf: Buffer, start: number, len: number) => Record<string, FieldValue>;

const COMMIT_SIZE_MASK = (1 << 27) - 1;
const MISSED_EVENTS = 0x80000000;
const MISSED_STORED = 0x40000000;
const TWO32 = 4294967296;
const TWO27 = 134217728;

export class DecodeError extends Error {}

/**
 * Fields the tracepoint declares unsigned but the kernel computes as signed: read signed, so a
 * wrapped negative shows as the negative it was (shrink_slab's `long total_scan`, the
 * "negative objects to delete" case), not as an inexact number near 2^64.
 */
const SIGNED_IN_KERNEL: Record<string, string[]> = { mm_shrink_slab_start: ['total_scan'] };

/** Build a fast decoder for one event's records from its parsed format. */
export function compileDecoder(format: EventFormat): RecordDecoder {
  const readers: Array<(buf: Buffer, start: number, len: number, out: Record<string, FieldValue>) => void> = [];
  const signed = SIGNED_IN_KERNEL[format.name] ?? [];
  for (const f of format.fields) {
    if (f.name === 'common_type' || f.name === 'common_flags' || f.name === 'common_preempt_count') continue;
    readers.push(fieldReader(signed.includes(f.name) ? { ...f, signed: true } : f));
  }
  return (buf, start, len) => {
    const out: Record<string, FieldValue> = {};
    for (const r of readers) r(buf, start, len, out);
    return out;
  };
}

function check(f: FieldFormat, end: number, len: number): void {
  if (end > len) throw new DecodeError(`field ${f.name} ends at ${end}, record has ${len} bytes`);
}

function cString(buf: Buffer, from: number, to: number): string {
  const nul = buf.indexOf(0, from);
  return buf.toString('utf8', from, nul >= 0 && nul < to ? nul : to);
}

function fieldReader(f: FieldFormat): (buf: Buffer, start: number, len: number, out: Record<string, FieldValue>) => void {
  const { name, offset, size } = f;
  if (f.dataLoc || f.relLoc) {
    return (buf, start, len, out) => {
      check(f, offset + 4, len);
      const loc = buf.readUInt32LE(start + offset);
      const dOff = (loc & 0xffff) + (f.relLoc ? offset + size : 0);
      const dLen = loc >>> 16;
      check(f, dOff + dLen, len);
      out[name] = f.isString ? cString(buf, start + dOff, start + dOff + dLen) : buf.toString('hex', start + dOff, start + dOff + dLen);
    };
  }
  if (f.isString) {
    return (buf, start, len, out) => {
      check(f, offset + size, len);
      out[name] = cString(buf, start + offset, start + offset + size);
    };
  }
  if (f.type.endsWith('[]')) {
    return (buf, start, len, out) => {
      check(f, offset + size, len);
      out[name] = buf.toString('hex', start + offset, start + offset + size);
    };
  }
  switch (size) {
    case 1:
      return (buf, start, len, out) => {
        check(f, offset + 1, len);
        out[name] = f.signed ? buf.readInt8(start + offset) : buf.readUInt8(start + offset);
      };
    case 2:
      return (buf, start, len, out) => {
        check(f, offset + 2, len);
        out[name] = f.signed ? buf.readInt16LE(start + offset) : buf.readUInt16LE(start + offset);
      };
    case 4:
      return (buf, start, len, out) => {
        check(f, offset + 4, len);
        out[name] = f.signed ? buf.readInt32LE(start + offset) : buf.readUInt32LE(start + offset);
      };
    case 8:
      if (f.type.endsWith('*')) {
        // A kernel pointer is above 2^53: as 16 hex digits (what /proc/kallsyms prints), exact.
        return (buf, start, len, out) => {
          check(f, offset + 8, len);
          out[name] =
            buf
              .readUInt32LE(start + offset + 4)
              .toString(16)
              .padStart(8, '0') +
            buf
              .readUInt32LE(start + offset)
              .toString(16)
              .padStart(8, '0');
        };
      }
      // Exact below 2^53, which covers pids, codes, flags and handlers we use.
      return (buf, start, len, out) => {
        check(f, offset + 8, len);
        const lo = buf.readUInt32LE(start + offset);
        const hi = f.signed ? buf.readInt32LE(start + offset + 4) : buf.readUInt32LE(start + offset + 4);
        out[name] = hi * TWO32 + lo;
      };
    default:
      return (buf, start, len, out) => {
        check(f, offset + size, len);
        out[name] = buf.toString('hex', start + offset, start + offset + size);
      };
  }
}

export interface EventType {
  name: string;
  decode: RecordDecoder;
}

export interface PageResult {
  /** Events lost before this page: 0 none, a count when the kernel stored it, -1 when it only flagged the loss. */
  missed: number;
  /** Records decoded. */
  events: number;
  /** Records whose common_type is not one we enabled (counted, skipped). */
  unknown: number;
  /** Malformed records or headers; decoding of the page stops at the first. */
  bad: number;
  /** Why decoding stopped early, when it did. */
  error?: string;
}

/**
 * Decode one page. Events are appended to `out` in page order (which is time order on one CPU).
 * Never throws on bad bytes: it counts them and stops at the first, because after a corrupt
 * header the rest of the page cannot be framed.
 */
export function decodePage(page: Buffer, pageLen: number, layout: PageLayout, header: EventHeaderLayout, types: Map<number, EventType>, cpu: number, out: DecodedEvent[]): PageResult {
  const result: PageResult = { missed: 0, events: 0, unknown: 0, bad: 0 };
  if (pageLen < layout.dataOffset) {
    result.bad++;
    result.error = `short page (${pageLen} bytes)`;
    return result;
  }
  let ts = page.readUInt32LE(layout.timestampOffset) + page.readUInt32LE(layout.timestampOffset + 4) * TWO32;
  const commitWord = page.readUInt32LE(layout.commitOffset);
  const size = commitWord & COMMIT_SIZE_MASK;
  const dataStart = layout.dataOffset;
  const dataEnd = dataStart + size;
  if (dataEnd > pageLen) {
    result.bad++;
    result.error = `commit ${size} beyond page of ${pageLen} bytes`;
    return result;
  }
  if (commitWord & MISSED_EVENTS) {
    result.missed = -1;
    if (commitWord & MISSED_STORED && dataEnd + 8 <= pageLen) {
      result.missed = page.readUInt32LE(dataEnd) + page.readUInt32LE(dataEnd + 4) * TWO32;
    }
  }
  const typeMask = (1 << header.typeLenBits) - 1;
  let off = dataStart;
  while (off + 4 <= dataEnd) {
    const word = page.readUInt32LE(off);
    const typeLen = word & typeMask;
    const delta = word >>> header.typeLenBits;
    if (typeLen === header.padding) {
      if (delta === 0) break; // null event: the rest of the page is empty
      if (off + 8 > dataEnd) break;
      const padLen = page.readUInt32LE(off + 4);
      off += 4 + padLen; // a discarded event: skip it, its time delta does not count
      continue;
    }
    if (typeLen === header.timeExtend) {
      if (off + 8 > dataEnd) {
        result.bad++;
        result.error = 'truncated time extend';
        break;
      }
      ts += delta + page.readUInt32LE(off + 4) * TWO27;
      off += 8;
      continue;
    }
    if (typeLen === header.timeStamp) {
      if (off + 8 > dataEnd) {
        result.bad++;
        result.error = 'truncated absolute timestamp';
        break;
      }
      ts = delta + page.readUInt32LE(off + 4) * TWO27;
      off += 8;
      continue;
    }
    let recStart: number;
    let recLen: number;
    if (typeLen === 0) {
      if (off + 8 > dataEnd) {
        result.bad++;
        result.error = 'truncated length word';
        break;
      }
      const l = page.readUInt32LE(off + 4);
      if (l < 4) {
        result.bad++;
        result.error = `bad record length ${l}`;
        break;
      }
      recLen = l - 4;
      recStart = off + 8;
      off = recStart + ((recLen + 3) & ~3);
    } else if (typeLen <= header.dataMaxTypeLen) {
      recLen = typeLen * 4;
      recStart = off + 4;
      off = recStart + recLen;
    } else {
      result.bad++;
      result.error = `unknown type_len ${typeLen}`;
      break;
    }
    if (off > dataEnd || recLen < 8) {
      result.bad++;
      result.error = `record overruns the page data at ${recStart}`;
      break;
    }
    ts += delta;
    const id = page.readUInt16LE(recStart);
    const type = types.get(id);
    if (!type) {
      result.unknown++;
      continue;
    }
    try {
      const fields = type.decode(page, recStart, recLen);
      out.push({ ts, cpu, name: type.name, commonPid: fields.common_pid as number, fields });
      result.events++;
    } catch (e) {
      result.bad++;
      result.error = (e as Error).message;
    }
  }
  return result;
}
