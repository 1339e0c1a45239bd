/** Package version lists and comparisons shared by the dpkg and rpm readers. */

/** Add a version to a name -> versions map, keeping the list sorted and unique. */
export function addVersion(map: Map<string, string[]>, name: string, version: string): void {
  const list = map.get(name) ?? [];
  if (!list.includes(version)) list.push(version);
  list.sort();
  map.set(name, list);
}

/**
 * rpmvercmp: compare two version or release strings the way RPM does (alternating
 * numeric / alphabetic segments, numeric beats alpha, longer wins). Returns -1, 0, 1.
 */
export function rpmvercmp(a: string, b: string): -1 | 0 | 1 {
  if (a === b) return 0;
  const segs = (s: string) => s.match(/\d+|[a-zA-Z]+|~/g) ?? [];
  const sa = segs(a);
  const sb = segs(b);
  for (let i = 0; i < Math.max(sa.length, sb.length); i++) {
    const x = sa[i];
    const y = sb[i];
    if (x === undefined) return y === '~' ? 1 : -1;
    if (y === undefined) return x === '~' ? -1 : 1;
    if (x === '~' || y === '~') {
      if (x !== y) return x === '~' ? -1 : 1;
      continue;
    }
    const xn = /^\d/.test(x);
    const yn = /^\d/.test(y);
    if (xn && !yn) return 1;
    if (!xn && yn) return -1;
    if (xn) {
      const xi = BigInt(x);
      const yi = BigInt(y);
      if (xi !== yi) return xi < yi ? -1 : 1;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Compare two package versions (optional "epoch:" prefix, then RPM-style segments). */
export function compareVersions(a: string, b: string, cmp: (x: string, y: string) => -1 | 0 | 1 = rpmvercmp): -1 | 0 | 1 {
  const ea = /^(\d+):/.exec(a);
  const eb = /^(\d+):/.exec(b);
  const na = ea ? Number(ea[1]) : 0;
  const nb = eb ? Number(eb[1]) : 0;
  if (na !== nb) return na < nb ? -1 : 1;
  return cmp(a.replace(/^\d+:/, ''), b.replace(/^\d+:/, ''));
}

/** The newest of a package's installed versions (RPM ordering), or null for none. */
export function newestVersion(versions: readonly string[]): string | null {
  return versions.length ? versions.reduce((a, b) => (compareVersions(a, b) >= 0 ? a : b)) : null;
}
