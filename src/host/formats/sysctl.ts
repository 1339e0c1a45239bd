/**
 * sysctl formats: `sysctl -a` output, sysctl.conf / sysctl.d files, and how systemd-sysctl orders
 * the drop-ins. One reading for `check` (persisted and runtime values) and `baseline` (the snapshot).
 */

/** Normalise a sysctl key: "kernel/sysrq" and "kernel.sysrq" are the same. */
export function sysctlKey(k: string): string {
  return k.trim().replace(/\//g, '.');
}

/** Whether two sysctl values are the same setting ("0x01b6" and "438" are; whitespace is not significant). */
export function sysctlValuesEqual(a: string, b: string): boolean {
  const x = a.trim().split(/\s+/);
  const y = b.trim().split(/\s+/);
  if (x.length !== y.length) return false;
  return x.every((v, i) => v === y[i] || (v !== '' && Number.isFinite(Number(v)) && Number(v) === Number(y[i])));
}

/**
 * `sysctl -a` output ("kernel.sysrq = 16"), keeping multi-line values: procps prints one
 * "key = line" per line of a value (dev.cdrom.info), so repeated keys are joined with newlines,
 * as the /proc/sys file reads; "key =" (an empty value) is "".
 */
export function parseSysctlAll(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf(' = ');
    const bare = eq < 0 && / =$/.test(line) ? line.length - 2 : -1;
    const at = eq >= 0 ? eq : bare;
    if (at <= 0) continue;
    const key = sysctlKey(line.slice(0, at));
    const value = eq >= 0 ? line.slice(eq + 3).trim() : '';
    const prev = m.get(key);
    m.set(key, prev === undefined ? value : `${prev}\n${value}`);
  }
  return m;
}

export interface SysctlSetting {
  key: string;
  value: string;
  /** file (live form) and 1-based line */
  file: string;
  line: number;
}

/** Parse a sysctl.conf / sysctl.d file: `key = value`, comments with # or ;, optional leading '-'. */
export function parseSysctlConf(text: string, file: string): { settings: SysctlSetting[]; bad: number } {
  const settings: SysctlSetting[] = [];
  let bad = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) return;
    const eq = line.indexOf('=');
    // "-key" alone is valid systemd syntax (exclude key from a glob assignment): not malformed.
    if (eq < 0 && /^-[\w.*/-]+$/.test(line)) return;
    if (eq <= 0) {
      bad++;
      return;
    }
    let key = line.slice(0, eq).trim();
    if (key.startsWith('-')) key = key.slice(1);
    settings.push({ key: sysctlKey(key), value: line.slice(eq + 1).trim(), file, line: i + 1 });
  });
  return { settings, bad };
}

/** Directories systemd-sysctl reads, highest priority first (sysctl.d(5)); /etc/sysctl.conf comes last of all. */
export const SYSCTL_DIRS = ['/etc/sysctl.d', '/run/sysctl.d', '/usr/local/lib/sysctl.d', '/usr/lib/sysctl.d', '/lib/sysctl.d'];

/**
 * Order the drop-in files the way systemd-sysctl applies them: by file name across all
 * directories, a name in a higher-priority directory masking the same name elsewhere.
 * Input: [dir, name] pairs; output: live paths in application order.
 */
export function sysctlApplyOrder(files: { dir: string; name: string }[]): string[] {
  const byName = new Map<string, string>();
  for (const dir of SYSCTL_DIRS) {
    for (const f of files.filter((x) => x.dir === dir && x.name.endsWith('.conf'))) {
      if (!byName.has(f.name)) byName.set(f.name, `${dir}/${f.name}`);
    }
  }
  return [...byName.keys()].sort().map((n) => byName.get(n)!);
}
