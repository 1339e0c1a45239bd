/**
 * Reader of /dev/kmsg (the kernel log as records with sequence numbers), non-blocking, drained
 * by the recorder's timer like the trace pipes. /dev/kmsg is a character device, so it is read
 * here rather than through the Host (whose readText takes regular files only).
 */
import { closeSync, constants as fsc, openSync, readSync } from 'node:fs';
import { parseKmsgRecord, type KmsgRecord } from './core.js';

export const DEFAULT_KMSG = '/dev/kmsg';

export class KmsgReader {
  private fd: number | null;
  /** Records overwritten in the kernel's ring before we read them (EPIPE). */
  lostReads = 0;
  /** Reads that did not parse as a record. */
  bad = 0;
  private readonly buf = Buffer.alloc(16 * 1024); // a record is at most ~8 KiB (PRINTKRB_RECORD_MAX + dict)

  constructor(readonly path: string = DEFAULT_KMSG) {
    // Each open starts at the oldest record the kernel still holds.
    this.fd = openSync(path, fsc.O_RDONLY | fsc.O_NONBLOCK);
  }

  /** Every record available now (at most maxRecords). */
  drain(maxRecords = 100_000): KmsgRecord[] {
    const out: KmsgRecord[] = [];
    if (this.fd === null) return out;
    for (let i = 0; i < maxRecords; i++) {
      let n: number;
      try {
        n = readSync(this.fd, this.buf, 0, this.buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR') break;
        if (code === 'EPIPE') {
          // The kernel overwrote records we had not read; the next read continues after them.
          this.lostReads++;
          continue;
        }
        throw e;
      }
      if (n <= 0) break;
      const rec = parseKmsgRecord(this.buf.toString('utf8', 0, n));
      if (rec) out.push(rec);
      else this.bad++;
    }
    return out;
  }

  close(): void {
    if (this.fd === null) return;
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
    this.fd = null;
  }
}
