/** SysV init: `chkconfig --list` and the rc?.d start links. */
import type { Parsed } from './parsed.js';

/**
 * `chkconfig --list` (RHEL 5/6, and RHEL 7+ for the SysV services left): "name  0:off 1:off 2:on ...".
 * Each service with the runlevels it starts in ([] when off everywhere). The xinetd block and the
 * RHEL 7+ "Note:" paragraph are not services; other lines that start like one but do not have
 * the seven runlevel columns are bad.
 */
export function parseChkconfig(text: string): Parsed<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  let bad = 0;
  let xinetd = false;
  for (const line of text.split('\n')) {
    if (/^xinetd based services:/.test(line)) xinetd = true;
    if (xinetd || !line.trim() || /^\s/.test(line) || /^Note:/.test(line)) continue;
    const m = /^(\S+)\s+((?:[0-6]:(?:on|off)\s*){7})$/.exec(line.trimEnd());
    if (!m) {
      bad++;
      continue;
    }
    map.set(
      m[1]!,
      [...m[2]!.matchAll(/([0-6]):on/g)].map((x) => x[1]!),
    );
  }
  return { value: map, bad };
}

/**
 * The services `chkconfig --list` starts somewhere, with their runlevels (services off everywhere
 * are left out, as a service with only K links is when the rc directories are read).
 */
export function parseChkconfigList(text: string): Parsed<Map<string, string[]>> {
  const p = parseChkconfig(text);
  return { value: new Map([...p.value].filter(([, on]) => on.length > 0)), bad: p.bad };
}

/** Whether a service starts in a multi-user runlevel (3 or 5), the ones a server boots into. */
export function startsMultiUser(runlevels: readonly string[]): boolean {
  return runlevels.includes('3') || runlevels.includes('5');
}

/** The service a SysV start link names ("S26kdump" -> "kdump", Debian "S01dbus" -> "dbus"); null for K links and other files. */
export function sysvStartService(entry: string): string | null {
  const m = /^S\d{1,3}([A-Za-z0-9_.@+-]+)$/.exec(entry);
  return m ? m[1]! : null;
}
