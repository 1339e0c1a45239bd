/**
 * `lantern record` (the recorder daemon, and `record status`), `lantern history`
 * (tree, domains, pid) and `lantern events`.
 */
import { parseMetricsAddress, serveMetrics } from '../common/metrics.js';
import { recordMetrics } from './metrics.js';
import { Command, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { CliError, EXIT } from '../common/exit.js';
import { jsonLine, printJson } from '../common/json.js';
import { paint } from '../common/term.js';
import { Host } from '../host/host.js';
import { DEFAULT_OPTIONS, Recorder, type RecorderOptions, type RecorderStatus } from './recorder.js';
import { damagedError, DEFAULT_STORE, Store, type StoredEvent } from './store/store.js';
import { isLiveRecorder } from './tracefs/instance.js';
import {
  hungKmsgLines,
  domainNames,
  domainTree,
  HistoryCache,
  matchDomains,
  priorImages,
  reconstructedMark,
  reconstructedNote,
  parseTimeArg,
  parseTypes,
  pidHistory,
  renderTree,
  type DomainNode,
} from './query.js';
import { eventIoJson, eventJson, isoTime, renderLine, senderText } from './render.js';
import { DEFAULT_IO, IO_SOURCES, ioStatusText, type IoOptions, type IoSourceChoice } from './io/detector.js';
import { registerTopIo } from './io/cli.js';
import { signalName } from './process/signals.js';
import { DEFAULT_HUNG, type HungOptions, type HungStatus } from './hung/detector.js';
import { DEFAULT_SLAB, dentryStatusText, slabStatusText, type SlabOptions } from './slab/detector.js';
import { parseDurationNs } from './slab/core.js';
import { parseInterval, parseSysrqLetters } from './hung/core.js';
import { parseRules, RuleError, type Rule } from './rules/core.js';
import type { RulesStatus } from './rules/engine.js';
import { accessOptions, accessStatusText } from '../access/config.js';
import { DEFAULT_SLOW_IO, DEFAULT_SLOW_STAT, parseThreshold, type SlowIoOptions, type SlowStatOptions } from './latency/core.js';
import { slowIoText, slowStatText, statBackendChoice } from './latency/detector.js';

function intOpt(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || n < min || n > max) throw new CliError(`bad ${name} ${JSON.stringify(v)}: an integer from ${min} to ${max}`, EXIT.USAGE);
    return n;
  };
}

interface ConfigFile {
  store?: string;
  name?: string;
  buffer_kb?: number;
  poll_ms?: number;
  retention_days?: number;
  retention_mb?: number;
  backlog_records?: number;
  log?: string;
  tracefs?: string;
  /** The [hung] section (see hungOptions). */
  hung?: Record<string, unknown>;
  /** The [slab] section (see slabOptions). */
  slab?: Record<string, unknown>;
  /** The [io] section (see ioOptions). */
  io?: Record<string, unknown>;
  /** The [slow_stat] and [slow_io] sections (see latencyOptions). */
  slow_stat?: Record<string, unknown>;
  slow_io?: Record<string, unknown>;
  /** The [[rule]] tables, checked (src/record/rules/core.ts). */
  rules?: Rule[];
  /** The [access] section (src/access/config.ts). */
  access?: Record<string, unknown>;
}

function readConfig(path: string | undefined): ConfigFile {
  if (!path) return {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read config ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT.NOINPUT);
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
    const sect = (doc.record ?? doc) as Record<string, unknown>;
    const hung = doc.hung;
    if (hung !== undefined && (typeof hung !== 'object' || hung === null || Array.isArray(hung))) throw new CliError(`config ${path}: [hung] must be a table`, EXIT.DATAERR);
    const slab = doc.slab;
    if (slab !== undefined && (typeof slab !== 'object' || slab === null || Array.isArray(slab))) throw new CliError(`config ${path}: [slab] must be a table`, EXIT.DATAERR);
    const io = doc.io;
    if (io !== undefined && (typeof io !== 'object' || io === null || Array.isArray(io))) throw new CliError(`config ${path}: [io] must be a table`, EXIT.DATAERR);
    for (const k of ['slow_stat', 'slow_io']) {
      const v = doc[k];
      if (v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v))) throw new CliError(`config ${path}: [${k}] must be a table`, EXIT.DATAERR);
    }
    const cfg: ConfigFile = {
      ...(sect as ConfigFile),
      hung: hung as Record<string, unknown> | undefined,
      slab: slab as Record<string, unknown> | undefined,
      slow_stat: doc.slow_stat as Record<string, unknown> | undefined,
      slow_io: doc.slow_io as Record<string, unknown> | undefined,
      io: io as Record<string, unknown> | undefined,
      access: doc.access as Record<string, unknown> | undefined,
    };
    // Outside the catch below: a rule error already names file:line.
    return withRules(cfg, doc, text, path);
  } catch (e) {
    if (e instanceof CliError && e.message.startsWith(`config ${path}:`)) throw e;
    throw new CliError(`config ${path}: ${(e as Error).message.split('\n')[0]}`, EXIT.DATAERR);
  }
}

function withRules(cfg: ConfigFile, doc: Record<string, unknown>, text: string, path: string): ConfigFile {
  try {
    return { ...cfg, rules: parseRules(doc.rule, text, path) };
  } catch (e) {
    if (e instanceof RuleError) throw new CliError(`config ${e.message}`, EXIT.DATAERR);
    throw e;
  }
}

/** The `rules` lines of `record status`. */
export function rulesStatusText(r: RulesStatus): string {
  const head = `${r.rules.length} rule${r.rules.length === 1 ? '' : 's'}; SysRq to ${r.sysrqTrigger}: ${r.sysrqSent} sent, ${r.sysrqFailed} failed; ${r.snapshots} snapshots${r.evidenceLost ? `, ${r.evidenceLost} not stored` : ''}`;
  const each = r.rules.map(
    (x) =>
      `${x.where} on "${x.on}" do ${x.do.join(', ')}: ${x.matched} matched, ${x.acted} acted, ${x.suppressed} within min_interval ${x.minIntervalMs / 1000}s${x.lastActedUs ? ` (last ${isoTime(x.lastActedUs)})` : ''}${x.note ? `; ${x.note}` : ''}`,
  );
  return [head, ...each].join('\n           ');
}

function configInt(v: unknown, key: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new CliError(`config: ${key} must be an integer from ${min} to ${max}`, EXIT.DATAERR);
  return v;
}

const SLAB_KEYS = ['enabled', 'slow', 'tracepoints', 'dentry_interval', 'dentry_samples'];

/** The slab detector's options from [slab] (and --no-slab); null when it is off. */
export function slabOptions(cfg: Record<string, unknown> | undefined, flags: { slab?: boolean }): SlabOptions | null {
  const c = cfg ?? {};
  for (const k of Object.keys(c)) if (!SLAB_KEYS.includes(k)) throw new CliError(`config: unknown key [slab] ${k} (expected one of ${SLAB_KEYS.join(', ')})`, EXIT.DATAERR);
  for (const k of ['enabled', 'tracepoints']) if (c[k] !== undefined && typeof c[k] !== 'boolean') throw new CliError(`config: [slab] ${k} must be true or false`, EXIT.DATAERR);
  if (flags.slab === false || c.enabled === false) return null;
  const o: SlabOptions = { ...DEFAULT_SLAB };
  if (c.slow !== undefined) {
    const ns = parseDurationNs(c.slow);
    if (ns === null) throw new CliError('config: [slab] slow must be a duration like "100ms", "1us", "2s" (0 records every pass)', EXIT.DATAERR);
    o.slowNs = ns;
  }
  if (c.tracepoints === false) o.tracepoints = false;
  if (c.dentry_interval !== undefined) {
    const ms = parseInterval(c.dentry_interval);
    if (ms === null) throw new CliError('config: [slab] dentry_interval must be a duration like "60s", "5m" (0 turns the sampler off)', EXIT.DATAERR);
    o.dentryIntervalMs = ms;
  }
  o.maxSamples = configInt(c.dentry_samples, '[slab] dentry_samples', 2, 1_000_000) ?? o.maxSamples;
  return o;
}

const IO_KEYS = ['enabled', 'source', 'ring_kb', 'rcvbuf_kb', 'max_queued'];

/** The I/O-at-exit detector's options from [io] (and --no-io); null when it is off. */
export function ioOptions(cfg: Record<string, unknown> | undefined, flags: { io?: boolean }): IoOptions | null {
  const c = cfg ?? {};
  for (const k of Object.keys(c)) if (!IO_KEYS.includes(k)) throw new CliError(`config: unknown key [io] ${k} (expected one of ${IO_KEYS.join(', ')})`, EXIT.DATAERR);
  if (c.enabled !== undefined && typeof c.enabled !== 'boolean') throw new CliError('config: [io] enabled must be true or false', EXIT.DATAERR);
  if (flags.io === false || c.enabled === false) return null;
  const kb = configInt(c.rcvbuf_kb, '[io] rcvbuf_kb', 1, 1_048_576);
  if (c.source !== undefined && !(IO_SOURCES as readonly unknown[]).includes(c.source)) throw new CliError(`config: [io] source must be one of ${IO_SOURCES.join(', ')}`, EXIT.DATAERR);
  const ringKb = configInt(c.ring_kb, '[io] ring_kb', 4, 1_048_576);
  // The kernel's ring buffer is a power of two of pages.
  if (ringKb !== undefined && (ringKb & (ringKb - 1)) !== 0) throw new CliError(`config: [io] ring_kb must be a power of two (4, 8, … 1048576), got ${ringKb}`, EXIT.DATAERR);
  return {
    rcvbufBytes: kb !== undefined ? kb * 1024 : DEFAULT_IO.rcvbufBytes,
    maxQueued: configInt(c.max_queued, '[io] max_queued', 1, 100_000_000) ?? DEFAULT_IO.maxQueued,
    ...(c.source !== undefined ? { source: c.source as IoSourceChoice } : {}),
    ...(ringKb !== undefined ? { ringBytes: ringKb * 1024 } : {}),
  };
}

/** A threshold from a flag (exit 64) or the config (exit 65). */
function threshold(v: unknown, what: string, minNs: number, fromFlag: boolean): number {
  const ns = parseThreshold(v, minNs);
  if (ns === null) {
    throw new CliError(`${fromFlag ? 'bad' : 'config:'} ${what} ${JSON.stringify(v)}: a duration like "500ms", "1s", "2.5s" from ${minNs / 1e6} ms to 1 h`, fromFlag ? EXIT.USAGE : EXIT.DATAERR);
  }
  return ns;
}

/**
 * [slow_stat] enabled, threshold and [slow_io] enabled, threshold, histogram_interval, and the
 * flags --slow-stat T / --slow-io T (which turn them on). Off unless asked: slow stats run a
 * raw_tp BPF program (bpftrace when it cannot load), slow I/O runs bpftrace.
 */
export function latencyOptions(
  c: { slow_stat?: Record<string, unknown>; slow_io?: Record<string, unknown> },
  flags: { slowStat?: string; slowIo?: string },
): { stat: SlowStatOptions | null; io: SlowIoOptions | null } | null {
  const section = (name: 'slow_stat' | 'slow_io', keys: string[]) => {
    const t = c[name] ?? {};
    for (const k of Object.keys(t)) if (!keys.includes(k)) throw new CliError(`config: unknown key [${name}] ${k} (expected one of ${keys.join(', ')})`, EXIT.DATAERR);
    if (t.enabled !== undefined && typeof t.enabled !== 'boolean') throw new CliError(`config: [${name}] enabled must be true or false`, EXIT.DATAERR);
    return t;
  };
  const st = section('slow_stat', ['enabled', 'threshold']);
  const io = section('slow_io', ['enabled', 'threshold', 'histogram_interval']);
  let stat: SlowStatOptions | null = null;
  if (flags.slowStat !== undefined || st.enabled === true) {
    stat = { ...DEFAULT_SLOW_STAT };
    // The backend override (environment) is checked here, so a bad value is a usage error at start.
    try {
      statBackendChoice();
    } catch (e) {
      throw new CliError((e as Error).message, EXIT.USAGE);
    }
    if (flags.slowStat !== undefined) stat.thresholdNs = threshold(flags.slowStat, '--slow-stat', 1e6, true);
    else if (st.threshold !== undefined) stat.thresholdNs = threshold(st.threshold, '[slow_stat] threshold', 1e6, false);
  }
  let blk: SlowIoOptions | null = null;
  if (flags.slowIo !== undefined || io.enabled === true) {
    blk = { ...DEFAULT_SLOW_IO };
    // 0 is allowed here: every request recorded (tests, short investigations).
    if (flags.slowIo !== undefined) blk.thresholdNs = threshold(flags.slowIo, '--slow-io', 0, true);
    else if (io.threshold !== undefined) blk.thresholdNs = threshold(io.threshold, '[slow_io] threshold', 0, false);
    if (io.histogram_interval !== undefined) {
      const ms = parseInterval(io.histogram_interval);
      if (ms === null || ms < 100 || ms > 3_600_000) throw new CliError('config: [slow_io] histogram_interval must be a duration like "5s", "1m" (100 ms to 1 h)', EXIT.DATAERR);
      blk.histIntervalMs = ms;
    }
  }
  return stat || blk ? { stat, io: blk } : null;
}

const HUNG_KEYS = ['enabled', 'source', 'timeout', 'warnings', 'min_interval', 'sysrq', 'capture_secs'];

/** The hung-task detector's options from [hung] and the flags (flags win); null when it is off. */
export function hungOptions(cfg: Record<string, unknown> | undefined, flags: { hung?: boolean; hungTimeout?: number; hungSource?: string }): HungOptions | null {
  const c = cfg ?? {};
  for (const k of Object.keys(c)) if (!HUNG_KEYS.includes(k)) throw new CliError(`config: unknown key [hung] ${k} (expected one of ${HUNG_KEYS.join(', ')})`, EXIT.DATAERR);
  if (c.enabled !== undefined && typeof c.enabled !== 'boolean') throw new CliError('config: [hung] enabled must be true or false', EXIT.DATAERR);
  if (flags.hung === false || (c.enabled === false && flags.hungTimeout === undefined && flags.hungSource === undefined)) return null;
  const o: HungOptions = { ...DEFAULT_HUNG };
  const source = flags.hungSource ?? c.source;
  if (source !== undefined) {
    if (source !== 'auto' && source !== 'tracepoint' && source !== 'kmsg')
      throw new CliError(`bad hung source ${JSON.stringify(source)}: auto, tracepoint or kmsg`, flags.hungSource !== undefined ? EXIT.USAGE : EXIT.DATAERR);
    o.source = source;
  }
  o.timeoutSecs = flags.hungTimeout ?? configInt(c.timeout, '[hung] timeout', 1, 86_400) ?? null;
  o.warnings = configInt(c.warnings, '[hung] warnings', 1, 1_000_000) ?? o.warnings;
  if (c.min_interval !== undefined) {
    const ms = parseInterval(c.min_interval);
    if (ms === null) throw new CliError('config: [hung] min_interval must be a duration like "5m", "30s", "1h" or a number of seconds', EXIT.DATAERR);
    o.minIntervalMs = ms;
  }
  if (c.capture_secs !== undefined) o.captureMs = (configInt(c.capture_secs, '[hung] capture_secs', 0, 600) ?? 0) * 1000;
  if (c.sysrq !== undefined) {
    const letters = parseSysrqLetters(c.sysrq);
    if (typeof letters === 'string') throw new CliError(`config: [hung] sysrq must be ${letters}`, EXIT.DATAERR);
    o.sysrq = letters;
  }
  return o;
}

/** The `hung` line of `record status`. */
export function hungStatusText(h: HungStatus): string {
  const src = h.source === 'tracepoint' ? 'tracepoint sched:sched_process_hang' : `kmsg (${h.kmsg.path})`;
  const sysrq = h.sysrq.available ? `SysRq ${h.sysrq.letters.join(',')} to ${h.sysrq.trigger}: ${h.sysrq.sent} sent, ${h.sysrq.failed} failed` : `SysRq unavailable (${h.sysrq.note ?? 'off'})`;
  const timeout =
    h.timeout.secs === null
      ? 'hung_task_timeout_secs left alone'
      : `hung_task_timeout_secs ${h.timeout.secs} while recording (${h.timeout.active ? 'in force' : 'restored'}${
          h.timeout.original
            ? `; original ${Object.entries(h.timeout.original)
                .map(([k, v]) => `${k.slice(k.lastIndexOf('/') + 1)}=${v}`)
                .join(' ')}`
            : ''
        })`;
  return [
    `${src}; ${h.reports} reports: ${h.incidents} incidents acted on, ${h.suppressed} within min_interval, ${h.oldSkipped} old kmsg records skipped`,
    `${sysrq}; ${h.snapshots} snapshots; kmsg ${h.kmsg.open ? `${h.kmsg.captured} records captured` : `not read${h.kmsg.note ? ` (${h.kmsg.note})` : ''}`}${h.kmsg.lostReads ? `, ${h.kmsg.lostReads} overwritten before read` : ''}${h.kmsg.captureCut ? `, ${h.kmsg.captureCut} beyond the capture bound` : ''}${h.evidenceLost ? `; ${h.evidenceLost} evidence writes failed` : ''}`,
    `${timeout}${h.timeout.note ? `; ${h.timeout.note}` : ''}${h.restoredStale ? `; at start: ${h.restoredStale}` : ''}`,
  ].join('\n           ');
}

export function storeOption(): Option {
  return new Option('--store <path>', 'record store (SQLite file)').default(DEFAULT_STORE).env('LANTERN_RECORD_STORE');
}

function openForRead(path: string): Store {
  if (!existsSync(path)) throw new CliError(`no record store at ${path} (is lantern record running? see --store)`, EXIT.NOINPUT);
  return Store.open(path, { readonly: true });
}

/**
 * Run a query over the store, read-only. A damaged store is one clear error (exit 65) with
 * `PRAGMA quick_check`'s finding: when the query fails, and when it finds nothing (a damaged
 * page can hide rows without an error), so damage is never a stack trace nor a silent "no records".
 * `run` returns whether it found anything.
 */
export function queryStore(path: string, run: (store: Store) => boolean): void {
  const store = openForRead(path);
  try {
    let found: boolean;
    try {
      found = run(store);
    } catch (e) {
      const finding = store.damage();
      if (finding) throw damagedError(path, finding);
      throw e;
    }
    if (!found) {
      const finding = store.damage();
      if (finding) throw damagedError(path, finding);
    }
  } finally {
    store.close();
  }
}

/** The recorder's last line: what it saw, wrote and lost (kernel events and records alike). */
export function exitLine(why: string, st: RecorderStatus, statusError: string | null): string {
  const seen = st.records === st.recordsSeen ? '' : ` written of ${st.recordsSeen} seen${st.duplicateRecords ? ` (${st.duplicateRecords} duplicates skipped)` : ''}`;
  // The I/O detector's lost exit notifications are said when there are any (record status always shows them).
  const ioLost = st.io ? st.io.lostKernel + st.io.lostQueue : 0;
  const parts = [
    `lantern record: ${why}; ${st.events} events, ${st.records} records${seen}, lost ${st.lost.stats} events, ${st.droppedRecords} records${ioLost ? `, ${ioLost} I/O exit records` : ''}`,
  ];
  if (st.droppedRecords > 0 || st.storeErrors > 0) {
    parts.push(
      ` (store: ${st.storeErrors} failed writes${st.lastStoreError ? `, last: ${st.lastStoreError}` : ''}; ${st.droppedOverBacklog} records dropped over the backlog bound of ${st.backlogRecords}, ${st.droppedAtExit} unwritten at exit)`,
    );
  }
  if (st.logLinesLost > 0) parts.push(`, ${st.logLinesLost} log lines not written`);
  if (st.latency) {
    const l = st.latency;
    parts.push(
      `; latency (${l.backend}) ${[l.stat ? `${l.stat.slow} slow stats` : '', l.io ? `${l.io.slow} slow requests` : ''].filter(Boolean).join(', ')}, ${l.lost} lost${l.malformed ? `, ${l.malformed} malformed lines` : ''}${l.ended ? ` (${l.ended})` : ''}, detached`,
    );
  }
  parts.push('; instance removed');
  if (statusError) parts.push(`; the final status could not be stored (${statusError})`);
  return parts.join('');
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

export function register(program: Command): void {
  const record = program
    .command('record')
    .description('record process history (exec, exit, fatal signals with their sender) from kernel tracepoints, into a local store')
    .addOption(storeOption())
    .option(
      '--config <file>',
      'TOML config ([record] store, name, buffer_kb, poll_ms, retention_days, retention_mb, backlog_records, log, tracefs; [hung] enabled, source, timeout, warnings, min_interval, sysrq, capture_secs; [slab] enabled, slow, tracepoints, dentry_interval, dentry_samples; [io] enabled, rcvbuf_kb, max_queued; [slow_stat] enabled, threshold; [slow_io] enabled, threshold, histogram_interval; [access] enabled, backend, per_domain, env, max_queued; [[rule]] on, do, min_interval)',
    )
    .option('--name <name>', `recorder name; the tracefs instance is lantern.<name>.<pid> (default "${DEFAULT_OPTIONS.name}")`)
    .option('--buffer-kb <kib>', `per-CPU ring buffer size (default ${DEFAULT_OPTIONS.bufferKb})`, intOpt('--buffer-kb', 4, 1_048_576))
    .option('--poll-ms <ms>', `how often the per-CPU buffers are drained (default ${DEFAULT_OPTIONS.pollMs})`, intOpt('--poll-ms', 10, 10_000))
    .option('--retention-days <days>', `delete records older than this (default ${DEFAULT_OPTIONS.retentionDays})`, intOpt('--retention-days', 1, 36_500))
    .option('--retention-mb <mib>', `keep the store under this size (default ${DEFAULT_OPTIONS.retentionMb})`, intOpt('--retention-mb', 1, 10_000_000))
    .option(
      '--backlog-records <n>',
      `records kept in memory while the store cannot be written; beyond, the oldest are dropped and counted as lost (default ${DEFAULT_OPTIONS.backlogRecords})`,
      intOpt('--backlog-records', 1, 100_000_000),
    )
    .option('--log <file>', 'also append one text line per record to this file (reopened on SIGHUP)')
    .option('--print', 'print one line per record on stdout')
    .option('--duration <seconds>', 'stop after this many seconds (default: until SIGTERM/SIGINT)', intOpt('--duration', 1, 100_000_000))
    .option('--tracefs <dir>', 'tracefs mount point (default: found, or mounted at /sys/kernel/tracing)')
    .option(
      '--hung-timeout <secs>',
      'lower kernel.hung_task_timeout_secs to this (and raise hung_task_warnings) while recording; restored on exit, or at the next start after a crash',
      intOpt('--hung-timeout', 1, 86_400),
    )
    .option('--hung-source <source>', 'hung-task reports from: auto (the tracepoint where present), tracepoint, kmsg')
    .option('--no-hung', 'turn the hung-task detector off (SysRq letters, D-state snapshot, kernel-log capture)')
    .option('--no-slab', 'turn the slab-shrinker detector and the dentry-state sampler off')
    .option('--no-io', 'turn the I/O-at-exit detector (taskstats: disk I/O of each exiting thread) off')
    .option('--metrics <addr>', 'serve the status in the Prometheus text format on ADDR:PORT (a bare port listens on 127.0.0.1)')
    .option('--access', 'keep per-domain access lists (files, failures with errno, env names; see lantern access)')
    .option('--access-log', 'print each new access as it happens ([time] read /etc/x by comm(pid) programs…) and the per-domain summary at exit (implies --access)')
    .option('--access-backend <names>', 'access backends: auto (default: fanotify + syscalls, and any other registered), or a comma-separated list (implies --access)')
    .option(
      '--slow-stat <threshold>',
      'record stat-family calls (stat, lstat, fstat, newfstatat, statx) at least this slow, e.g. 1s, 500ms (1 ms up; a raw_tp BPF program, bpftrace when it cannot load)',
    )
    .option('--slow-io <threshold>', 'record block requests at least this slow from issue to completion, e.g. 1s (0 records every one; runs bpftrace); per-device percentiles in record status')
    // `record status --store X`: options after a subcommand belong to the subcommand.
    .enablePositionalOptions()
    .addHelpText(
      'after',
      `
Runs in the foreground until SIGTERM or SIGINT (it flushes and removes its tracefs instance),
SIGHUP reopens --log. Needs root. Query with: lantern record status, lantern history, lantern events.`,
    )
    .action(async (opts) => {
      const cfg = readConfig(opts.config as string | undefined);
      const storeExplicit = record.getOptionValueSource('store') !== 'default';
      const ro: RecorderOptions = {
        ...DEFAULT_OPTIONS,
        storePath: storeExplicit ? opts.store : (cfg.store ?? opts.store),
        name: opts.name ?? cfg.name ?? DEFAULT_OPTIONS.name,
        bufferKb: opts.bufferKb ?? cfg.buffer_kb ?? DEFAULT_OPTIONS.bufferKb,
        pollMs: opts.pollMs ?? cfg.poll_ms ?? DEFAULT_OPTIONS.pollMs,
        retentionDays: opts.retentionDays ?? cfg.retention_days ?? DEFAULT_OPTIONS.retentionDays,
        retentionMb: opts.retentionMb ?? cfg.retention_mb ?? DEFAULT_OPTIONS.retentionMb,
        backlogRecords: opts.backlogRecords ?? configInt(cfg.backlog_records, 'backlog_records', 1, 100_000_000) ?? DEFAULT_OPTIONS.backlogRecords,
        logPath: opts.log ?? cfg.log,
        tracefs: opts.tracefs ?? cfg.tracefs,
      };
      const hung = hungOptions(cfg.hung, { hung: opts.hung as boolean | undefined, hungTimeout: opts.hungTimeout as number | undefined, hungSource: opts.hungSource as string | undefined });
      if (hung) ro.hung = hung;
      const slab = slabOptions(cfg.slab, { slab: opts.slab as boolean | undefined });
      if (slab) ro.slab = slab;
      const io = ioOptions(cfg.io, { io: opts.io as boolean | undefined });
      if (io) ro.io = io;
      const latency = latencyOptions(cfg, { slowStat: opts.slowStat as string | undefined, slowIo: opts.slowIo as string | undefined });
      if (latency) ro.latency = latency;
      if (cfg.rules?.length) ro.rules = { rules: cfg.rules, maxTasks: DEFAULT_HUNG.maxTasks };
      const access = accessOptions(cfg.access, {
        access: opts.access as boolean | undefined,
        accessLog: opts.accessLog as boolean | undefined,
        accessBackend: opts.accessBackend as string | undefined,
      });
      if (access) {
        if (opts.accessLog) access.log = (line) => process.stdout.write(line + '\n');
        ro.access = access;
      }
      if (opts.print) ro.onLine = (line) => process.stdout.write(line + '\n');
      await runRecorder(ro, opts.duration as number | undefined, opts.metrics !== undefined ? parseMetricsAddress(String(opts.metrics)) : null);
    });

  record
    .command('status')
    .description('show what the recorder records, events per second, lost events and store size')
    .addOption(storeOption())
    .option('--json', 'machine-readable output')
    .action((opts, cmd: Command) => {
      // The program parses options before dispatching, so `record status --store X` may land
      // on the parent `record`: take the explicit one wherever it went.
      const parent = cmd.parent!;
      const storePath = cmd.getOptionValueSource('store') === 'default' && parent.getOptionValueSource('store') !== 'default' ? parent.opts().store : opts.store;
      queryStore(storePath, (store) => {
        const st = store.getMeta<RecorderStatus>('status');
        if (!st) throw new CliError(`store ${storePath} has no recorder status yet`, EXIT.DATAERR);
        const host = new Host();
        const running = st.state === 'running' && isLiveRecorder(host, st.pid) && existsSync(st.instance);
        const counts = store.counts();
        const out = { ...st, running, storeBytes: store.sizeBytes(), records: counts };
        if (opts.json) {
          printJson(out);
          return true;
        }
        const c = paint();
        // Statuses written before these counters existed lack them.
        const dropped = st.droppedRecords ?? 0;
        const lines = [
          `recorder   ${running ? c.green('running') : c.yellow('not running')} (pid ${st.pid}, name ${st.name}, since ${isoTime(st.startedUs)}, last update ${isoTime(st.updatedUs)})`,
          ...(st.state === 'running' && !running
            ? [`note       ${c.yellow('the recorder ended without storing a final status (killed, or the store was full): the figures are as of the last update')}`]
            : []),
          `instance   ${st.instance}${running ? '' : ' (removed)'}`,
          `events     ${st.enabledEvents.join(' ')}${st.missingEvents.length ? ` (absent: ${st.missingEvents.join(' ')})` : ''}`,
          `rate       ${st.eventsPerSec} events/s; ${st.events} events since start`,
          `lost       ${st.lost.stats ? c.red(String(st.lost.stats)) : '0'} (per-CPU overrun/dropped), ${st.lost.markers} page loss markers, ${st.decodeErrors} undecodable; ${dropped ? c.red(String(dropped)) : '0'} records the store could not take`,
          `backlog    ${st.unwrittenRecords ?? 0} records waiting (bound ${st.backlogRecords ?? '?'}); lost ${dropped} (${st.droppedOverBacklog ?? dropped} over the bound, ${st.droppedAtExit ?? 0} unwritten at exit); ${
            st.storeErrors ? c.red(`${st.storeErrors} failed store writes`) : '0 failed store writes'
          }${st.lastStoreError ? ` (last: ${st.lastStoreError})` : ''}${st.logLinesLost ? `; ${st.logLinesLost} log lines not written` : ''}`,
          `processes  ${st.liveProcesses} live, ${st.liveThreads} threads; unknown-origin ${st.counters.unknownProcess ?? 0}, pid reuse ${st.counters.pidReuse ?? 0}`,
          `records    ${
            Object.entries(counts)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ') || 'none'
          }`,
          `store      ${store.path}, ${mib(out.storeBytes)}${store.readMode === 'private-copy' ? ' (read from a private copy: no -shm beside it)' : ''}`,
          `memory     RSS ${mib(st.rssBytes)} (peak ${mib(st.peakRssBytes)}); buffer ${st.bufferKb} KiB/CPU, drained every ${st.pollMs} ms`,
          `hung       ${st.hung ? hungStatusText(st.hung) : 'detector off'}`,
          `slab       ${st.slab ? slabStatusText(st.slab) : 'detector off'}`,
          `dentry     ${st.slab ? dentryStatusText(st.slab.dentry) : 'sampler off'}`,
          `io         ${st.io ? ioStatusText(st.io) : 'detector off'}`,
          `slow_stat  ${st.latency?.stat ? slowStatText(st.latency) : 'detector off (--slow-stat or [slow_stat] enabled = true)'}`,
          `slow_io    ${st.latency?.io ? slowIoText(st.latency) : 'detector off (--slow-io or [slow_io] enabled = true)'}`,
          `rules      ${st.rules ? rulesStatusText(st.rules) : 'none configured'}`,
          `access     ${st.access ? accessStatusText(st.access) : 'off (--access, or [access] enabled = true)'}`,
        ];
        process.stdout.write(lines.join('\n') + '\n');
        return true;
      });
    });

  const history = program.command('history').description('process history kept by lantern record: domain tree, domains, one pid');

  history
    .command('tree')
    .description('the domain tree like TOMOYO: one program per line, indented, with exec counts')
    .addOption(storeOption())
    .option('--depth <n>', 'show at most this many levels', intOpt('--depth', 0, 1_000_000))
    .option('--json', 'machine-readable output (nested)')
    .action((opts) => {
      queryStore(opts.store, (store) => {
        const root = domainTree(store);
        if (opts.json) {
          const strip = (n: DomainNode): unknown => ({ program: n.program, execs: n.execs, reconstructed: n.reconstructed, total: n.total, children: n.children.map(strip) });
          printJson(strip(root));
        } else {
          process.stdout.write(renderTree(root, opts.depth ?? Infinity).join('\n') + '\n');
        }
        return root.total > 0;
      });
    });

  history
    .command('domains')
    .description('every domain with its number of execs and its last exec (--json: first and last)')
    .addOption(storeOption())
    .option('--json', 'machine-readable output')
    .action((opts) => {
      queryStore(opts.store, (store) => {
        const names = domainNames(store);
        const rows = store
          .domainCounts()
          .filter((r) => r.execs > 0)
          .map((r) => ({ domain: names.get(r.id)!, execs: r.execs, reconstructed: r.reconstructed, first: r.first_us ? isoTime(r.first_us) : null, last: r.last_us ? isoTime(r.last_us) : null }))
          .sort((a, b) => a.domain.localeCompare(b.domain));
        if (opts.json) {
          printJson(rows);
        } else {
          const w = Math.max(5, ...rows.map((r) => String(r.execs).length));
          for (const r of rows) process.stdout.write(`${String(r.execs).padStart(w)}  ${r.last ?? ''}  ${r.domain}${reconstructedMark(r)}\n`);
        }
        return rows.length > 0;
      });
    });

  history
    .command('pid')
    .description('everything recorded about a pid: each process that held it, its history and children')
    .argument('<pid>', 'process id', intOpt('pid', 0, 4_194_304))
    .addOption(storeOption())
    .option('--json', 'machine-readable output')
    .action((pid: number, opts) => {
      queryStore(opts.store, (store) => {
        const views = pidHistory(store, pid);
        if (views.length === 0) throw new CliError(`no records for pid ${pid} in ${store.path}`, EXIT.DATAERR);
        const names = (id: number) => store.name(id);
        if (opts.json) {
          printJson(
            views.map((v) => ({
              pid: v.pid,
              start: v.startUs ? isoTime(v.startUs) : null,
              ppid: v.ppid,
              uid: v.uid,
              reconstructed: v.reconstructed,
              domain: v.domain,
              history: v.history,
              reconstructed_history: v.reconstructedSteps,
              images: v.images.map((i) => eventJson(i, names)),
              end: v.end ? eventJson(v.end, names) : null,
              hung: v.hung.map((h) => eventJson(h, names)),
              detected: v.detected.map((d) => eventJson(d, names)),
              children: v.children.map((c) => ({ pid: c.pid, start: c.startUs ? isoTime(c.startUs) : null, program: c.program, end: c.end ? eventJson(c.end, names) : null })),
            })),
          );
          return true;
        }
        const endText = (e: StoredEvent | null): string =>
          !e
            ? 'no exit recorded (running, or recorder stopped)'
            : e.type === 'signal'
              ? `killed by ${signalName(e.signal ?? 0)} at ${isoTime(e.time_us)} (tid ${e.tid}) from ${senderText(e)}`
              : `exit code ${e.exit_code ?? 'unknown'} at ${isoTime(e.time_us)}`;
        const out: string[] = [];
        for (const v of views) {
          out.push(`pid ${v.pid} started ${v.startUs ? isoTime(v.startUs) : '?'}${v.reconstructed ? ' (reconstructed from /proc)' : ''}`);
          out.push(`  ppid      ${v.ppid ?? '?'}`);
          out.push(`  uid       ${v.uid ?? '?'}`);
          out.push(`  domain    ${v.domain ?? '?'}`);
          out.push(`  history   ${v.history || '?'}`);
          if (v.reconstructedSteps > 0) out.push(`  note      ${reconstructedNote(v.reconstructedSteps)}`);
          for (const i of v.images) out.push(`  exec      ${isoTime(i.time_us)} ${i.program}${i.detail ? `  [${i.detail}]` : ''}`);
          for (const h of v.hung) out.push(`  hung      ${isoTime(h.time_us)} tid ${h.tid} (${h.comm ?? '?'}): ${h.detail ?? ''}`);
          for (const d of v.detected) out.push(`  ${d.type.padEnd(9)} ${isoTime(d.time_us)} tid ${d.tid} (${d.comm ?? '?'}): ${d.detail ?? ''}`);
          out.push(`  end       ${endText(v.end)}`);
          for (const c of v.children)
            out.push(`  child     ${c.pid} ${c.program ?? '?'}: ${c.end ? (c.end.type === 'signal' ? signalName(c.end.signal ?? 0) : `exit ${c.end.exit_code ?? '?'}`) : 'no exit recorded'}`);
        }
        process.stdout.write(out.join('\n') + '\n');
        return true;
      });
    });

  registerTopIo(program, { storeOption, queryStore });

  program
    .command('events')
    .description('recorded events: exec, exit, signal (fatal, with sender), lost, hung (hung-task reports), io (disk I/O of exiting threads), slow_stat, slow_io, slab, dentry, rule')
    .addOption(storeOption())
    .option('--since <time>', 'from this time (ISO 8601, "now", or a duration ago: 10m, 2h, 3d)')
    .option('--until <time>', 'up to this time')
    .option('--type <types...>', 'only these types: exec, exit, signal, lost, hung, slab, dentry, rule, io, slow_stat, slow_io (comma-separated or repeated)')
    .option('--domain <pattern>', 'only this domain and its subtree, or a glob over the full domain name ("*sshd*")')
    .option('--limit <n>', 'at most n events', intOpt('--limit', 1, 100_000_000))
    .option('--history', "add each record's timestamped history (init(..)=>sh(..)) to text output")
    .option('--kmsg', 'print the kernel-log records captured with each hung-task incident, in dmesg format (for lantern analyze -), instead of the records')
    .option('--json', 'one JSON object per line')
    .action((opts) => {
      const since = opts.since ? parseTimeArg(opts.since) : undefined;
      const until = opts.until ? parseTimeArg(opts.until) : undefined;
      const types = opts.type ? parseTypes(opts.type as string[]) : undefined;
      queryStore(opts.store, (store) => {
        let found = false;
        const names = domainNames(store);
        const domainIds = opts.domain ? matchDomains(names, opts.domain) : undefined;
        const nameOf = (id: number) => names.get(id) ?? store.name(id);
        const histories = new HistoryCache(store);
        // Streamed: a store holds months of records.
        for (const e of store.iterate({ sinceUs: since, untilUs: until, types, domainIds, limit: opts.limit })) {
          found = true;
          if (opts.kmsg) {
            const lines = hungKmsgLines(store, e);
            if (lines.length) process.stdout.write(lines.join('\n') + '\n');
            continue;
          }
          if (opts.json) {
            const j = eventJson(e, nameOf);
            if (e.type === 'hung' || e.type === 'rule') {
              const ev = store.hungEvidence(e.id);
              if (ev) j.evidence = { incident: ev.incident, snapshot: ev.snapshot, kmsg_records: ev.kmsg.length };
            }
            if (e.type === 'io') {
              const io = store.ioOf(e.id);
              if (io) j.io = eventIoJson(io);
            }
            if (e.type !== 'lost') {
              j.history = histories.of(e);
              j.reconstructed_history = histories.reconstructedSteps(e);
            }
            process.stdout.write(jsonLine(j));
          } else {
            let text = renderLine(e, nameOf, priorImages(store, e));
            if (opts.history && e.type !== 'lost') {
              const steps = histories.reconstructedSteps(e);
              text += `\n    ${histories.of(e)}${steps > 0 ? `\n    (${reconstructedNote(steps)})` : ''}`;
            }
            process.stdout.write(text + '\n');
          }
        }
        return found;
      });
    });
}

/** Run until SIGTERM/SIGINT (or --duration), cleaning up the tracefs instance on every way out. */
async function runRecorder(ro: RecorderOptions, durationSec?: number, metricsAt: { host: string; port: number } | null = null): Promise<void> {
  const rec = Recorder.start(ro);
  let metrics: Awaited<ReturnType<typeof serveMetrics>> | null = null;
  if (metricsAt) {
    try {
      metrics = await serveMetrics(metricsAt, () => recordMetrics(rec.status()));
    } catch (e) {
      rec.stop();
      throw e;
    }
  }
  try {
    await rec.startAccess();
  } catch (e) {
    rec.stop();
    throw new CliError(`lantern record: ${(e as Error).message}`, EXIT.UNAVAILABLE);
  }
  for (const b of rec.access?.report ?? []) process.stderr.write(`lantern record: access backend ${b.name} ${b.running ? 'running' : `not running (${b.error})`}\n`);
  try {
    await rec.attachLatency();
  } catch (e) {
    rec.stop();
    throw new CliError(`slow stat/I/O detector: ${(e as Error).message.split('\n')[0]}`, EXIT.UNAVAILABLE);
  }
  const st0 = rec.status();
  process.stderr.write(
    `lantern record: recording into ${ro.storePath} (instance ${rec.instance.dir}, ${st0.liveProcesses} processes reconstructed${
      rec.instance.staleRemoved.length ? `, removed stale ${rec.instance.staleRemoved.join(' ')}` : ''
    })\n`,
  );
  rec.run();
  await new Promise<void>((resolve) => {
    let done = false;
    const finish = async (why: string) => {
      if (done) return;
      done = true;
      // The access backends first: nothing arrives after the final tick.
      await rec.access?.stopSources();
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      process.off('SIGHUP', onHup);
      process.off('uncaughtException', onCrash);
      if (timer) clearTimeout(timer);
      metrics?.close();
      // bpftrace first (its last output reaches the final tick), then the recorder.
      await rec.detachLatency().catch(() => undefined);
      const st = rec.stop();
      // The lists, then their account (every backend's counters: what arrived, merged, lost), as record status shows it.
      if (rec.opts.access?.log && rec.access) for (const l of [...rec.access.summary(), `account: ${accessStatusText(rec.access.status())}`]) process.stdout.write(l + '\n');
      process.stderr.write(exitLine(why, st, rec.statusError) + '\n');
      resolve();
    };
    const onTerm = () => void finish('SIGTERM');
    const onInt = () => void finish('SIGINT');
    const onHup = () => rec.reopenLog();
    const onCrash = (err: Error) => {
      rec.abort();
      process.stderr.write(`lantern: internal error: ${err.stack ?? err}\n`);
      process.exit(EXIT.SOFTWARE);
    };
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    process.on('SIGHUP', onHup);
    process.on('uncaughtException', onCrash);
    const timer = durationSec ? setTimeout(() => void finish(`${durationSec}s elapsed`), durationSec * 1000) : null;
  });
}
