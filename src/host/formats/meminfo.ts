/** /proc/meminfo. */

/** A "Name:   1234 kB" field of /proc/meminfo, in KiB; null when absent. */
export function meminfoKiB(text: string, field: string): number | null {
  const m = new RegExp(`^${field}:\\s*(\\d+)\\s*kB`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

/** MemTotal in bytes. */
export function memTotalBytes(text: string): number | null {
  const kib = meminfoKiB(text, 'MemTotal');
  return kib === null ? null : kib * 1024;
}
