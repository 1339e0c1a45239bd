/** /proc/sys/fs/dentry-state and the old dentry shrinker's arithmetic. */

export const INT_MAX = 2147483647;

export interface DentryState {
  nrDentry: number;
  nrUnused: number;
  ageLimit: number;
  wantPages: number;
  nrNegative: number | null;
}

/** /proc/sys/fs/dentry-state: nr_dentry nr_unused age_limit want_pages nr_negative dummy (fs.rst). */
export function parseDentryState(text: string): DentryState | null {
  const f = text.trim().split(/\s+/).map(Number);
  if (f.length < 4 || f.slice(0, 4).some((n) => !Number.isFinite(n))) return null;
  return { nrDentry: f[0]!, nrUnused: f[1]!, ageLimit: f[2]!, wantPages: f[3]!, nrNegative: f.length >= 5 && Number.isFinite(f[4]) ? f[4]! : null };
}

/** The old shrinker's return value: floor(nr_unused / 100) * pressure, as the int it was computed in. */
export function shrinkerProduct(nrUnused: number, pressure: number): number {
  return Math.floor(nrUnused / 100) * pressure;
}
