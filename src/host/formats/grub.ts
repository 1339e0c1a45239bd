/** Boot loader configuration: BLS entries, grubenv, /etc/default/grub, legacy grub.conf (the next boot's kernel arguments). */

/** A BLS entry (/boot/loader/entries/*.conf): its kernel path, version and options line. */
export function parseBlsEntry(text: string): { version: string | null; linux: string | null; options: string | null } {
  const get = (k: string) => new RegExp(`^\\s*${k}\\s+(.*?)\\s*$`, 'm').exec(text)?.[1] ?? null;
  return { version: get('version'), linux: get('linux'), options: get('options') };
}

/** Expand `$kernelopts`-style references in a BLS options line from grubenv variables. */
export function expandGrubVars(options: string, vars: Map<string, string>): string {
  return options.replace(/\$\{?(\w+)\}?/g, (_, name: string) => vars.get(name) ?? '');
}

/** /boot/grub2/grubenv: `name=value` lines (padding '#' lines ignored). */
export function parseGrubenv(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const r = /^([A-Za-z_]\w*)=(.*)$/.exec(line);
    if (r) m.set(r[1]!, r[2]!);
  }
  return m;
}

/**
 * The kernel arguments /etc/default/grub (and its grub.d/*.cfg snippets, applied in order) give:
 * GRUB_CMDLINE_LINUX followed by GRUB_CMDLINE_LINUX_DEFAULT, with `$VAR` references expanded.
 */
export function grubDefaultArgs(texts: string[]): string | null {
  const vars = new Map<string, string>();
  let seen = false;
  for (const text of texts) {
    for (const raw of text.split('\n')) {
      const r = /^\s*(?:export\s+)?(GRUB_CMDLINE_LINUX(?:_DEFAULT)?)=(?:"([^"]*)"|'([^']*)'|(\S*))/.exec(raw);
      if (!r) continue;
      seen = true;
      const value = r[2] ?? r[3] ?? r[4] ?? '';
      vars.set(
        r[1]!,
        value.replace(/\$\{?(GRUB_CMDLINE_LINUX(?:_DEFAULT)?)\}?/g, (_, n: string) => vars.get(n) ?? ''),
      );
    }
  }
  if (!seen) return null;
  return `${vars.get('GRUB_CMDLINE_LINUX') ?? ''} ${vars.get('GRUB_CMDLINE_LINUX_DEFAULT') ?? ''}`.trim().replace(/\s+/g, ' ');
}

/** Legacy GRUB (RHEL 6 /boot/grub/grub.conf): the `kernel` line arguments of the default entry. */
export function grubLegacyDefault(text: string): { title: string; args: string } | null {
  const def = Number(/^\s*default\s*=?\s*(\d+)/m.exec(text)?.[1] ?? 0);
  const entries: { title: string; args: string }[] = [];
  let cur: { title: string; args: string } | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const t = /^title\s+(.*)$/.exec(line);
    if (t) {
      cur = { title: t[1]!, args: '' };
      entries.push(cur);
      continue;
    }
    const k = /^kernel\s+\S+\s*(.*)$/.exec(line);
    if (k && cur) cur.args = k[1]!;
  }
  return entries[def] ?? entries[0] ?? null;
}
