/**
 * Questions over stored access lists (pure): one domain's list, "which files does this program
 * read and write" (files-of) and "who uses this path" (who-uses).
 */
import type { AccessEntry } from './lists.js';

/** The operands of an access line after `file OP`: paths (and a mode, cmd or second path). */
export function lineParts(line: string): { category: string; op: string; operands: string[] } {
  const [category = '', op = '', ...operands] = line.split(' ');
  return { category, op, operands };
}

/** True when `program` names the domain's last program: the full path, or its base name. */
export function domainRunsProgram(domain: string, program: string): boolean {
  const last = domain.slice(domain.lastIndexOf(' ') + 1);
  if (program.includes('/')) return last === program;
  return last.slice(last.lastIndexOf('/') + 1) === program;
}

export interface FilesOf {
  program: string;
  domains: string[];
  /** Per operation (read, write, append, create, …), the sorted distinct paths. */
  byOp: Record<string, string[]>;
}

/** What the program's domains (every history that ends in it) touched, successes only. */
export function filesOf(program: string, lists: Array<{ domain: string; entries: AccessEntry[] }>): FilesOf {
  const mine = lists.filter((l) => domainRunsProgram(l.domain, program));
  const byOp = new Map<string, Set<string>>();
  for (const l of mine) {
    for (const e of l.entries) {
      if (e.errno) continue;
      const p = lineParts(e.line);
      if (p.category !== 'file') continue;
      const set = byOp.get(p.op) ?? new Set<string>();
      // rename has two paths; the rest one path and maybe a mode/cmd.
      if (p.op === 'rename') p.operands.forEach((x) => set.add(x));
      else if (p.operands[0]) set.add(p.operands[0]);
      byOp.set(p.op, set);
    }
  }
  const out: Record<string, string[]> = {};
  for (const [op, set] of [...byOp].sort((a, b) => a[0].localeCompare(b[0]))) out[op] = [...set].sort();
  return { program, domains: mine.map((l) => l.domain).sort(), byOp: out };
}

/** A glob over a path (`*` any run of characters, `?` one) or the exact path. */
function pathMatcher(pattern: string): (p: string) => boolean {
  if (!/[*?]/.test(pattern)) return (p) => p === pattern;
  const re = new RegExp(
    '^' +
      pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.') +
      '$',
  );
  return (p) => re.test(p);
}

export interface UseRow {
  domain: string;
  line: string;
  errno: string;
  count: number;
  firstUs: number;
  lastUs: number;
}

/** Every domain's lines that name the path (or match the glob), failures included. */
export function whoUses(path: string, lists: Array<{ domain: string; entries: AccessEntry[] }>): UseRow[] {
  const match = pathMatcher(path);
  const rows: UseRow[] = [];
  for (const l of lists) {
    for (const e of l.entries) {
      const p = lineParts(e.line);
      if (p.category !== 'file') continue;
      const paths = p.op === 'rename' ? p.operands : p.operands.slice(0, 1);
      if (paths.some(match)) rows.push({ domain: l.domain, line: e.line, errno: e.errno, count: e.count, firstUs: e.firstUs, lastUs: e.lastUs });
    }
  }
  return rows.sort((a, b) => a.domain.localeCompare(b.domain) || a.line.localeCompare(b.line));
}
