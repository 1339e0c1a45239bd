/**
 * Compressed formats by their magic bytes (a file's name may lie): the one table for every input
 * Lantern decompresses (kernel logs in `analyze`, sosreport tarballs in the Host).
 */
export type Compression = 'none' | 'gzip' | 'xz' | 'zstd' | 'bzip2';

/** Enough leading bytes for every magic number below. */
export const MAGIC_BYTES = 6;

export function compressionOf(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  return 'none';
}
