/** The kernel's release string and build configuration (/boot/config-*). */

export interface KernelRelease {
  raw: string;
  version: [number, number, number];
  /** The part after the first '-', e.g. "358.23.2.el6.x86_64". */
  release: string;
  /** RHEL major from the elN tag, if any. */
  rhelMajor: number | null;
}

export function parseKernelRelease(raw: string): KernelRelease | null {
  const t = raw.trim();
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?(?:-(.*))?$/.exec(t.split(/\s+/)[0] ?? '');
  if (!m) return null;
  const release = m[4] ?? '';
  const el = /\.el(\d+)/.exec(release);
  return { raw: t, version: [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)], release, rhelMajor: el ? Number(el[1]) : null };
}

/** True when version a < b, comparing [major, minor, patch]. */
export function versionBefore(a: [number, number, number], b: [number, number, number]): boolean {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

/** Kernel config (/boot/config-*): CONFIG_X -> value ("y", "17", ...); "is not set" -> "n". */
export function parseKernelConfig(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const a = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (a) m.set(a[1]!, a[2]!.replace(/^"|"$/g, ''));
    const b = /^# (CONFIG_\w+) is not set/.exec(line);
    if (b) m.set(b[1]!, 'n');
  }
  return m;
}
