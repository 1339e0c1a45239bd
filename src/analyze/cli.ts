/** `lantern analyze PATH…`: incidents and a timeline from kernel logs. */
import type { Command } from 'commander';
import { CliError, EXIT } from '../common/exit.js';
import { printJson } from '../common/json.js';
import { paint } from '../common/term.js';
import { analyzePaths, defaultJobs } from './analyze.js';
import { TRIGGER_SEARCH, type TriggerSearch } from './blockindex.js';
import { POOL_MIN_BYTES } from './indexpool.js';
import type { Filters } from './group.js';
import { INCIDENT_KINDS, isIncidentKind, type IncidentKind } from './model.js';
import { renderText, toJson } from './render.js';

interface AnalyzeCliOptions {
  json?: boolean;
  since?: string;
  until?: string;
  kind?: string[];
  host?: string[];
  jobs?: string;
}

/** Parses --jobs: a whole number of threads, 1 to 64. */
export function parseJobs(value: string | undefined): number {
  if (value === undefined) return defaultJobs();
  const v = value.trim();
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 64) throw new CliError(`bad --jobs '${value}': a whole number from 1 to 64`, EXIT.USAGE);
  return Number(v);
}

/** Parses --since/--until: ISO 8601 (a zone-less value is read like zone-less log stamps, as UTC), or a relative `-2h`/`30m ago`. */
export function parseTimeArg(value: string, now: Date = new Date()): number {
  const v = value.trim();
  const rel = /^-?(\d+(?:\.\d+)?)\s*(s|m|h|d)(?:\s+ago)?$/.exec(v);
  if (rel) {
    const mult = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    return now.getTime() - Number(rel[1]) * mult;
  }
  const iso = /^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(\.\d+)?)?)?(Z|[+-]\d\d:?\d\d)?$/.exec(v);
  if (!iso) throw new CliError(`bad time '${value}': use ISO 8601 (2024-05-03T06:00:00, 2024-05-03 06:00Z) or a relative time (2h, 30m ago)`, EXIT.USAGE);
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac, zone] = iso;
  let ms = Date.UTC(+y!, +mo! - 1, +d!, +h, +mi, +s) + (frac ? Math.round(Number('0' + frac) * 1000) : 0);
  if (zone && zone !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4))) * 60000;
  }
  if (!Number.isFinite(ms)) throw new CliError(`bad time '${value}'`, EXIT.USAGE);
  return ms;
}

export type TimeBound = { wallMs: number } | { bootSec: number };

const BOOT_REL_RE = /^boot\s*\+\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?$/;

/**
 * Parses a --since/--until value: `boot+SECONDS` (also `boot+10m`, `boot+2h`): time since the boot
 * of each incident's stream, compared with the kernel stamp `[ 600.000000]`; anything else is a
 * wall-clock time (parseTimeArg). A bare number is refused: it could mean kernel seconds or epoch.
 */
export function parseTimeBound(value: string, now: Date = new Date()): TimeBound {
  const v = value.trim();
  const b = BOOT_REL_RE.exec(v);
  if (b) return { bootSec: Number(b[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(b[2] ?? 's') as 's' | 'm' | 'h' | 'd'] };
  if (/^\d+(?:\.\d+)?$/.test(v)) throw new CliError(`bad time '${value}': for seconds since boot write boot+${v}; for a wall-clock time use ISO 8601; for a relative time ${v}s or ${v}m`, EXIT.USAGE);
  return { wallMs: parseTimeArg(v, now) };
}

function collect(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

export function buildFilters(o: AnalyzeCliOptions): Filters {
  const f: Filters = {};
  if (o.since !== undefined) {
    const b = parseTimeBound(o.since);
    if ('bootSec' in b) f.sinceBootSec = b.bootSec;
    else f.sinceMs = b.wallMs;
  }
  if (o.until !== undefined) {
    const b = parseTimeBound(o.until);
    if ('bootSec' in b) f.untilBootSec = b.bootSec;
    else f.untilMs = b.wallMs;
  }
  if (o.kind && o.kind.length) {
    const kinds = new Set<IncidentKind>();
    for (const k of o.kind) {
      if (!isIncidentKind(k)) throw new CliError(`unknown kind '${k}': one of ${INCIDENT_KINDS.join(', ')}`, EXIT.USAGE);
      kinds.add(k);
    }
    f.kinds = kinds;
  }
  if (o.host && o.host.length) f.hosts = new Set(o.host);
  return f;
}

/**
 * The line telling a user of a large run that the trigger search ran in JavaScript because the
 * addon is missing (null: it did not, it was asked for, or the run was small enough not to matter).
 */
export function fallbackNote(search: TriggerSearch, bytes: number): string | null {
  if (search.native !== null || search.forced || bytes < POOL_MIN_BYTES) return null;
  return `lantern analyze: note: the trigger search ran in JavaScript (2-4x slower): ${search.fallbackReason}\n`;
}

export function register(program: Command): void {
  program
    .command('analyze')
    .description('read kernel logs (dmesg, syslog, journal, netconsole, serial, vmcore-dmesg; gz/xz/zst) and report incidents on a timeline')
    .argument('[paths...]', 'files, directories (read recursively, regular files only), FIFOs and pipes (<(cmd), /dev/stdin); - or nothing reads stdin')
    .option('--json', 'print one JSON document (schema: docs/analyze.md)')
    .option('--since <time>', 'only incidents at or after this time: wall clock (ISO 8601, or 2h / 30m ago) or seconds since boot (boot+600, boot+10m)')
    .option('--until <time>', 'only incidents at or before this time (same forms as --since)')
    .option('--kind <kind>', `only these kinds (repeat or comma-separate): ${INCIDENT_KINDS.join(', ')}`, collect)
    .option('--host <host>', 'only incidents from this host (repeat or comma-separate)', collect)
    .option('--jobs <n>', 'worker threads searching large inputs for trigger words (default: 1 = none with the native search, else the number of CPUs); the output is the same for any value')
    .addHelpText('after', '\nExit status: 0 analysed (with or without incidents), 64 usage error, 66 no input could be read.\nSee docs/analyze.md for the formats, kinds and the --json schema.')
    .action(async (paths: string[], o: AnalyzeCliOptions) => {
      const filters = buildFilters(o);
      const jobs = parseJobs(o.jobs);
      const tty = Boolean(process.stderr.isTTY);
      let lastTick = 0;
      const onProgress = tty
        ? (name: string, bytes: number) => {
            const now = Date.now();
            if (now - lastTick < 500) return;
            lastTick = now;
            process.stderr.write(`\r\x1b[Kanalyze: ${name.slice(-50)} ${(bytes / (1 << 20)).toFixed(0)} MiB`);
          }
        : undefined;
      const res = await analyzePaths(paths, { filters, jobs, ...(onProgress ? { onProgress } : {}) });
      if (tty && lastTick) process.stderr.write('\r\x1b[K');
      const readable = res.inputs.filter((i) => i.format !== 'unreadable');
      for (const i of res.inputs) {
        if (i.error) process.stderr.write(`lantern analyze: ${i.name}: ${i.error}${i.truncated ? ` (truncated: the ${i.lines} lines before the cut were analysed)` : ''}\n`);
      }
      const note = fallbackNote(
        TRIGGER_SEARCH,
        res.inputs.reduce((n, i) => n + i.bytes, 0),
      );
      if (note) process.stderr.write(note);
      if (readable.length === 0) throw new CliError('no input could be read', EXIT.NOINPUT);
      if (o.json) printJson(toJson(res));
      else process.stdout.write(renderText(res, paint(process.stdout)));
    });
}
