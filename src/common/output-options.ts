/**
 * The output options `netconsole listen` and `console listen` share: the same flags, help and
 * meaning (read by netconsole/config.ts's resolveConfig under OUTPUT_KEYS), for lines from a `sender` or a
 * `source`. In two groups, so each command keeps its own options where they belong in its help.
 */
import { Option, type Command } from 'commander';

/** Where lines go and how they look: -d, --format, --json, --time. */
export function addFormatOptions(cmd: Command, defaultDir: string): Command {
  return cmd
    .option('-d, --dir <dir>', `output directory (default ${defaultDir})`)
    .addOption(new Option('--format <format>', 'line format (default text)').choices(['text', 'json', 'udplogger']))
    .option('--json', 'JSON lines (same as --format json)')
    .addOption(new Option('--time <zone>', 'timestamps and day switching in UTC or local time (default utc)').choices(['utc', 'local']));
}

/** The files and lines: --combined, --stdout, --max-file-size, --partial-timeout, --max-line. */
export function addFileOptions(cmd: Command, who: 'sender' | 'source'): Command {
  return cmd
    .option('--combined', `also write every ${who} into <dir>/YYYY-MM-DD.log (udplogger's layout with --format udplogger)`)
    .option('--stdout', 'also stream lines to standard output')
    .option('--max-file-size <size>', 'switch to the next file (YYYY-MM-DD.N.log) at this size; 0 = by day only (default 100M)')
    .option('--partial-timeout <time>', `write a line without its end, marked partial, after this much quiet from its ${who} (default 10s)`)
    .option('--max-line <size>', 'write a line without its end, marked partial, at this length (default 64k)');
}

/** The daemon's state and its output's limits: --state-dir, the stats intervals, --max-buffer, open files, retries, --file-mode. */
export function addStateOptions(cmd: Command, defaultStateDir: string): Command {
  return cmd
    .option('--state-dir <dir>', `where stats.json is kept (default ${defaultStateDir})`)
    .option('--stats-interval <time>', 'rewrite stats.json this often (default 10s)')
    .option('--stats-log-interval <time>', 'log a stats line to stderr this often (default 5m)')
    .option('--max-buffer <size>', 'most bytes held in memory while the disk is slow or failing (default 64M)')
    .option('--max-open-files <n>', 'most log files open at once (default 4096)')
    .option('--idle-close <time>', 'close a log file unused for this long (default 60s)')
    .option('--retry <time>', 'retry a failed write after this long (default 1s)')
    .option('--file-mode <octal>', 'mode of created log files (default 0640)');
}
