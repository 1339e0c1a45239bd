/**
 * Log rotation sets: `messages`, `messages.1`, `messages-20240101`, `kern.log.2.gz`, `syslog.1` …
 * are one log cut in pieces. Pure: names in, ordered sets out. Rotation is recognised by name
 * (the only thing that says which piece came first); compression is still recognised by content.
 *
 * Order, oldest first: dated pieces (`-YYYYMMDD[HH…]`, by date), then numbered pieces (`.N`,
 * highest N first), then the live file without a suffix.
 */
import { basename, dirname, join } from 'node:path';

/** Compression suffixes logrotate adds after the rotation suffix. */
const COMPRESS_SUFFIX = '(?:\\.(?:gz|xz|bz2|zst|zstd))?';
const NUMBERED_RE = new RegExp(`^(.+?)\\.(\\d{1,4})${COMPRESS_SUFFIX}$`);
const DATED_RE = new RegExp(`^(.+?)-(\\d{8}(?:\\d{2}){0,3})${COMPRESS_SUFFIX}$`);

export interface RotationPiece {
  /** Directory + base name: pieces with the same key belong to one set. */
  key: string;
  /** 0 dated, 1 numbered, 2 live (no suffix). */
  rankClass: 0 | 1 | 2;
  /** Within the class: dated → the date digits; numbered → N. */
  rankValue: string | number;
}

/**
 * Reads a path's rotation suffix. The base name must hold a letter, so that files named after
 * addresses (`10.1.2.3`, a netconsole receiver's per-host file) are never taken for `10.1.2` piece 3.
 */
export function rotationPiece(path: string): RotationPiece {
  const dir = dirname(path);
  const name = basename(path);
  let m = DATED_RE.exec(name);
  if (m && /[A-Za-z]/.test(m[1]!)) return { key: join(dir, m[1]!), rankClass: 0, rankValue: m[2]!.padEnd(14, '0') };
  m = NUMBERED_RE.exec(name);
  if (m && /[A-Za-z]/.test(m[1]!)) return { key: join(dir, m[1]!), rankClass: 1, rankValue: Number(m[2]) };
  return { key: join(dir, name.replace(/\.(?:gz|xz|bz2|zst|zstd)$/, '')), rankClass: 2, rankValue: 0 };
}

/** Compares two pieces of one set: negative when `a` is older. */
export function olderFirst(a: RotationPiece, b: RotationPiece): number {
  if (a.rankClass !== b.rankClass) return a.rankClass - b.rankClass;
  if (a.rankClass === 0) return (a.rankValue as string) < (b.rankValue as string) ? -1 : (a.rankValue as string) > (b.rankValue as string) ? 1 : 0;
  if (a.rankClass === 1) return (b.rankValue as number) - (a.rankValue as number);
  return 0;
}

/**
 * Groups items into rotation sets, each ordered oldest → newest. A set takes the place of its
 * first member in the input order; items that share no base name stay single. `pathOf` returns
 * null for items that are never grouped (standard input).
 */
export interface RotationSet<T> {
  key: string | null;
  /** Oldest first. */
  items: T[];
  /** Indexes into `items` of pieces with a missing numbered piece just before them (`.3`, then `.1`). */
  gapsBefore: number[];
}

export function groupRotations<T>(items: T[], pathOf: (item: T) => string | null): Array<RotationSet<T>> {
  const sets: Array<{ key: string | null; items: Array<{ item: T; piece: RotationPiece | null }> }> = [];
  const byKey = new Map<string, (typeof sets)[number]>();
  for (const item of items) {
    const p = pathOf(item);
    if (p === null) {
      sets.push({ key: null, items: [{ item, piece: null }] });
      continue;
    }
    const piece = rotationPiece(p);
    let set = byKey.get(piece.key);
    if (!set) {
      set = { key: piece.key, items: [] };
      byKey.set(piece.key, set);
      sets.push(set);
    }
    // The same path given twice is read twice, as before; only distinct pieces are ordered.
    set.items.push({ item, piece });
  }
  return sets.map((s) => {
    const sorted = s.items.map((x, i) => ({ ...x, i })).sort((a, b) => (a.piece && b.piece ? olderFirst(a.piece, b.piece) || a.i - b.i : a.i - b.i));
    const gapsBefore: number[] = [];
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!.piece;
      const cur = sorted[i]!.piece;
      if (!prev || !cur || prev.rankClass !== 1) continue;
      const n = prev.rankValue as number;
      // `.2` then `.1`, or `.1` (or `.0`) then the live file, are adjacent; anything else skipped a piece.
      if ((cur.rankClass === 1 && (cur.rankValue as number) < n - 1) || (cur.rankClass === 2 && n > 1)) gapsBefore.push(i);
    }
    return { key: s.key, items: sorted.map((x) => x.item), gapsBefore };
  });
}
