/**
 * Unit and service start states (pure): one state per systemd unit (masked wins over enabled,
 * as systemd itself decides) and SysV init scripts with start links, for `show`, `diff` and the
 * report.
 */
import type { MaskState, Units } from './model.js';

export type UnitState = 'enabled' | MaskState | 'sysv-enabled';

export interface UnitRow {
  /** Unit name ("kdump.service") or SysV init script name ("sysstat"). */
  unit: string;
  state: UnitState;
  /** What wants it, or the SysV runlevels. */
  detail: string;
}

/** State of a systemd unit: a mask wins over enabled links (systemd does not start a masked unit). */
function systemdState(d: Units, unit: string, withMasks: boolean): UnitState | undefined {
  const m = withMasks ? d.masked?.[unit] : undefined;
  if (m) return m;
  return Object.hasOwn(d.enabled, unit) ? 'enabled' : undefined;
}

export function runlevelText(levels: string[]): string {
  return `runlevel${levels.length === 1 ? '' : 's'} ${levels.join(' ')}`;
}

/** Every unit with a state, masked first, then SysV, then enabled; by name within each. */
export function unitRows(d: Units): UnitRow[] {
  const rows: UnitRow[] = [];
  const order: Record<UnitState, number> = { masked: 0, 'masked-runtime': 0, 'sysv-enabled': 1, enabled: 2 };
  const names = new Set([...Object.keys(d.enabled), ...Object.keys(d.masked ?? {})]);
  for (const u of names) {
    const state = systemdState(d, u, true)!;
    const by = d.enabled[u] ?? [];
    const detail =
      state === 'enabled' ? by.join(', ') : state === 'masked-runtime' ? `until reboot${by.length ? `; still wanted by ${by.join(', ')}` : ''}` : by.length ? `still wanted by ${by.join(', ')}` : '';
    rows.push({ unit: u, state, detail });
  }
  for (const [s, levels] of Object.entries(d.sysv ?? {})) rows.push({ unit: s, state: 'sysv-enabled', detail: runlevelText(levels) });
  return rows.sort((a, b) => order[a.state] - order[b.state] || (a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : 0));
}

/** "3 enabled, 1 masked, 2 SysV-enabled" (parts not recorded are left out). */
export function unitCounts(d: Units): string {
  const rows = unitRows(d);
  const n = (f: (r: UnitRow) => boolean) => rows.filter(f).length;
  const parts = [`${n((r) => r.state === 'enabled')} enabled`];
  if (d.masked) parts.push(`${n((r) => r.state === 'masked' || r.state === 'masked-runtime')} masked`);
  if (d.sysv) parts.push(`${n((r) => r.state === 'sysv-enabled')} SysV-enabled`);
  return parts.join(', ');
}

export interface UnitChange {
  op: '+' | '-' | '~';
  key: string;
  old?: string;
  new?: string;
  note?: string;
}

/**
 * Unit changes between two snapshots. A part one side did not record (masks or SysV links in a
 * snapshot from an older lantern, or a sosreport without them) is not compared, and `notes` says so.
 */
export function unitChanges(a: Units, b: Units, notes: string[]): UnitChange[] {
  const out: UnitChange[] = [];
  const side = (x: unknown) => (x === undefined ? 'the baseline' : 'the current state');
  const masks = a.masked !== undefined && b.masked !== undefined;
  if (!masks && (a.masked !== undefined || b.masked !== undefined)) notes.push(`masked units: not recorded in ${side(a.masked)}, not compared`);
  const names = new Set([...Object.keys(a.enabled), ...Object.keys(b.enabled)]);
  if (masks) for (const u of [...Object.keys(a.masked!), ...Object.keys(b.masked!)]) names.add(u);
  for (const u of [...names].sort()) {
    const x = systemdState(a, u, masks);
    const y = systemdState(b, u, masks);
    if (x === y) continue;
    // The state is in old/new; a note only where it adds something ("+ kdump.service: masked" says it all).
    const until = y === 'masked-runtime' ? { note: 'until reboot' } : {};
    if (x === undefined) out.push(y === 'enabled' ? { op: '+', key: u, note: 'enabled' } : { op: '+', key: u, new: y, ...until });
    else if (y === undefined) out.push(x === 'enabled' ? { op: '-', key: u, note: 'disabled' } : { op: '-', key: u, old: x, note: 'unmasked' });
    else out.push({ op: '~', key: u, old: x, new: y, ...(y === 'enabled' ? { note: 'unmasked' } : until) });
  }
  const sysv = a.sysv !== undefined && b.sysv !== undefined;
  if (!sysv && (a.sysv !== undefined || b.sysv !== undefined)) notes.push(`SysV start links: not recorded in ${side(a.sysv)}, not compared`);
  if (sysv) {
    for (const s of [...new Set([...Object.keys(a.sysv!), ...Object.keys(b.sysv!)])].sort()) {
      const x = a.sysv![s];
      const y = b.sysv![s];
      if (!x) out.push({ op: '+', key: s, new: runlevelText(y!), note: 'SysV start link added' });
      else if (!y) out.push({ op: '-', key: s, old: runlevelText(x), note: 'SysV start link removed' });
      else if (x.join(' ') !== y.join(' ')) {
        const gone = x.filter((l) => !y.includes(l));
        const added = y.filter((l) => !x.includes(l));
        const note = [gone.length ? `SysV start link removed from ${runlevelText(gone)}` : '', added.length ? `added to ${runlevelText(added)}` : ''].filter(Boolean).join(', ');
        out.push({ op: '~', key: s, old: runlevelText(x), new: runlevelText(y), note: note.replace(/^added/, 'SysV start link added') });
      }
    }
  }
  return out.sort((p, q) => (p.key < q.key ? -1 : p.key > q.key ? 1 : 0));
}
