/**
 * The receiver's pure core: per-sender line assembly (legacy), ncfrag reassembly and
 * sequence tracking (extended). Datagrams go in with their receive time; complete lines,
 * records and markers come out through `emit`. No sockets, no files, no clocks of its own
 * (time is passed in), so everything here is tested directly and fuzzed.
 */
import { parseExtended, splitBody, type ExtendedHeader } from './extended.js';
import { kernelText, safeText } from './text.js';

/** Who sent a datagram: address and source port (as udplogger keys its buffers). */
export interface Sender {
  address: string;
  port: number;
  /** `1.2.3.4:6665` or `[::1]:6665`. */
  label: string;
}

/** Why a line was written without its end; 'disconnect' is the console receiver's (its stream ended). */
export type PartialReason = 'timeout' | 'max-length' | 'shutdown' | 'evicted' | 'disconnect';

export type RxEvent =
  | { type: 'line'; sender: Sender; timeUs: number; text: string; partial: PartialReason | null; malformed: string | null }
  | {
      type: 'record';
      sender: Sender;
      timeUs: number;
      header: ExtendedHeader;
      text: string;
      dict: string[];
      /** Set when fragments never completed: what was missing. */
      incomplete: string | null;
    }
  | { type: 'marker'; sender: Sender; timeUs: number; kind: MarkerKind; text: string; count: number };

/** netconsole's sequence markers, and the console receiver's stream markers (src/console). */
export type MarkerKind = 'gap' | 'restart' | 'late' | 'connected' | 'disconnected' | 'truncated' | 'rotated';

export interface DecoderOptions {
  /** Flush a partial legacy line after this much quiet (µs). */
  partialQuietUs: number;
  /** Flush a partial legacy line when it reaches this many bytes. */
  maxLineBytes: number;
  /** Give up on an incomplete ncfrag message after this long (µs). */
  fragTimeoutUs: number;
  /** Most messages being reassembled at once per sender. */
  maxFragsPerSender: number;
  /**
   * Most bytes held for messages being reassembled, across all senders: the fragments' bytes
   * as received plus a fixed cost per message and per piece (FRAG_MESSAGE_COST, FRAG_PIECE_COST).
   * Over it, the oldest incomplete message is given up (written with what arrived).
   */
  maxFragBytes: number;
  /** Forget a sender with nothing pending after this much quiet (µs). */
  senderIdleUs: number;
  /** Most senders tracked at once; the least recently active is evicted (its partial line flushed). */
  maxSenders: number;
}

export const DEFAULT_DECODER_OPTIONS: DecoderOptions = {
  partialQuietUs: 10_000_000,
  maxLineBytes: 65536,
  fragTimeoutUs: 5_000_000,
  maxFragsPerSender: 16,
  maxFragBytes: 16 * 1024 * 1024,
  senderIdleUs: 600_000_000,
  maxSenders: 16384,
};

export interface DecoderCounters {
  datagrams: number;
  bytes: number;
  lines: number;
  records: number;
  partialLines: number;
  gaps: number;
  lostMessages: number;
  restarts: number;
  late: number;
  malformed: number;
  fragments: number;
  /** Fragmented messages given up incomplete (timeout, shutdown, eviction): each still written once, with what arrived. */
  fragmentsExpired: number;
  /** Of those, the ones given up for memory (per-sender or global fragment bound), not for time. */
  fragmentsEvicted: number;
  /** Bytes held now for messages being reassembled (as charged against maxFragBytes). */
  fragmentBytes: number;
  sendersEvicted: number;
}

export function newDecoderCounters(): DecoderCounters {
  return {
    datagrams: 0,
    bytes: 0,
    lines: 0,
    records: 0,
    partialLines: 0,
    gaps: 0,
    lostMessages: 0,
    restarts: 0,
    late: 0,
    malformed: 0,
    fragments: 0,
    fragmentsExpired: 0,
    fragmentsEvicted: 0,
    fragmentBytes: 0,
    sendersEvicted: 0,
  };
}

interface FragPiece {
  start: number;
  data: Buffer;
}

interface FragState {
  owner: SenderState;
  seq: number;
  header: ExtendedHeader;
  total: number;
  /**
   * The bytes received so far, sorted by offset and never overlapping (a repeated or
   * overlapping fragment adds only what is new): memory follows what arrived, not what a
   * header announces.
   */
  pieces: FragPiece[];
  /** Bytes in pieces. */
  got: number;
  /** What this message is charged against maxFragBytes. */
  cost: number;
  firstUs: number;
  lastUs: number;
}

/** Charged per message being reassembled and per piece held, beyond the bytes (objects, map entries). */
export const FRAG_MESSAGE_COST = 512;
export const FRAG_PIECE_COST = 96;
/** Most pieces one message is held in (a real one has at most 132: 128 KiB in 1000-byte fragments). */
const MAX_FRAG_PIECES = 512;

interface SenderState {
  sender: Sender;
  lastActivityUs: number;
  /** Legacy bytes waiting for a newline. */
  pending: Buffer[];
  pendingBytes: number;
  pendingSinceUs: number;
  frags: Map<number, FragState>;
  lastSeq: number;
  lastTsUsec: number;
  lastRelease: string | null;
}

export function senderLabel(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Optional fast lane for the common case: a complete line (or one-line record without
 * dictionary) whose bytes [start, end) are plain printable ASCII and tab, so its text would be
 * exactly those bytes. A sink that takes it returns true and no event is built; false falls
 * back to `emit`. Counters are kept the same either way.
 */
export interface PlainSink {
  line(sender: Sender, timeUs: number, buf: Buffer, start: number, end: number): boolean;
  record(sender: Sender, timeUs: number, header: ExtendedHeader, buf: Buffer, start: number, end: number): boolean;
}

/** True when safeText() would return bytes [start, end) unchanged (and, with noBackslash, kernelText() too). */
function isPlain(buf: Buffer, start: number, end: number, noBackslash: boolean): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b < 0x20 ? b !== 0x09 : b >= 0x7f || (noBackslash && b === 0x5c)) return false;
  }
  return true;
}

export class Decoder {
  readonly counters: DecoderCounters = newDecoderCounters();
  private readonly senders = new Map<string, Map<number, SenderState>>();
  private senderCount = 0;
  private lastIdleSweepUs = 0;
  /** Senders holding a partial line or fragments: the only ones tick() must visit often. */
  private readonly busy = new Set<SenderState>();
  /** Every message being reassembled, oldest first (insertion order): evicted from the front. */
  private readonly fragsByAge = new Set<FragState>();

  constructor(
    private readonly emit: (ev: RxEvent) => void,
    readonly opts: DecoderOptions = DEFAULT_DECODER_OPTIONS,
    private readonly plain: PlainSink | null = null,
  ) {}

  get trackedSenders(): number {
    return this.senderCount;
  }

  /** One datagram from `address`:`port`, received at `timeUs` (µs since the epoch). */
  datagram(address: string, port: number, buf: Buffer, timeUs: number): void {
    this.counters.datagrams++;
    this.counters.bytes += buf.length;
    const st = this.state(address, port, timeUs);
    st.lastActivityUs = timeUs;
    if (buf.length === 0) return;
    const p = parseExtended(buf);
    if (p.kind === 'extended') this.extended(st, p.header, buf, p.bodyStart, timeUs);
    else if (p.kind === 'legacy') this.legacy(st, buf, timeUs);
    else {
      // Looks extended but is broken: count it and keep its bytes as a line, tagged.
      this.counters.malformed++;
      this.counters.lines++;
      const end = buf[buf.length - 1] === 0x0a ? buf.length - 1 : buf.length;
      this.emit({ type: 'line', sender: st.sender, timeUs, text: safeText(buf, 0, end), partial: null, malformed: p.reason });
    }
  }

  /**
   * `count` consecutive datagrams of one sender whose lines the receive thread already formatted
   * (native path, see native/netconsole-recv): whole plain legacy lines (kind 1), or plain
   * extended records without release, fragments or dictionary (kind 2) whose seqs follow each
   * other from firstSeq to lastSeq with boot time never going back. Does the bookkeeping
   * datagram() would do for each and returns true when those bytes are exactly what the
   * PlainSink would have written; false (nothing touched) when the sender's state makes a
   * difference — a partial legacy line is waiting, or a run of records does not simply continue
   * the sender's sequence — and the datagrams must go through datagram() or one at a time.
   * Markers for a sequence gap or restart before the first record are emitted as usual, before
   * the caller writes.
   */
  preformatted(
    address: string,
    port: number,
    kind: 1 | 2,
    count: number,
    bytes: number,
    lines: number,
    firstUs: number,
    lastUs: number,
    firstSeq: number,
    firstTs: number,
    lastSeq: number,
    lastTs: number,
  ): boolean {
    const st = this.state(address, port, firstUs);
    if (kind === 1) {
      if (st.pendingBytes !== 0) return false;
      this.counters.lines += lines;
    } else {
      // A run is taken whole only when its first record cannot be "late" (which leaves the
      // state as it was and makes the next records late too).
      if (count > 1 && st.lastSeq >= 0 && firstSeq <= st.lastSeq) return false;
      const h = this.preHeader;
      h.seq = firstSeq;
      h.tsUsec = firstTs;
      this.sequence(st, h, firstUs);
      if (count > 1) {
        st.lastSeq = lastSeq;
        st.lastTsUsec = lastTs;
      }
      this.counters.records += count;
      this.counters.lines += count;
    }
    this.counters.datagrams += count;
    this.counters.bytes += bytes;
    st.lastActivityUs = lastUs;
    return true;
  }

  /** The header preformatted() hands to sequence() (only seq, tsUsec and release are read). */
  private readonly preHeader: ExtendedHeader = { release: null, facility: 0, level: 0, seq: 0, tsUsec: 0, flag: '-', frag: null };

  /** Flush partial lines that went quiet, expire fragments, forget idle senders. */
  tick(nowUs: number): void {
    for (const st of this.busy) {
      if (st.pendingBytes > 0 && nowUs - st.lastActivityUs >= this.opts.partialQuietUs) {
        this.flushPending(st, 'timeout');
      }
      for (const f of st.frags.values()) {
        if (nowUs - f.lastUs >= this.opts.fragTimeoutUs) this.giveUp(f, false);
      }
      if (st.pendingBytes === 0 && st.frags.size === 0) this.busy.delete(st);
    }
    // Idle senders: a full sweep at most once a second.
    if (nowUs - this.lastIdleSweepUs >= 1_000_000) {
      this.lastIdleSweepUs = nowUs;
      for (const [addr, ports] of this.senders) {
        for (const [port, st] of ports) {
          if (nowUs - st.lastActivityUs >= this.opts.senderIdleUs && st.pendingBytes === 0 && st.frags.size === 0) {
            ports.delete(port);
            this.senderCount--;
          }
        }
        if (ports.size === 0) this.senders.delete(addr);
      }
    }
  }

  /** Flush every partial line and incomplete message (shutdown). */
  flushAll(): void {
    for (const st of [...this.busy]) {
      for (const f of st.frags.values()) this.giveUp(f, false);
      this.flushPending(st, 'shutdown');
      this.busy.delete(st);
    }
  }

  private state(address: string, port: number, timeUs: number): SenderState {
    let ports = this.senders.get(address);
    let st = ports?.get(port);
    if (st) return st;
    if (this.senderCount >= this.opts.maxSenders) this.evictOne();
    if (!ports) {
      ports = new Map();
      this.senders.set(address, ports);
    }
    st = {
      sender: { address, port, label: senderLabel(address, port) },
      lastActivityUs: timeUs,
      pending: [],
      pendingBytes: 0,
      pendingSinceUs: 0,
      frags: new Map(),
      lastSeq: -1,
      lastTsUsec: 0,
      lastRelease: null,
    };
    ports.set(port, st);
    this.senderCount++;
    return st;
  }

  /** Table full: drop the least recently active of the oldest few senders, flushing what it holds. */
  private evictOne(): void {
    let victim: SenderState | null = null;
    let seen = 0;
    outer: for (const ports of this.senders.values()) {
      for (const st of ports.values()) {
        if (!victim || st.lastActivityUs < victim.lastActivityUs) victim = st;
        if (++seen >= 64) break outer;
      }
    }
    if (!victim) return;
    for (const f of victim.frags.values()) this.giveUp(f, false);
    this.flushPending(victim, 'evicted');
    this.busy.delete(victim);
    const ports = this.senders.get(victim.sender.address)!;
    ports.delete(victim.sender.port);
    if (ports.size === 0) this.senders.delete(victim.sender.address);
    this.senderCount--;
    this.counters.sendersEvicted++;
  }

  // ---- legacy: raw console text, lines split or joined arbitrarily across datagrams ----

  private legacy(st: SenderState, buf: Buffer, timeUs: number): void {
    let pos = 0;
    for (;;) {
      const nl = buf.indexOf(0x0a, pos);
      if (nl < 0) break;
      if (st.pendingBytes === 0) {
        this.counters.lines++;
        if (this.plain !== null && isPlain(buf, pos, nl, false) && this.plain.line(st.sender, timeUs, buf, pos, nl)) {
          pos = nl + 1;
          continue;
        }
        this.emit({ type: 'line', sender: st.sender, timeUs, text: safeText(buf, pos, nl), partial: null, malformed: null });
      } else {
        st.pending.push(buf.subarray(pos, nl));
        const whole = Buffer.concat(st.pending);
        const since = st.pendingSinceUs;
        st.pending = [];
        st.pendingBytes = 0;
        this.counters.lines++;
        this.emit({ type: 'line', sender: st.sender, timeUs: since, text: safeText(whole), partial: null, malformed: null });
      }
      pos = nl + 1;
    }
    if (pos < buf.length) {
      if (st.pendingBytes === 0) st.pendingSinceUs = timeUs;
      // Copied: the datagram may be a view into a large batch that must not stay alive.
      st.pending.push(Buffer.from(buf.subarray(pos)));
      st.pendingBytes += buf.length - pos;
      this.busy.add(st);
      // A runaway line is cut at the cap so memory per sender stays bounded.
      while (st.pendingBytes >= this.opts.maxLineBytes) {
        const whole = Buffer.concat(st.pending);
        const cut = this.opts.maxLineBytes;
        st.pending = whole.length > cut ? [whole.subarray(cut)] : [];
        st.pendingBytes = whole.length - cut;
        this.counters.lines++;
        this.counters.partialLines++;
        this.emit({ type: 'line', sender: st.sender, timeUs: st.pendingSinceUs, text: safeText(whole, 0, cut), partial: 'max-length', malformed: null });
        st.pendingSinceUs = timeUs;
      }
    }
  }

  private flushPending(st: SenderState, reason: PartialReason): void {
    if (st.pendingBytes === 0) return;
    const whole = Buffer.concat(st.pending);
    st.pending = [];
    st.pendingBytes = 0;
    this.counters.lines++;
    this.counters.partialLines++;
    this.emit({ type: 'line', sender: st.sender, timeUs: st.pendingSinceUs, text: safeText(whole), partial: reason, malformed: null });
  }

  // ---- extended: one record per datagram, or ncfrag fragments of one record ----

  private extended(st: SenderState, header: ExtendedHeader, buf: Buffer, bodyStart: number, timeUs: number): void {
    if (!header.frag) {
      this.record(st, header, buf.subarray(bodyStart), timeUs, null);
      return;
    }
    this.counters.fragments++;
    const { offset, total } = header.frag;
    let f = st.frags.get(header.seq);
    if (f && f.total !== total) {
      // Same seq, different total: a different message (sender rebooted meanwhile). Finish the old one.
      this.giveUp(f, false);
      f = undefined;
    }
    if (!f) {
      if (st.frags.size >= this.opts.maxFragsPerSender) this.giveUp(st.frags.values().next().value as FragState, true);
      f = { owner: st, seq: header.seq, header: { ...header, frag: null }, total, pieces: [], got: 0, cost: FRAG_MESSAGE_COST, firstUs: timeUs, lastUs: timeUs };
      st.frags.set(header.seq, f);
      this.fragsByAge.add(f);
      this.counters.fragmentBytes += f.cost;
      this.busy.add(st);
    }
    f.lastUs = timeUs;
    const added = addPiece(f.pieces, offset, buf, bodyStart, buf.length);
    f.got += added.bytes;
    const cost = added.bytes + added.pieces * FRAG_PIECE_COST;
    f.cost += cost;
    this.counters.fragmentBytes += cost;
    if (f.got >= total) {
      this.dropFrag(f);
      this.record(st, f.header, joinPieces(f.pieces, total), f.firstUs, null);
      return;
    }
    if (f.pieces.length > MAX_FRAG_PIECES) {
      // Chopped into more pieces than any real message: give it up now rather than grow.
      this.giveUp(f, true);
      return;
    }
    // Over the global bound: the oldest incomplete messages go first (this one last).
    while (this.counters.fragmentBytes > this.opts.maxFragBytes) {
      const oldest = this.fragsByAge.values().next().value as FragState | undefined;
      if (!oldest) break;
      this.giveUp(oldest, true);
    }
  }

  /** Forget a message being reassembled (complete or given up) and its charge. */
  private dropFrag(f: FragState): void {
    f.owner.frags.delete(f.seq);
    this.fragsByAge.delete(f);
    this.counters.fragmentBytes -= f.cost;
  }

  /**
   * An incomplete message is given up (timed out, superseded, at shutdown, or `forMemory`):
   * written once with every byte that did arrive, holes shown as " [...] ", and counted.
   */
  private giveUp(f: FragState, forMemory: boolean): void {
    this.dropFrag(f);
    this.counters.fragmentsExpired++;
    if (forMemory) this.counters.fragmentsEvicted++;
    const parts: Buffer[] = [];
    let end = 0;
    for (const p of f.pieces) {
      if (p.start > end || (parts.length === 0 && p.start > 0)) parts.push(HOLE);
      parts.push(p.data);
      end = p.start + p.data.length;
    }
    if (end < f.total) parts.push(HOLE_AT_END);
    this.record(f.owner, f.header, Buffer.concat(parts), f.firstUs, `fragments incomplete: got ${f.got} of ${f.total} bytes`);
  }

  private record(st: SenderState, header: ExtendedHeader, body: Buffer, timeUs: number, incomplete: string | null): void {
    this.sequence(st, header, timeUs);
    // Usual record: one line, ending at the body's only newline (no dictionary to split off).
    const nl = body.indexOf(0x0a);
    if (nl < 0 || nl === body.length - 1) {
      this.counters.records++;
      this.counters.lines++;
      const end = nl < 0 ? body.length : nl;
      if (this.plain !== null && incomplete === null && isPlain(body, 0, end, true) && this.plain.record(st.sender, timeUs, header, body, 0, end)) return;
      this.emit({ type: 'record', sender: st.sender, timeUs, header, text: kernelText(body, 0, nl < 0 ? body.length : nl), dict: [], incomplete });
      return;
    }
    const split = splitBody(body);
    const dict = split.dict.map(([s, e]) => kernelText(body, s, e));
    this.counters.records++;
    this.counters.lines++;
    this.emit({ type: 'record', sender: st.sender, timeUs, header, text: kernelText(body, 0, split.textEnd), dict, incomplete });
  }

  /** Gap and restart detection from the kernel's own sequence numbers. */
  private sequence(st: SenderState, h: ExtendedHeader, timeUs: number): void {
    const last = st.lastSeq;
    if (last >= 0) {
      const releaseChanged = h.release !== null && st.lastRelease !== null && h.release !== st.lastRelease;
      // Within one boot seq and boot time rise together. Boot time going back means a new boot,
      // unless it is a message just a little older than the last (reordered on the way).
      const clockBack = h.tsUsec < st.lastTsUsec;
      const slightlyOlder = h.seq <= last && last - h.seq <= LATE_SEQ_WINDOW && st.lastTsUsec - h.tsUsec <= LATE_TS_WINDOW_US;
      if (releaseChanged || (clockBack && !slightlyOlder)) {
        this.counters.restarts++;
        const why = releaseChanged ? `release ${st.lastRelease} -> ${h.release}` : `boot time ${fmtTs(st.lastTsUsec)} -> ${fmtTs(h.tsUsec)}`;
        this.emit({ type: 'marker', sender: st.sender, timeUs, kind: 'restart', count: 1, text: `sequence restart: seq ${last} -> ${h.seq}, ${why}: the sender rebooted` });
      } else if (h.seq > last + 1) {
        const n = h.seq - last - 1;
        this.counters.gaps++;
        this.counters.lostMessages += n;
        this.emit({
          type: 'marker',
          sender: st.sender,
          timeUs,
          kind: 'gap',
          count: n,
          text: `gap: ${n} message${n === 1 ? '' : 's'} lost (seq ${last + 1}${n > 1 ? `..${h.seq - 1}` : ''})`,
        });
      } else if (h.seq <= last) {
        // Arrived after a later one (or twice): still written, marked, seq state unchanged.
        this.counters.late++;
        this.emit({ type: 'marker', sender: st.sender, timeUs, kind: 'late', count: 1, text: `late message: seq ${h.seq} arrived after seq ${last}` });
        return;
      }
    }
    st.lastSeq = h.seq;
    st.lastTsUsec = h.tsUsec;
    if (h.release !== null) st.lastRelease = h.release;
  }
}

/** A message at most this many seqs and this much boot time older than the last one is "late", not a reboot. */
const LATE_SEQ_WINDOW = 64;
const LATE_TS_WINDOW_US = 2_000_000;

function fmtTs(us: number): string {
  return (us / 1e6).toFixed(6);
}

const HOLE = Buffer.from(' [...] ');
const HOLE_AT_END = Buffer.from(' [...]');

/**
 * Add bytes [from, to) of buf, which belong at `offset` of the message, to sorted,
 * non-overlapping pieces: only the parts not held yet are copied. What was added.
 */
function addPiece(pieces: FragPiece[], offset: number, buf: Buffer, from: number, to: number): { bytes: number; pieces: number } {
  let bytes = 0;
  let added = 0;
  let at = offset;
  const end = offset + (to - from);
  let i = 0;
  // Skip pieces wholly before the new bytes.
  while (i < pieces.length && pieces[i]!.start + pieces[i]!.data.length <= at) i++;
  while (at < end) {
    const next = pieces[i];
    if (next && next.start <= at) {
      // Already held up to the end of this piece.
      at = next.start + next.data.length;
      i++;
      continue;
    }
    const stop = next ? Math.min(end, next.start) : end;
    // Copied: the datagram may be a view into a large batch that must not stay alive.
    pieces.splice(i, 0, { start: at, data: Buffer.from(buf.subarray(from + (at - offset), from + (stop - offset))) });
    i++;
    bytes += stop - at;
    added++;
    at = stop;
  }
  return { bytes, pieces: added };
}

/** A complete message's pieces (they cover [0, total) exactly) as one buffer. */
function joinPieces(pieces: FragPiece[], total: number): Buffer {
  if (pieces.length === 1) return pieces[0]!.data;
  return Buffer.concat(
    pieces.map((p) => p.data),
    total,
  );
}
