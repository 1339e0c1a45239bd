/**
 * A small, pure reader of BTF (the kernel's BPF Type Format, /sys/kernel/btf/vmlinux): the
 * header, the type section and the string section, enough to find a struct by name and where a
 * member (a dotted path through nested structs, typedefs and const/volatile) lies in it. Lantern
 * uses it to tell its hand-assembled BPF programs the offsets of kernel structures on the
 * running kernel, without clang or libbpf. No I/O here: the caller reads the bytes.
 *
 * Every length and index comes from the input and is checked before it is used: a truncated or
 * damaged blob is a BtfError with one clear line, never an exception of another kind or a hang.
 * Format: Documentation/bpf/btf.rst (struct btf_header, struct btf_type and its kinds).
 */

export class BtfError extends Error {}

const MAGIC = 0xeb9f;
const HEADER_MIN = 24;
const TYPE_HEAD = 12;

/** BTF kinds (BTF_KIND_*). */
export const KIND = {
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

/** Bytes that follow struct btf_type for a kind with vlen entries. */
function extraBytes(kind: number, vlen: number): number {
  switch (kind) {
    case KIND.INT:
    case KIND.VAR:
    case KIND.DECL_TAG:
      return 4;
    case KIND.ARRAY:
      return 12;
    case KIND.STRUCT:
    case KIND.UNION:
    case KIND.DATASEC:
    case KIND.ENUM64:
      return 12 * vlen;
    case KIND.ENUM:
    case KIND.FUNC_PROTO:
      return 8 * vlen;
    case KIND.PTR:
    case KIND.FWD:
    case KIND.TYPEDEF:
    case KIND.VOLATILE:
    case KIND.CONST:
    case KIND.RESTRICT:
    case KIND.FUNC:
    case KIND.FLOAT:
    case KIND.TYPE_TAG:
      return 0;
    default:
      return -1;
  }
}

/** Where a member lies: its offset from the start of the outer struct, and its type's size. */
export interface MemberPlace {
  bitOffset: number;
  /** bitOffset / 8 when the member starts on a byte (any member that is not a bitfield). */
  byteOffset: number;
  /** Bits of a bitfield; 0 for an ordinary member. */
  bitfieldSize: number;
  /** The member's type id, typedefs and modifiers followed. */
  typeId: number;
  kind: number;
  /** Bytes of the member's type (pointers: 8). */
  size: number;
}

interface Member {
  nameOff: number;
  type: number;
  bitOffset: number;
  bitfieldSize: number;
}

export class Btf {
  /** Byte offset of each type's struct btf_type in `types`, by id (index 0: void, unused); one typed array, not 130,000 array slots for the GC. */
  private at: Uint32Array = new Uint32Array(1);
  private ids = 1;
  private readonly types: Buffer;
  private readonly strings: Buffer;
  private byName: Map<string, number[]> | null = null;

  private constructor(types: Buffer, strings: Buffer) {
    this.types = types;
    this.strings = strings;
  }

  /** Parses the header and walks the type section once (its ids and their places). */
  static parse(buf: Buffer): Btf {
    if (buf.length < HEADER_MIN) throw new BtfError(`BTF too short: ${buf.length} bytes, the header alone is ${HEADER_MIN}`);
    const magic = buf.readUInt16LE(0);
    if (magic !== MAGIC) {
      const be = buf.readUInt16BE(0) === MAGIC;
      throw new BtfError(`not BTF: magic 0x${magic.toString(16).padStart(4, '0')}, expected 0xeb9f${be ? ' (this is big-endian BTF, not read here)' : ''}`);
    }
    const version = buf[2]!;
    if (version !== 1) throw new BtfError(`BTF version ${version} is not supported (1 is)`);
    const hdrLen = buf.readUInt32LE(4);
    if (hdrLen < HEADER_MIN || hdrLen > buf.length) throw new BtfError(`BTF header length ${hdrLen} is outside the ${buf.length} bytes given`);
    const typeOff = buf.readUInt32LE(8);
    const typeLen = buf.readUInt32LE(12);
    const strOff = buf.readUInt32LE(16);
    const strLen = buf.readUInt32LE(20);
    const body = buf.length - hdrLen;
    if (typeOff + typeLen > body) throw new BtfError(`BTF truncated: the type section ends at ${hdrLen + typeOff + typeLen}, the data at ${buf.length}`);
    if (strOff + strLen > body) throw new BtfError(`BTF truncated: the string section ends at ${hdrLen + strOff + strLen}, the data at ${buf.length}`);
    if (strLen === 0 || buf[hdrLen + strOff] !== 0) throw new BtfError('BTF string section must start with an empty string');
    const btf = new Btf(buf.subarray(hdrLen + typeOff, hdrLen + typeOff + typeLen), buf.subarray(hdrLen + strOff, hdrLen + strOff + strLen));
    btf.walk();
    return btf;
  }

  private walk(): void {
    const t = this.types;
    // Every type takes at least 12 bytes: an upper bound on the ids.
    const at = new Uint32Array(Math.floor(t.length / TYPE_HEAD) + 1);
    let n = 1;
    let off = 0;
    while (off < t.length) {
      if (t.length - off < TYPE_HEAD) throw new BtfError(`BTF type ${n} is cut: ${t.length - off} bytes left of a 12-byte type`);
      const info = t.readUInt32LE(off + 4);
      const kind = (info >>> 24) & 0x1f;
      const extra = extraBytes(kind, info & 0xffff);
      if (extra < 0) throw new BtfError(`BTF type ${n} has unknown kind ${kind}`);
      if (t.length - off - TYPE_HEAD < extra) throw new BtfError(`BTF type ${n} is cut: its ${extra} bytes of members run past the type section`);
      at[n++] = off;
      off += TYPE_HEAD + extra;
    }
    this.at = at;
    this.ids = n;
  }

  /** Type ids: 1 … count. */
  get count(): number {
    return this.ids - 1;
  }

  private str(off: number): string {
    if (off >= this.strings.length) throw new BtfError(`BTF name offset ${off} is outside the string section (${this.strings.length} bytes)`);
    const end = this.strings.indexOf(0, off);
    if (end < 0) throw new BtfError(`BTF name at ${off} is not terminated`);
    return this.strings.toString('latin1', off, end);
  }

  private head(id: number): { nameOff: number; kind: number; vlen: number; kindFlag: boolean; sizeOrType: number; off: number } {
    if (!Number.isInteger(id) || id < 1 || id >= this.ids) throw new BtfError(`BTF type id ${id} does not exist (1 to ${this.count})`);
    const off = this.at[id]!;
    const info = this.types.readUInt32LE(off + 4);
    return { nameOff: this.types.readUInt32LE(off), kind: (info >>> 24) & 0x1f, vlen: info & 0xffff, kindFlag: info >>> 31 === 1, sizeOrType: this.types.readUInt32LE(off + 8), off };
  }

  kindOf(id: number): number {
    return this.head(id).kind;
  }

  nameOf(id: number): string {
    return this.str(this.head(id).nameOff);
  }

  /** The ids of the types with this name, any kind (indexed on first use). */
  idsNamed(name: string): number[] {
    if (!this.byName) {
      this.byName = new Map();
      for (let id = 1; id < this.ids; id++) {
        const nameOff = this.types.readUInt32LE(this.at[id]!);
        if (nameOff === 0) continue;
        const n = this.str(nameOff);
        const l = this.byName.get(n);
        if (l) l.push(id);
        else this.byName.set(n, [id]);
      }
    }
    return this.byName.get(name) ?? [];
  }

  /**
   * The id of `struct name` (a definition, not a forward declaration), or null. One pass over the
   * types comparing name bytes (no string made per type: vmlinux has ~130,000 of them).
   */
  findStruct(name: string, kind: number = KIND.STRUCT): number | null {
    const want = Buffer.from(name + '\0', 'latin1');
    for (let id = 1; id < this.ids; id++) {
      const off = this.at[id]!;
      if (((this.types.readUInt32LE(off + 4) >>> 24) & 0x1f) !== kind) continue;
      const nameOff = this.types.readUInt32LE(off);
      if (nameOff === 0) continue;
      if (nameOff + want.length <= this.strings.length ? this.strings.compare(want, 0, want.length, nameOff, nameOff + want.length) === 0 : this.str(nameOff) === name) return id;
    }
    return null;
  }

  /** Follows typedefs and const/volatile/restrict/type tags to the type they name (0: void). */
  resolve(id: number): number {
    for (let hops = 0; id !== 0; hops++) {
      if (hops > 64) throw new BtfError(`BTF type ${id}: a loop of typedefs or modifiers`);
      const h = this.head(id);
      if (h.kind !== KIND.TYPEDEF && h.kind !== KIND.VOLATILE && h.kind !== KIND.CONST && h.kind !== KIND.RESTRICT && h.kind !== KIND.TYPE_TAG) return id;
      id = h.sizeOrType;
    }
    return 0;
  }

  /** Bytes of a type (typedefs followed; pointers 8; arrays elements × count). */
  sizeOf(id: number, depth = 0): number {
    if (depth > 64) throw new BtfError(`BTF type ${id}: arrays nested too deep`);
    const r = this.resolve(id);
    if (r === 0) return 0;
    const h = this.head(r);
    switch (h.kind) {
      case KIND.INT:
      case KIND.STRUCT:
      case KIND.UNION:
      case KIND.ENUM:
      case KIND.ENUM64:
      case KIND.FLOAT:
      case KIND.DATASEC:
        return h.sizeOrType;
      case KIND.PTR:
        return 8;
      case KIND.ARRAY:
        return this.sizeOf(this.types.readUInt32LE(h.off + TYPE_HEAD), depth + 1) * this.types.readUInt32LE(h.off + TYPE_HEAD + 8);
      default:
        return 0;
    }
  }

  private members(id: number): Member[] {
    const h = this.head(id);
    if (h.kind !== KIND.STRUCT && h.kind !== KIND.UNION) throw new BtfError(`BTF type ${id} (${this.str(h.nameOff) || 'anonymous'}) is not a struct or union`);
    const out: Member[] = [];
    for (let k = 0; k < h.vlen; k++) {
      const m = h.off + TYPE_HEAD + 12 * k;
      const raw = this.types.readUInt32LE(m + 8);
      out.push({ nameOff: this.types.readUInt32LE(m), type: this.types.readUInt32LE(m + 4), bitOffset: h.kindFlag ? raw & 0xffffff : raw, bitfieldSize: h.kindFlag ? raw >>> 24 : 0 });
    }
    return out;
  }

  /**
   * A named member of a struct/union, looked for also inside its anonymous structs and unions.
   * Damaged input can make those nest into themselves: the walk skips a type already on its
   * path and gives up after a bounded number of steps, so it always ends.
   */
  private member(id: number, name: string, path: number[] = [], budget = { steps: 100_000 }): { bitOffset: number; bitfieldSize: number; type: number } | null {
    if (path.length > 32) throw new BtfError(`BTF type ${id}: anonymous members nested too deep`);
    path.push(id);
    try {
      for (const m of this.members(id)) {
        if (--budget.steps < 0) throw new BtfError(`BTF type ${path[0]}: too many anonymous members to search for ${name}`);
        if (m.nameOff !== 0) {
          if (this.str(m.nameOff) === name) return { bitOffset: m.bitOffset, bitfieldSize: m.bitfieldSize, type: m.type };
          continue;
        }
        const inner = this.resolve(m.type);
        const k = inner === 0 ? 0 : this.kindOf(inner);
        if ((k !== KIND.STRUCT && k !== KIND.UNION) || path.includes(inner)) continue;
        const found = this.member(inner, name, path, budget);
        if (found) return { ...found, bitOffset: m.bitOffset + found.bitOffset };
      }
      return null;
    } finally {
      path.pop();
    }
  }

  /**
   * Where `path` ("ioac.read_bytes": members of nested structs, by name) lies in struct
   * `structName`. A clear BtfError when the struct or a member is missing, or a step is not a struct.
   */
  memberPlace(structName: string, path: string): MemberPlace {
    const top = this.findStruct(structName);
    if (top === null) throw new BtfError(`BTF has no struct ${structName}`);
    let id = top;
    let bit = 0;
    let bitfieldSize = 0;
    let where = `struct ${structName}`;
    for (const part of path.split('.')) {
      const r = this.resolve(id);
      const k = r === 0 ? 0 : this.kindOf(r);
      if (k !== KIND.STRUCT && k !== KIND.UNION) throw new BtfError(`BTF: ${where} is not a struct or union, it has no member ${part}`);
      const m = this.member(r, part);
      if (!m) throw new BtfError(`BTF: ${where} has no member ${part}`);
      bit += m.bitOffset;
      bitfieldSize = m.bitfieldSize;
      id = m.type;
      where = `${where}.${part}`;
    }
    const typeId = this.resolve(id);
    return { bitOffset: bit, byteOffset: bit / 8, bitfieldSize, typeId, kind: typeId === 0 ? 0 : this.kindOf(typeId), size: this.sizeOf(typeId) };
  }

  /** memberPlace, required to be a whole-byte member of `size` bytes (what a BPF probe read takes). */
  byteOffset(structName: string, path: string, size?: number): number {
    const p = this.memberPlace(structName, path);
    if (p.bitfieldSize !== 0 || p.bitOffset % 8 !== 0) throw new BtfError(`BTF: struct ${structName}.${path} is a bitfield (bit ${p.bitOffset}), not a byte-addressed member`);
    if (size !== undefined && p.size !== size) throw new BtfError(`BTF: struct ${structName}.${path} is ${p.size} bytes, expected ${size}`);
    return p.byteOffset;
  }
}

/** Parses a BTF blob; a BtfError says what is wrong with it. */
export function parseBtf(buf: Buffer): Btf {
  return Btf.parse(buf);
}

/** The running kernel's BTF. */
export const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';
