/**
 * systemd's unit listings: `systemctl list-unit-files` (unit -> file state) and `systemctl
 * list-units` (unit -> load/active/sub). Every unit type is read; "is this unit enabled?" has one answer.
 */

/** The unit types `systemctl list-unit-files` lists and unit directories hold. */
export const UNIT_TYPES = ['service', 'socket', 'timer', 'target', 'path', 'mount', 'automount', 'swap', 'slice', 'scope', 'device'] as const;
const TYPES = UNIT_TYPES.join('|');
/** A unit file name: no slash, no white space, a known type. */
export const UNIT_NAME = new RegExp(`^[^/\\s]+\\.(?:${TYPES})$`);
const UNIT_FILE_LINE = new RegExp(`^([^/\\s]+\\.(?:${TYPES}))\\s+(\\S+)`);
const LIST_UNITS_LINE = new RegExp(`^[\\s●*]*([^/\\s]+\\.(?:${TYPES}))\\s+(\\S+)\\s+(\\S+)\\s+(\\S+)`);

/** `systemctl list-unit-files`: unit -> state (enabled, enabled-runtime, disabled, static, alias, masked, masked-runtime, …). */
export function parseUnitFiles(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const r = UNIT_FILE_LINE.exec(line);
    if (r) m.set(r[1]!, r[2]!);
  }
  return m;
}

/** Units enabled by a link of their own: "enabled" (in /etc) and "enabled-runtime" (/run), sorted. */
export function enabledFromUnitFiles(text: string): string[] {
  return [...parseUnitFiles(text)]
    .filter(([, st]) => st === 'enabled' || st === 'enabled-runtime')
    .map(([u]) => u)
    .sort();
}

export type MaskState = 'masked' | 'masked-runtime';

/** Masked units: "masked" (in /etc or /usr/lib) or "masked-runtime" (/run, until reboot), sorted by name. */
export function maskedFromUnitFiles(text: string): Map<string, MaskState> {
  const out = [...parseUnitFiles(text)].filter((e): e is [string, MaskState] => e[1] === 'masked' || e[1] === 'masked-runtime');
  return new Map(out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** `systemctl list-units`: unit -> "active running" etc. Leading "●" markers are dropped. */
export function parseListUnits(text: string): Map<string, { active: string; sub: string }> {
  const m = new Map<string, { active: string; sub: string }>();
  for (const line of text.split('\n')) {
    const r = LIST_UNITS_LINE.exec(line);
    if (r) m.set(r[1]!, { active: r[3]!, sub: r[4]! });
  }
  return m;
}
