/**
 * Durations as operators write them in options and config files: `10s`, `500ms`, `5m`, `1h`; a bare
 * number is seconds. One parser for every command (netconsole, console, forward, who-sends).
 */
import { CliError, EXIT } from './exit.js';

/** `10s`, `500ms`, `5m`, `1h`, plain number = seconds → milliseconds. */
export function parseDuration(v: string | number, what: string): number {
  if (typeof v === 'number' && v >= 0) return Math.round(v * 1000);
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(String(v).trim());
  if (!m) throw new CliError(`${what}: not a duration: ${JSON.stringify(v)} (use e.g. 10s, 500ms, 5m)`, EXIT.USAGE);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * mult);
}
