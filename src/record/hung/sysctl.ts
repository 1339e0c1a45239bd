/**
 * `--hung-timeout`: lower kernel.hung_task_timeout_secs and raise kernel.hung_task_warnings
 * while recording, and give them back on every way out. The original values are kept in the
 * store's meta table before anything is changed, so a recorder killed with SIGKILL is repaired
 * by the next start on the same store (restoreStale). Writes go through Host.writeSetting.
 */
import type { Host } from '../../host/host.js';

export const HUNG_TIMEOUT = '/proc/sys/kernel/hung_task_timeout_secs';
export const HUNG_WARNINGS = '/proc/sys/kernel/hung_task_warnings';
export const SAVED_META = 'hung.sysctl';

export interface SavedSysctls {
  pid: number;
  atUs: number;
  values: Record<string, string>;
}

export interface MetaStore {
  getMeta<T>(key: string): T | null;
  setMeta(key: string, value: unknown): void;
}

/** Write back saved values; returns what was restored and what failed (one line each). */
function writeBack(host: Host, values: Record<string, string>): { restored: string[]; failed: string[] } {
  const restored: string[] = [];
  const failed: string[] = [];
  for (const [path, value] of Object.entries(values)) {
    const r = host.writeSetting(path, value);
    if (r.ok) restored.push(`${path.slice('/proc/sys/'.length).replace(/\//g, '.')}=${value}`);
    else failed.push(r.reason);
  }
  return { restored, failed };
}

/** A predecessor that died with its settings lowered: put the originals back. Null when none was left. */
export function restoreStale(store: MetaStore, host: Host): { pid: number; restored: string[]; failed: string[] } | null {
  const saved = store.getMeta<SavedSysctls>(SAVED_META);
  if (!saved || !saved.values) return null;
  const r = writeBack(host, saved.values);
  if (r.failed.length === 0) store.setMeta(SAVED_META, null);
  return { pid: saved.pid, ...r };
}

export class HungSysctls {
  private saved: Record<string, string> | null = null;
  constructor(
    private readonly store: MetaStore,
    private readonly host: Host,
  ) {}

  /** Save the originals in the store first (so a crash can be repaired), then lower/raise. */
  apply(timeoutSecs: number, warnings: number): { ok: true; before: Record<string, string> } | { ok: false; reason: string } {
    const values: Record<string, string> = {};
    for (const p of [HUNG_TIMEOUT, HUNG_WARNINGS]) {
      const r = this.host.readValue(p);
      if (!r.ok) return { ok: false, reason: `cannot read ${p}: ${r.reason} (the kernel lacks CONFIG_DETECT_HUNG_TASK?)` };
      values[p] = r.text;
    }
    this.store.setMeta(SAVED_META, { pid: process.pid, atUs: Date.now() * 1000, values } satisfies SavedSysctls);
    this.saved = values;
    // warnings: -1 is "unlimited"; keep it when it is already, otherwise raise to at least `warnings`.
    const curWarn = Number(values[HUNG_WARNINGS]);
    const newWarn = curWarn < 0 ? curWarn : Math.max(curWarn, warnings);
    for (const [p, v] of [
      [HUNG_TIMEOUT, String(timeoutSecs)],
      [HUNG_WARNINGS, String(newWarn)],
    ] as const) {
      const w = this.host.writeSetting(p, v);
      if (!w.ok) {
        this.restore();
        return { ok: false, reason: `cannot write ${p}: ${w.reason}` };
      }
    }
    return { ok: true, before: values };
  }

  get active(): boolean {
    return this.saved !== null;
  }

  /** Idempotent; synchronous (exit and crash handlers). The meta row is cleared only when every value went back. */
  restore(): { restored: string[]; failed: string[] } {
    if (!this.saved) return { restored: [], failed: [] };
    const r = writeBack(this.host, this.saved);
    this.saved = null;
    if (r.failed.length === 0) {
      try {
        this.store.setMeta(SAVED_META, null);
      } catch {
        /* store closed or full: the next start restores again, which is harmless */
      }
    }
    return r;
  }
}
