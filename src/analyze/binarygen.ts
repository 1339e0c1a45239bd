/**
 * Binary inputs for tests, generated: a file laid out like a systemd journal (where no real
 * one is at hand: /var/log/journal is empty in containers and journald cannot be run there).
 */

/** A file laid out like a systemd journal: header, then DATA objects (binary header + `FIELD=value`). */
export function journalLike(entries: number, withMagic = true): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(256);
  if (withMagic) header.write('LPKSHHRH', 0, 'latin1');
  header.writeUInt32LE(0x2, 8); // compatible flags
  header.writeBigUInt64LE(256n, 88); // header size
  parts.push(header);
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0);
  for (let i = 0; i < entries; i++) {
    for (const field of [`MESSAGE=kernel: eth0: link up ${i}`, '_HOSTNAME=web01', `_PID=${1000 + i}`, '_TRANSPORT=kernel', `__REALTIME_TIMESTAMP=${1714716001000000 + i}`]) {
      const payload = Buffer.from(field);
      const obj = Buffer.alloc(64 + payload.length + ((8 - (payload.length % 8)) % 8));
      obj[0] = 1; // OBJECT_DATA
      obj.writeBigUInt64LE(BigInt(obj.length), 8);
      obj.writeUInt32LE(rnd(), 16); // hash
      obj.writeUInt32LE(rnd(), 20);
      obj.writeBigUInt64LE(BigInt(rnd() & 0xffffff), 24); // next_hash_offset
      obj.writeBigUInt64LE(BigInt(rnd() & 0xffffff), 32); // next_field_offset
      obj.writeBigUInt64LE(BigInt(rnd() & 0xffffff), 40); // entry_offset
      obj.writeBigUInt64LE(BigInt(rnd() & 0xffffff), 48); // entry_array_offset
      obj.writeBigUInt64LE(BigInt((rnd() & 7) + 1), 56); // n_entries
      payload.copy(obj, 64);
      parts.push(obj);
    }
  }
  return Buffer.concat(parts);
}
