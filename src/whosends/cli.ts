/**
 * `lantern who-sends udp|tcp TARGET`: every process that sends to TARGET, as it happens, and a
 * per-sender summary at the end (--for, SIGINT, SIGTERM). The kernel side is the one network
 * probe program (src/access/net/), filtered in the kernel on protocol, address and port.
 */
import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { NetProbe, monoToWall } from '../access/net/probe.js';
import type { NetRecord, SentCount } from '../access/net/records.js';
import { findBpftrace } from '../common/bpftrace.js';
import { CliError, EXIT } from '../common/exit.js';
import { Host } from '../host/host.js';
import { parseDuration } from '../common/duration.js';
import { damagedError, DEFAULT_STORE, isDamageError, Store } from '../record/store/store.js';
import { LineageResolver, type Lineage } from './lineage.js';
import { eventJson, eventLine, Senders, summaryJson, summaryText, type SendEvent } from './report.js';
import { parseProtocol, parseTarget, targetFilter, targetText } from './target.js';

interface Opts {
  for?: string;
  json?: boolean;
  store: string;
  settleMs: number;
}

/**
 * How long an event waits before its sender is named: the exec record of a process that has just
 * started may still be in another CPU's ring. With a store, the recorder writes its records in
 * batches (every 250 ms by default), so the store is asked only after --settle-ms.
 */
const HOLD_MS = 100;

interface Pending {
  record: NetRecord;
  arrivedMs: number;
  proc?: Lineage;
}

function openStore(path: string, explicit: boolean): Store | null {
  if (!existsSync(path)) {
    if (explicit) throw new CliError(`no record store at ${path} (is lantern record running? see --store)`, EXIT.NOINPUT);
    return null;
  }
  try {
    return Store.openReadonly(path);
  } catch (e) {
    if (isDamageError(e)) throw damagedError(path, (e as Error).message);
    throw new CliError(`cannot read the record store ${path}: ${(e as Error).message}`, EXIT.NOINPUT);
  }
}

export async function runWhoSends(protocol: string, spec: string, opts: Opts, explicitStore: boolean): Promise<void> {
  const target = parseTarget(parseProtocol(protocol), spec);
  const forMs = opts.for !== undefined ? parseDuration(opts.for, '--for') : null;
  if (forMs !== null && forMs <= 0) throw new CliError('--for must be longer than 0', EXIT.USAGE);
  if (process.getuid?.() !== 0) throw new CliError('who-sends needs root (it attaches BPF programs to kernel tracepoints through bpftrace)', EXIT.NOPERM);
  const bt = findBpftrace();
  if ('missing' in bt) throw new CliError(bt.missing, EXIT.UNAVAILABLE);
  const store = openStore(opts.store, explicitStore);
  const lineage = new LineageResolver(new Host(), store);
  const senders = new Senders();
  const wall = monoToWall();
  const what = targetText(target);
  const out = (line: string) => process.stdout.write(line + '\n');
  const queue: Pending[] = [];
  let firstUnnamed = 0;
  const settleMs = store ? Math.max(HOLD_MS, opts.settleMs) : HOLD_MS;

  const emit = (p: Pending) => {
    const timeUs = wall(p.record.monoUs);
    const named = (store && lineage.fromStore(p.record.pid, timeUs)) || p.proc || lineage.fromNow(p.record);
    const e: SendEvent = { timeUs, record: p.record, lineage: named };
    senders.add(e);
    out(opts.json ? eventJson(e) : eventLine(e));
  };
  const drain = (all: boolean) => {
    const now = Date.now();
    for (; firstUnnamed < queue.length && (all || now - queue[firstUnnamed]!.arrivedMs >= HOLD_MS); firstUnnamed++) {
      const p = queue[firstUnnamed]!;
      p.proc = lineage.fromNow(p.record);
    }
    let n = 0;
    while (n < queue.length && (all || (queue[n]!.proc && now - queue[n]!.arrivedMs >= settleMs))) emit(queue[n++]!);
    if (n) {
      queue.splice(0, n);
      firstUnnamed -= n;
    }
  };

  const counts: SentCount[] = [];
  let probe: NetProbe;
  try {
    probe = await NetProbe.start(
      { ops: target.protocol === 'tcp' ? ['send', 'connect'] : ['send'], filter: targetFilter(target), unix: false, dedupe: false, countSends: true, exes: true },
      { onRecord: (record) => queue.push({ record, arrivedMs: Date.now() }), onExe: (e) => lineage.noteExe(e), onSentCounts: (c) => counts.push(...c) },
    );
  } catch (e) {
    store?.close();
    throw new CliError(`who-sends: ${(e as Error).message}`, EXIT.UNAVAILABLE);
  }
  const startedMs = Date.now();
  process.stderr.write(
    `lantern who-sends: watching ${target.protocol} ${target.protocol === 'tcp' ? 'connects and sends' : 'sends'} to ${what}; ` +
      `domains from ${store ? `the record store ${opts.store}` : `/proc at the time (no record store at ${opts.store})`}; ${forMs !== null ? `for ${forMs / 1000} s` : 'Ctrl-C ends'} with a summary\n`,
  );
  const tick = setInterval(() => drain(false), 50);
  const reason = await new Promise<'stopped' | 'ended'>((resolve) => {
    const stop = () => resolve('stopped');
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (forMs !== null) setTimeout(stop, forMs).unref();
    void probe.whenExited().then(() => resolve('ended'));
  });
  clearInterval(tick);
  await probe.stop();
  drain(true);
  senders.applyCounts(counts);
  const totals = { target: `${target.protocol} ${what}`, seconds: (Date.now() - startedMs) / 1000, lost: probe.lost, malformed: probe.malformed };
  out(opts.json ? summaryJson(senders, totals) : summaryText(senders, totals).trimEnd());
  store?.close();
  if (reason === 'ended') throw new CliError(`who-sends: bpftrace ended by itself (${probe.stderr || 'no reason given'})`, EXIT.UNAVAILABLE);
}

export function register(program: Command): void {
  program
    .command('who-sends')
    .description('name every process that sends to an address and port (UDP or TCP) as it happens: time, pid, program, uid, process-history domain; a per-sender summary at the end')
    .argument('<protocol>', 'udp or tcp')
    .argument('<target>', 'ADDR:PORT, [V6ADDR]:PORT, a whole address (127.0.0.1, ::1) or just a port (53)')
    .option('--for <duration>', 'stop after this long (10s, 500ms, 5m); default: until Ctrl-C or SIGTERM')
    .option('--json', 'one JSON object per event, then one summary object')
    .addOption(new Option('--store <path>', 'record store of lantern record, read only, for exact domains (else /proc at the time)').default(DEFAULT_STORE).env('LANTERN_RECORD_STORE'))
    .option(
      '--settle-ms <ms>',
      'with a store: name a sender only once its event is this old, so the recorder has stored its exec',
      (v) => {
        const n = Number(v);
        if (!/^\d+$/.test(v) || n > 60_000) throw new CliError(`--settle-ms: not a number of milliseconds in 0..60000: ${JSON.stringify(v)}`, EXIT.USAGE);
        return n;
      },
      1500,
    )
    .addHelpText(
      'after',
      `
Examples:
  lantern who-sends udp 127.0.0.1:53          who sends DNS queries to the local resolver
  lantern who-sends udp '[::1]:53' --for 30s  the same over IPv6, for 30 seconds
  lantern who-sends tcp 25 --json             every process that connects or writes to port 25

Exit codes: 0 done (summary printed), 64 bad protocol/target/option, 66 --store names no store,
69 bpftrace missing or refused, 77 not root. See docs/who-sends.md.`,
    )
    .action(async (protocol: string, spec: string, opts: Opts, cmd: Command) => {
      await runWhoSends(protocol, spec, opts, cmd.getOptionValueSource('store') !== 'default');
    });
}
