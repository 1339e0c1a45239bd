/** `lantern audit enrich`: the process history of lantern record, added to audit records. */
import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { CliError, EXIT } from '../common/exit.js';
import { Host } from '../host/host.js';
import { DEFAULT_STORE, Store } from '../record/store/store.js';
import { Enricher, summaryLine } from './enrich.js';
import { drain, follow, openOrThrow } from './follow.js';
import { StoreProcResolver } from './resolve.js';
import { closeSync } from 'node:fs';
import { hostname } from 'node:os';

export const DEFAULT_AUDIT_LOG = '/var/log/audit/audit.log';

function intOpt(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) throw new CliError(`bad ${name} ${JSON.stringify(v)}: an integer from ${min} to ${max}`, EXIT.USAGE);
    return n;
  };
}

async function write(text: string): Promise<void> {
  if (!text) return;
  if (!process.stdout.write(Buffer.from(text, 'latin1'))) await once(process.stdout, 'drain');
}

function openStore(path: string, explicit: boolean, useProc: boolean): Store | null {
  if (!existsSync(path)) {
    if (explicit) throw new CliError(`no record store at ${path} (is lantern record running? see --store)`, EXIT.NOINPUT);
    process.stderr.write(`lantern audit enrich: no record store at ${path}: ${useProc ? 'histories come from /proc only' : 'every pid is unknown (--no-proc)'}\n`);
    return null;
  }
  return Store.openReadonly(path);
}

export function register(program: Command): void {
  const audit = program.command('audit').description('audit logs with the process history of lantern record');
  audit
    .command('enrich')
    .description(`add the process history (TaskTracker form) to every audit record with a pid; FILE "-" is stdin, --follow without FILE follows ${DEFAULT_AUDIT_LOG}`)
    .argument('[file...]', 'audit log files (default: stdin, or with --follow the audit log)')
    .option('--follow', 'follow the file across rotation until SIGTERM/SIGINT')
    .addOption(new Option('--store <path>', 'record store (SQLite file)').default(DEFAULT_STORE).env('LANTERN_RECORD_STORE'))
    .option('--settle-ms <ms>', 'resolve a record only once it is this old, so the recorder has stored its exec', intOpt('--settle-ms', 0, 60_000), 1500)
    .option('--no-proc', 'do not fall back to /proc for pids the store does not know')
    .option('--poll-ms <ms>', 'with --follow: how often the file is checked', intOpt('--poll-ms', 10, 10_000), 200)
    .action(async (files: string[], opts: { follow?: boolean; store: string; settleMs: number; proc: boolean; pollMs: number }, cmd: Command) => {
      if (opts.follow && files.length > 1) throw new CliError('--follow takes one file (or none for the audit log)', EXIT.USAGE);
      if (opts.follow && files[0] === '-') throw new CliError('--follow reads a file, not stdin (pipe into "lantern audit enrich -" instead)', EXIT.USAGE);
      const inputs = opts.follow ? [files[0] ?? DEFAULT_AUDIT_LOG] : files.length ? files : ['-'];
      // Open every input first: a bad name is one error before any output.
      const fds = new Map<string, number>();
      if (!opts.follow) for (const f of inputs) if (f !== '-' && !fds.has(f)) fds.set(f, openOrThrow(f));
      const store = openStore(opts.store, cmd.getOptionValueSource('store') !== 'default', opts.proc);
      const enricher = new Enricher({ resolver: new StoreProcResolver(store, new Host(), opts.proc), settleMs: opts.settleMs, localNodes: localNodeNames() });
      try {
        if (opts.follow) await runFollow(inputs[0]!, opts.pollMs, enricher);
        else await runFiles(inputs, fds, enricher);
      } finally {
        for (const fd of fds.values()) closeSync(fd);
        store?.close();
        process.stderr.write(summaryLine(enricher.counts) + '\n');
      }
    });
}

async function runFollow(path: string, pollMs: number, enricher: Enricher): Promise<void> {
  const f = follow(path, pollMs);
  const stop = () => f.stop();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    for (;;) {
      const n = await f.next();
      if ('stopped' in n) break;
      if ('boundary' in n) await write(await enricher.end(true));
      else await write(await enricher.push(n.chunk));
    }
    await write(await enricher.end());
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    if (f.events.rotations || f.events.truncations) process.stderr.write(`lantern audit enrich: followed ${path} across ${f.events.rotations} rotations, ${f.events.truncations} truncations\n`);
  }
}

/**
 * Each input in turn. SIGTERM/SIGINT (e.g. ending `tail -f audit.log | lantern audit enrich -`)
 * stop the reading: what was read is written, the partial last line included, and the summary
 * says how much that was.
 */
async function runFiles(inputs: string[], fds: Map<string, number>, enricher: Enricher): Promise<void> {
  let stopped = false;
  const stop = () => {
    stopped = true;
    process.stdin.pause();
    process.stdin.emit('end');
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    for (const [i, f] of inputs.entries()) {
      if (f === '-') {
        for await (const c of process.stdin) {
          await write(await enricher.push((c as Buffer).toString('latin1')));
          if (stopped) break;
        }
      } else {
        for (const c of drain(fds.get(f)!)) {
          await write(await enricher.push(c));
          if (stopped) break;
        }
      }
      // A last line without newline ends with its file: the next file starts a new line.
      await write(await enricher.end(!stopped && i < inputs.length - 1));
      if (stopped) break;
    }
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}

/** The `node=` values auditd writes for this host (name_format HOSTNAME or FQD): the name, and its first label. */
function localNodeNames(): string[] {
  const h = hostname();
  return [...new Set([h, h.split('.')[0]!])];
}
