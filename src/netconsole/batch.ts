/**
 * Batches of datagrams handed from the receiving thread to the pipeline thread.
 * Layout, repeated: [u32 payload length][u32 sender id][f64 receive time µs][payload].
 * A sender id stands for (address, port); new ids travel beside the batch as SenderIntro.
 * The batch's ArrayBuffer is transferred (not copied) to the worker.
 */
export interface SenderIntro {
  id: number;
  address: string;
  port: number;
}

export const HEADER = 16;
export const BATCH_BYTES = 1 << 20;

export class BatchBuilder {
  buf: Buffer = Buffer.allocUnsafeSlow(BATCH_BYTES);
  used = 0;
  count = 0;
  intros: SenderIntro[] = [];
  resetSenders = false;
  private ids = new Map<string, Map<number, number>>();
  private nextId = 0;

  /** Id of a known (address, port), or undefined. */
  lookup(address: string, port: number): number | undefined {
    return this.ids.get(address)?.get(port);
  }

  /** True when the next new sender resets the id table: flush the batch before introduce(). */
  get full(): boolean {
    return this.nextId >= 65536;
  }

  /** Give a new (address, port) an id, introduced in this batch. Bounded: resets past 65536 senders. */
  introduce(address: string, port: number): number {
    let ports = this.ids.get(address);
    if (this.nextId >= 65536) {
      // Forget every id; the worker is told to do the same before this batch.
      this.ids.clear();
      this.nextId = 0;
      this.intros = [];
      this.resetSenders = true;
      ports = undefined;
    }
    if (!ports) {
      ports = new Map();
      this.ids.set(address, ports);
    }
    const id = this.nextId++;
    ports.set(port, id);
    this.intros.push({ id, address, port });
    return id;
  }

  /** True when the datagram did not fit (the caller flushes and adds again). */
  add(id: number, timeUs: number, payload: Buffer): boolean {
    const need = HEADER + payload.length;
    if (this.used + need > this.buf.length) {
      if (this.used > 0) return false;
      // A datagram larger than a batch (cannot happen with UDP's 64 KiB limit, but be safe).
      this.buf = Buffer.allocUnsafeSlow(need);
    }
    const b = this.buf;
    const o = this.used;
    b.writeUInt32LE(payload.length, o);
    b.writeUInt32LE(id, o + 4);
    b.writeDoubleLE(timeUs, o + 8);
    payload.copy(b, o + HEADER);
    this.used = o + need;
    this.count++;
    return true;
  }

  /**
   * Hand over the filled part and start a fresh batch. With `transfer` the buffer itself goes
   * (a new one is allocated); without, the caller must copy it now (postMessage without a
   * transfer list does) and the buffer is reused.
   */
  take(transfer = true): { buf: Buffer; intros: SenderIntro[]; resetSenders: boolean; count: number } {
    const out = { buf: this.buf.subarray(0, this.used), intros: this.intros, resetSenders: this.resetSenders, count: this.count };
    if (transfer || this.buf.length !== BATCH_BYTES) this.buf = Buffer.allocUnsafeSlow(BATCH_BYTES);
    this.used = 0;
    this.count = 0;
    this.intros = [];
    this.resetSenders = false;
    return out;
  }
}

export function forEachDatagram(batch: Buffer, fn: (id: number, timeUs: number, payload: Buffer) => void): void {
  let o = 0;
  while (o + HEADER <= batch.length) {
    const len = batch.readUInt32LE(o);
    const id = batch.readUInt32LE(o + 4);
    const t = batch.readDoubleLE(o + 8);
    const start = o + HEADER;
    if (start + len > batch.length) break;
    fn(id, t, batch.subarray(start, start + len));
    o = start + len;
  }
}
