/**
 * Durations as operators write them in options and config files, one grammar for every command
 * (netconsole, console, forward, who-sends, the recorder's config): a number, then optionally one
 * unit of ns, us (or µs), ms, s, m, h (lower case: `m` is minutes, never months or megabytes).
 * What a bare number counts is the setting's own fact: seconds for timeouts and intervals, ms for
 * the `[slab] slow` threshold; each reader below says which.
 */
import { CliError, EXIT } from './exit.js';

export type DurationUnit = 'ns' | 'us' | 'µs' | 'ms' | 's' | 'm' | 'h';

const UNIT_NS: Record<DurationUnit, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h)?\s*$/;

/**
 * The one reading of a duration: `v` (text, or a number counted in `bare`, as a TOML number is)
 * in units of `into`, rounded; null when it is not a duration (negative, not finite, unknown unit).
 * `bare` null: a unit must be written (a bare number, in text or TOML, is not a duration), where a
 * setting's bare number has never had a unit.
 */
export function durationIn(v: unknown, bare: DurationUnit | null, into: DurationUnit): number | null {
  let n: number;
  let unit = bare;
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) return null;
    n = v;
  } else if (typeof v === 'string') {
    const m = DURATION.exec(v);
    if (!m) return null;
    n = Number(m[1]);
    if (m[2] !== undefined) unit = m[2] as DurationUnit;
  } else return null;
  if (unit === null) return null;
  // The factor first: 1.5 s in ms is 1.5 * 1000, the same rounding as a reader written for ms.
  return Math.round(n * (UNIT_NS[unit] / UNIT_NS[into]));
}

/** `10s`, `500ms`, `5m`, `1h`, a bare number = seconds → milliseconds; null when it is not a duration. */
export function durationMs(v: unknown): number | null {
  return durationIn(v, 's', 'ms');
}

/** The same as an option's value: milliseconds, or a usage error, one wording for every option. */
export function parseDuration(v: unknown, what: string): number {
  const ms = durationMs(v);
  if (ms === null) throw new CliError(`${what}: not a duration: ${JSON.stringify(v)} (use e.g. 10s, 500ms, 5m)`, EXIT.USAGE);
  return ms;
}
