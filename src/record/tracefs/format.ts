/**
 * Parsers for the layout files tracefs publishes: each event's `format`, and the ring-buffer
 * `events/header_page`. Pure: text in, layout out. Layouts are read at run time, never
 * hard-coded, so field moves between kernels (e.g. sched_process_exit gaining group_dead)
 * are handled by construction.
 */

export interface FieldFormat {
  /** Field name as the kernel spells it (`child_pid`, `filename`, `common_pid`). */
  name: string;
  /** The C declaration before the name, e.g. `pid_t`, `__data_loc char[]`, `char`. */
  type: string;
  offset: number;
  size: number;
  signed: boolean;
  /** `__data_loc`: a u32 at `offset`, low 16 bits the data offset in the record, high 16 its length. */
  dataLoc: boolean;
  /** `__rel_loc`: like __data_loc but the offset counts from the end of this field. */
  relLoc: boolean;
  /** Fixed array length (`char comm[16]` gives 16), or 0 for a scalar. */
  arrayLength: number;
  /** True for char arrays and dynamic strings: decode as a NUL-terminated string. */
  isString: boolean;
}

export interface EventFormat {
  /** `name:` line, e.g. `sched_process_exec`. */
  name: string;
  /** `ID:` line: the value of common_type in every record of this event. */
  id: number;
  /** Every field, common_* first, in file order. */
  fields: FieldFormat[];
  printFmt: string;
}

export class FormatError extends Error {}

const FIELD_RE = /^\s*field:(.+?);\s*offset:(\d+);\s*size:(\d+);(?:\s*signed:(\d+);)?/;

/** Parse one `field:...;` declaration (from a format file or header_page). */
export function parseFieldLine(line: string): FieldFormat | null {
  const m = FIELD_RE.exec(line);
  if (!m) return null;
  let decl = m[1]!.trim();
  const offset = Number(m[2]);
  const size = Number(m[3]);
  const signed = m[4] === '1';
  let dataLoc = false;
  let relLoc = false;
  if (decl.startsWith('__data_loc ')) {
    dataLoc = true;
    decl = decl.slice('__data_loc '.length).trim();
  } else if (decl.startsWith('__rel_loc ')) {
    relLoc = true;
    decl = decl.slice('__rel_loc '.length).trim();
  }
  // The name is the last identifier, optionally followed by [N] or [].
  const nm = /([A-Za-z_][A-Za-z0-9_]*)\s*(\[(\w*)\])?\s*$/.exec(decl);
  if (!nm) return null;
  const name = nm[1]!;
  let type = decl.slice(0, nm.index).trim();
  let arrayLength = 0;
  if (nm[2] !== undefined) {
    arrayLength = nm[3] && /^\d+$/.test(nm[3]) ? Number(nm[3]) : 0;
    type = type + '[]';
  } else if (/\[\]$/.test(type)) {
    // `__data_loc char[] name` puts the brackets on the type.
    arrayLength = 0;
  }
  const base = type.replace(/\[\]$/, '').trim();
  const isString = (dataLoc || relLoc || type.endsWith('[]')) && /\bchar$/.test(base);
  return { name, type, offset, size, signed, dataLoc, relLoc, arrayLength, isString };
}

/** Parse an event's `format` file. Throws FormatError naming what is missing. */
export function parseEventFormat(text: string, where = 'format'): EventFormat {
  let name: string | null = null;
  let id: number | null = null;
  let printFmt = '';
  const fields: FieldFormat[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line.startsWith('name:')) name = line.slice(5).trim();
    else if (line.startsWith('ID:')) {
      const n = Number(line.slice(3).trim());
      if (Number.isInteger(n) && n >= 0) id = n;
    } else if (line.startsWith('print fmt:')) printFmt = line.slice('print fmt:'.length).trim();
    else if (/^\s*field:/.test(line)) {
      const f = parseFieldLine(line);
      if (f) fields.push(f);
    }
  }
  if (name === null) throw new FormatError(`${where}: no name: line`);
  if (id === null) throw new FormatError(`${where}: no numeric ID: line`);
  if (!fields.some((f) => f.name === 'common_type')) throw new FormatError(`${where}: no common_type field`);
  return { name, id, fields, printFmt };
}

/** Where things sit in a ring-buffer sub-buffer ("page"), from `events/header_page`. */
export interface PageLayout {
  timestampOffset: number;
  timestampSize: number;
  commitOffset: number;
  commitSize: number;
  dataOffset: number;
  /** Bytes of data room in one page (header_page's `data` size). */
  dataSize: number;
}

export function parseHeaderPage(text: string): PageLayout {
  const byName = new Map<string, FieldFormat>();
  for (const line of text.split('\n')) {
    // header_page spells fields "field: u64 timestamp;" (note the space after the colon).
    const f = parseFieldLine(line.replace(/field:\s+/, 'field:'));
    if (f) byName.set(f.name, f);
  }
  const ts = byName.get('timestamp');
  const commit = byName.get('commit');
  const data = byName.get('data');
  if (!ts || !commit || !data) throw new FormatError('header_page: needs timestamp, commit and data fields');
  return {
    timestampOffset: ts.offset,
    timestampSize: ts.size,
    commitOffset: commit.offset,
    commitSize: commit.size,
    dataOffset: data.offset,
    dataSize: data.size,
  };
}

/** Type codes of the compressed event header, from `events/header_event`. */
export interface EventHeaderLayout {
  padding: number;
  timeExtend: number;
  timeStamp: number;
  dataMaxTypeLen: number;
  typeLenBits: number;
  timeDeltaBits: number;
}

export function parseHeaderEvent(text: string): EventHeaderLayout {
  const num = (re: RegExp, dflt: number): number => {
    const m = re.exec(text);
    return m ? Number(m[1]) : dflt;
  };
  const layout = {
    padding: num(/padding\s*:\s*type\s*==\s*(\d+)/, 29),
    timeExtend: num(/time_extend\s*:\s*type\s*==\s*(\d+)/, 30),
    timeStamp: num(/time_stamp\s*:\s*type\s*==\s*(\d+)/, 31),
    dataMaxTypeLen: num(/data max type_len\s*==\s*(\d+)/, 28),
    typeLenBits: num(/type_len\s*:\s*(\d+)\s*bits/, 5),
    timeDeltaBits: num(/time_delta\s*:\s*(\d+)\s*bits/, 27),
  };
  if (layout.typeLenBits + layout.timeDeltaBits !== 32) throw new FormatError('header_event: type_len + time_delta must be 32 bits');
  return layout;
}
