/**
 * `lantern top-io`: the io records of the store ranked by bytes, per program or per domain.
 * Read-only on the store, like `lantern events` (the store helpers come from src/record/cli.ts).
 */
import type { Command, Option } from 'commander';
import { CliError, EXIT } from '../../common/exit.js';
import { printJson } from '../../common/json.js';
import { domainNames, parseTimeArg } from '../query.js';
import type { Store } from '../store/store.js';
import { rankIo, renderTopIo, topIoJson, type IoGroupBy, type IoTotal } from './core.js';

export interface StoreHelpers {
  storeOption(): Option;
  queryStore(path: string, run: (store: Store) => boolean): void;
}

export function parseGroupBy(v: string): IoGroupBy {
  if (v !== 'program' && v !== 'domain') throw new CliError(`bad --by ${JSON.stringify(v)}: program or domain`, EXIT.USAGE);
  return v;
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < 1 || n > 100_000_000) throw new CliError(`bad --limit ${JSON.stringify(v)}: an integer from 1 to 100000000`, EXIT.USAGE);
  return n;
}

export function registerTopIo(program: Command, h: StoreHelpers): void {
  program
    .command('top-io')
    .description('programs (or domains) ranked by the disk I/O of their exited threads, from the io records of lantern record')
    .addOption(h.storeOption())
    .option('--since <time>', 'from this time (ISO 8601, "now", or a duration ago: 10m, 2h, 3d)')
    .option('--until <time>', 'up to this time')
    .option('--by <what>', 'group by program (default) or domain', parseGroupBy)
    .option('--limit <n>', 'show the first n (default 20)', positiveInt)
    .option('--json', 'one JSON array, largest first')
    .addHelpText(
      'after',
      `
Total = read_bytes + write_bytes of every exited thread (the kernel's task I/O accounting, as in
/proc/<pid>/io); cancelled_write_bytes is shown beside it. Only threads that did disk I/O are
recorded. Exit 0 also when nothing is recorded (then it says so on stderr).`,
    )
    .action((opts) => {
      const by: IoGroupBy = opts.by ?? 'program';
      const since = opts.since ? parseTimeArg(opts.since) : undefined;
      const until = opts.until ? parseTimeArg(opts.until) : undefined;
      h.queryStore(opts.store, (store) => {
        const names = by === 'domain' ? domainNames(store) : null;
        const rows: IoTotal[] = store.ioTotals({ by, sinceUs: since, untilUs: until }).map((r) => ({
          key: names ? (names.get(Number(r.key)) ?? store.name(Number(r.key))) : String(r.key),
          processes: r.processes,
          threads: r.threads,
          readBytes: r.read_bytes,
          writeBytes: r.write_bytes,
          cancelledWriteBytes: r.cancelled_write_bytes,
        }));
        const ranked = rankIo(rows, opts.limit ?? 20);
        if (opts.json) printJson(ranked.map((r) => topIoJson(r, by)));
        else if (ranked.length) process.stdout.write(renderTopIo(ranked, by).join('\n') + '\n');
        else process.stderr.write(`lantern top-io: no io records${since !== undefined ? ' in that time' : ''} in ${store.path}\n`);
        return ranked.length > 0;
      });
    });
}
