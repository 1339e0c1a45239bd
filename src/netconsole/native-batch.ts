/**
 * Pure reading of the batches the native receive path (native/netconsole-recv) hands over:
 * `count` entries of ENTRY_BYTES, then the payloads. Entry layout (little endian):
 *   0 u32 payload offset (from the start of the payload area)   4 u32 stored length
 *   8 u32 length on the wire (> stored: truncated)              12 u8 family (4|6)  13 u8 flags (1 = truncated)
 *  14 u16 sender port   16 u8[16] sender address (IPv4 in the first 4 bytes)   32 f64 receive time (µs)
 *  40 u32 preformatted offset (payload area)  44 u32 preformatted length  48 u8 preformat kind
 *     (0 none, 1 plain legacy lines, 2 plain extended record)  49 i8 zone offset of the texts'
 *     stamps in quarter hours (0: UTC)  50 u16 lines preformatted
 *  52 u32 run length (first entry of a run; 0 elsewhere)
 *  56 f64 extended seq  64 f64 extended boot time (µs)  (preformat kind 2 only)
 *  72 u32 lines of the run  76 u32 raw payload bytes of the run  (first entry of a run)
 * The payload area holds the raw payloads, then the preformatted texts. A run: consecutive
 * preformatted datagrams of one sender, one kind and one UTC day, extended seqs following each
 * other; their texts are contiguous (native/netconsole-recv has the rules).
 */
export const ENTRY_BYTES = 80;
export const FLAG_TRUNCATED = 1;
/** Entry offsets of the preformatted text (see native/netconsole-recv). */
export const PF_OFFSET = 40;
export const PF_LENGTH = 44;
export const PF_KIND = 48;
export const PF_ZONE = 49;
export const PF_LINES = 50;
export const PF_RUN = 52;
export const PF_SEQ = 56;
export const PF_TS = 64;
export const PF_RUN_LINES = 72;
export const PF_RUN_BYTES = 76;

/** What the receive thread preformatted of a datagram (encodeNativeBatch, tests). */
export interface Preformatted {
  kind: 1 | 2;
  /** The stamps' offset from UTC in quarter hours (default 0). */
  zoneQuarters?: number;
  lines: number;
  seq: number;
  tsUsec: number;
  text: Uint8Array;
}

export interface NativeSender {
  address: string;
  port: number;
  /** The allow-list's verdict, cached by the pipeline (undefined: not asked yet). */
  allowed?: boolean;
}

/**
 * Sender (address, port) from a batch entry, cached so that a busy sender costs a Map lookup,
 * not a string build. IPv4-mapped IPv6 senders (a dual-stack [::] socket) are written as
 * plain IPv4, as the dgram path does.
 */
export class SenderTable {
  private readonly v4 = new Map<number, NativeSender>();
  private readonly v6 = new Map<string, NativeSender>();
  constructor(private readonly max = 65536) {}

  lookup(buf: Buffer, entry: number): NativeSender {
    const family = buf[entry + 12];
    const port = buf.readUInt16LE(entry + 14);
    const a = entry + 16;
    const mapped = family === 6 && buf.readUInt32LE(a) === 0 && buf.readUInt32LE(a + 4) === 0 && buf.readUInt32BE(a + 8) === 0xffff;
    if (family === 4 || mapped) {
      const off = mapped ? a + 12 : a;
      // address * 65536 + port stays below 2^48: an exact number key.
      const key = buf.readUInt32BE(off) * 65536 + port;
      let s = this.v4.get(key);
      if (s === undefined) {
        s = { address: `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`, port };
        if (this.v4.size >= this.max) this.v4.clear();
        this.v4.set(key, s);
      }
      return s;
    }
    const key = `${buf.readUInt32LE(a)},${buf.readUInt32LE(a + 4)},${buf.readUInt32LE(a + 8)},${buf.readUInt32LE(a + 12)},${port}`;
    let s = this.v6.get(key);
    if (s === undefined) {
      s = { address: ipv6Text(buf.subarray(a, a + 16)), port };
      if (this.v6.size >= this.max) this.v6.clear();
      this.v6.set(key, s);
    }
    return s;
  }
}

/**
 * IPv6 text as libuv's uv_inet_ntop (hence Node's rinfo.address) writes it: lower-case hex,
 * the longest run of two or more zero groups (the first of equals) as "::", and the
 * IPv4-compatible / IPv4-mapped forms with a dotted quad.
 */
export function ipv6Text(b: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i]! << 8) | b[i + 1]!);
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (curBase === -1) {
        curBase = i;
        curLen = 1;
      } else curLen++;
    } else if (curBase !== -1) {
      if (bestBase === -1 || curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
      curBase = -1;
    }
  }
  if (curBase !== -1 && (bestBase === -1 || curLen > bestLen)) {
    bestBase = curBase;
    bestLen = curLen;
  }
  if (bestBase !== -1 && bestLen < 2) bestBase = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      out += `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
      break;
    }
    out += words[i]!.toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) out += ':';
  return out;
}

export interface NativeDatagram {
  sender: NativeSender;
  timeUs: number;
  payload: Buffer;
  wireLength: number;
  truncated: boolean;
}

/**
 * Calls fn for each datagram of a batch, in arrival order. Payloads are views into buf.
 * (Tests and tools; Pipeline.ingestNative walks the same layout itself, with the preformatted
 * runs, because a callback per datagram is what its hot loop must not pay.)
 */
export function forEachNativeDatagram(
  buf: Buffer,
  count: number,
  senders: SenderTable,
  fn: (sender: NativeSender, timeUs: number, payload: Buffer, truncated: boolean, wireLength: number) => void,
): void {
  const base = count * ENTRY_BYTES;
  if (base > buf.length) return;
  for (let i = 0; i < count; i++) {
    const e = i * ENTRY_BYTES;
    const off = base + buf.readUInt32LE(e);
    const len = buf.readUInt32LE(e + 4);
    if (off + len > buf.length) break; // cannot happen with the addon's batches; never read past the end
    const truncated = (buf[e + 13]! & FLAG_TRUNCATED) !== 0;
    fn(senders.lookup(buf, e), buf.readDoubleLE(e + 32), buf.subarray(off, off + len), truncated, buf.readUInt32LE(e + 8));
  }
}

/**
 * Builds a batch in the addon's layout (tests and benchmarks: the pure side without the addon).
 * `run` on an item with `pre` starts a run of that many items (default 1; 0 = inside a run).
 */
export function encodeNativeBatch(
  items: Array<{ family: 4 | 6; address: Uint8Array; port: number; timeUs: number; payload: Uint8Array; wireLength?: number; pre?: Preformatted | null; run?: number }>,
): Buffer {
  const rawBytes = items.reduce((n, x) => n + x.payload.length, 0);
  const textBytes = items.reduce((n, x) => n + (x.pre ? x.pre.text.length : 0), 0);
  const base = items.length * ENTRY_BYTES;
  const buf = Buffer.alloc(base + rawBytes + textBytes);
  let off = 0;
  let textOff = rawBytes;
  items.forEach((x, i) => {
    const e = i * ENTRY_BYTES;
    const wire = x.wireLength ?? x.payload.length;
    buf.writeUInt32LE(off, e);
    buf.writeUInt32LE(x.payload.length, e + 4);
    buf.writeUInt32LE(wire, e + 8);
    buf[e + 12] = x.family;
    buf[e + 13] = wire > x.payload.length ? FLAG_TRUNCATED : 0;
    buf.writeUInt16LE(x.port, e + 14);
    buf.set(x.address, e + 16);
    buf.writeDoubleLE(x.timeUs, e + 32);
    buf.set(x.payload, base + off);
    off += x.payload.length;
    if (x.pre) {
      const run = x.run ?? 1;
      buf.writeUInt32LE(textOff, e + PF_OFFSET);
      buf.writeUInt32LE(x.pre.text.length, e + PF_LENGTH);
      buf[e + PF_KIND] = x.pre.kind;
      buf.writeInt8(x.pre.zoneQuarters ?? 0, e + PF_ZONE);
      buf.writeUInt16LE(x.pre.lines, e + PF_LINES);
      buf.writeUInt32LE(run, e + PF_RUN);
      buf.writeDoubleLE(x.pre.seq, e + PF_SEQ);
      buf.writeDoubleLE(x.pre.tsUsec, e + PF_TS);
      if (run > 0) {
        const members = items.slice(i, i + run);
        buf.writeUInt32LE(
          members.reduce((n, m) => n + (m.pre?.lines ?? 0), 0),
          e + PF_RUN_LINES,
        );
        buf.writeUInt32LE(
          members.reduce((n, m) => n + m.payload.length, 0),
          e + PF_RUN_BYTES,
        );
      }
      buf.set(x.pre.text, base + textOff);
      textOff += x.pre.text.length;
    }
  });
  return buf;
}
