/** `lantern forward`: send a receiver's files on to rsyslog/syslog-ng or Loki, losing nothing while they restart. */
import { Command, Option } from 'commander';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { CliError, EXIT } from '../common/exit.js';
import { ensureDirectory } from '../common/output.js';
import { parseSizeOption } from '../common/size.js';
import { parseDuration } from '../common/duration.js';
import { printJson } from '../common/json.js';
import { createDestination, parseDestinationUrl } from './destination.js';
import { DEFAULT_FORWARDER, Forwarder } from './forwarder.js';
import { parseMetricsAddress, serveMetrics, type Metric } from '../common/metrics.js';
import { storeSpool } from './store-source.js';
import { analyzeSpool } from './analyze-source.js';
import type { Spool } from './spool.js';

export const DEFAULT_STATE_DIR = '/var/lib/lantern/forward';

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

/**
 * The state file of one destination and source: the URL made into a file name, and a short hash of
 * the source's path (two receivers' directories forwarded to one collector keep two positions).
 */
export function stateFileName(url: string, source: string): string {
  const tag = createHash('sha256').update(resolve(source)).digest('hex').slice(0, 10);
  return `forward-${url
    .replace(/^[a-z+]+:\/\//, (m) => m.replace(/[^a-z]+/g, '-'))
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .slice(0, 200)}-${tag}.json`;
}

interface ForwardOptions {
  to?: string[];
  store?: string;
  analyze?: string[];
  source: string;
  stateDir?: string;
  spoolLimit?: string;
  ca?: string;
  cert?: string;
  key?: string;
  serverName?: string;
  timeout?: string;
  settle?: string;
  metrics?: string;
  once?: boolean;
  json?: boolean;
}

export function forwardMetrics(forwarders: Forwarder[], nowMs: number): Metric[] {
  const per = (help: string, name: string, type: 'counter' | 'gauge', pick: (f: Forwarder) => number): Metric => ({
    name,
    help,
    type,
    samples: forwarders.map((f) => ({ labels: { destination: f.dest.name }, value: pick(f) })),
  });
  return [
    per('Lines the destination has (Loki answered, or a TCP batch settled).', 'lantern_forward_lines_delivered_total', 'counter', (f) => f.counters.delivered),
    per('Lines sent again after a broken connection (possible duplicates).', 'lantern_forward_lines_resent_total', 'counter', (f) => f.counters.resent),
    per('Lines the destination refused for good (kept in the local files).', 'lantern_forward_lines_rejected_total', 'counter', (f) => f.counters.rejected),
    per('Lines skipped because the backlog passed the spool limit.', 'lantern_forward_lines_skipped_total', 'counter', (f) => f.counters.skipped),
    per('Failed sends (each retried).', 'lantern_forward_send_errors_total', 'counter', (f) => f.counters.sendErrors),
    per('Connections to the destination that broke.', 'lantern_forward_broken_connections_total', 'counter', (f) => f.counters.broken),
    per('Times the delivered position could not be saved.', 'lantern_forward_state_write_errors_total', 'counter', (f) => f.counters.stateWriteErrors),
    per('Bytes of receiver lines not yet delivered (the spool depth).', 'lantern_forward_backlog_bytes', 'gauge', (f) => f.counters.backlogBytes),
    per('Seconds since the receive time of the newest delivered line.', 'lantern_forward_lag_seconds', 'gauge', (f) =>
      f.counters.lastDeliveredUs ? Math.max(0, nowMs / 1000 - f.counters.lastDeliveredUs / 1e6) : 0,
    ),
    per('1 while the destination takes lines, 0 while sends fail.', 'lantern_forward_up', 'gauge', (f) => 1 - f.counters.failing),
  ];
}

export function register(program: Command): void {
  program
    .command('forward')
    .description("send a receiver's files (netconsole listen, console) on to rsyslog/syslog-ng (RFC 5424 over TCP or TLS) or Loki, with the kernel's facts as structured fields")
    .argument('[dir]', "the receiver's output directory (e.g. /var/log/netconsole)")
    .option('--store <path>', "forward a recorder's records instead (lantern record's store, read-only; --source record)")
    .option('--analyze <files...>', 'forward the incidents lantern analyze finds in these kernel logs instead (then exit, as --once; --source analyze)')
    .option('--to <url>', 'destination, repeatable: syslog+tcp://HOST:514, syslog+tls://HOST:6514, loki+http://HOST:3100', collect)
    .addOption(new Option('--source <name>', 'what the lines are (the `source` field and label)').choices(['netconsole', 'console', 'record', 'analyze']).default('netconsole'))
    .option('--state-dir <dir>', `where each destination's delivered position is kept (default ${DEFAULT_STATE_DIR})`)
    .option('--spool-limit <size>', 'how far a destination may fall behind before the oldest unsent lines are skipped (counted, announced); default 256M')
    .option('--ca <file>', 'TLS: CA bundle (PEM) to verify the collector')
    .option('--cert <file>', 'TLS: client certificate (PEM)')
    .option('--key <file>', 'TLS: client key (PEM)')
    .option('--server-name <name>', "TLS: name to verify in the collector's certificate (default: the URL's host)")
    .option('--timeout <time>', 'abandon a connection or send that takes longer (default 30s)')
    .option('--settle <time>', 'TCP syslog: a batch counts as delivered once the connection stayed up this long after it (default 2s)')
    .option('--metrics <addr>', 'serve Prometheus metrics on ADDR:PORT (a bare port listens on 127.0.0.1)')
    .option('--once', 'send what is there, then exit (0 when all was delivered, 69 when a destination failed)')
    .option('--json', 'with --once: print the counters as JSON')
    .addHelpText(
      'after',
      `
The receiver's files are the spool: a destination that is down only holds its position; the lines
wait in the files and go out in order when it is back. Run it beside the receiver (systemd unit
packaging/systemd/lantern-forward.service). See docs/forward.md.
Signals: SIGTERM/SIGINT let sent batches settle, save positions and exit.
Exit codes: 0 ok, 64 bad option, 65 bad state file, 66 no such directory, 69 destination failed (--once) or metrics cannot listen, 74 state dir not writable.`,
    )
    .action(async (dirArg: string | undefined, opts: ForwardOptions) => {
      if (!opts.to?.length) throw new CliError('forward: give at least one --to URL (e.g. --to syslog+tcp://127.0.0.1:514)', EXIT.USAGE);
      const sources = [dirArg !== undefined, opts.store !== undefined, opts.analyze !== undefined].filter(Boolean).length;
      if (sources !== 1) throw new CliError("forward: give the receiver's directory, --store PATH or --analyze FILE... (one of them)", EXIT.USAGE);
      let analyzed: Spool | null = null;
      if (opts.analyze !== undefined) {
        const { analyzePaths } = await import('../analyze/analyze.js');
        const result = await analyzePaths(opts.analyze);
        for (const i of result.inputs) if (i.error) process.stderr.write(`lantern forward: ${i.name}: ${i.error}\n`);
        analyzed = analyzeSpool(result.collector.timeline);
        if (opts.source === 'netconsole') opts.source = 'analyze';
        opts.once = true;
      }
      const dir = dirArg ?? '';
      if (opts.store !== undefined) {
        if (!existsSync(opts.store)) throw new CliError(`${opts.store}: no such store (lantern record --store)`, EXIT.NOINPUT);
        if (opts.source === 'netconsole') opts.source = 'record';
      } else if (analyzed) {
        // nothing to check: the inputs were read above
      } else if (existsSync(dir) && !statSync(dir).isDirectory()) throw new CliError(`${dir}: not a directory (the receiver's --dir)`, EXIT.NOINPUT);
      else if (!existsSync(dir)) {
        // The receiver makes its directory with its first line: a forwarder started first waits.
        if (opts.once) throw new CliError(`${dir}: no such directory (the receiver's --dir)`, EXIT.NOINPUT);
        process.stderr.write(`lantern forward: ${dir} does not exist yet: waiting for the receiver to create it\n`);
      }
      const spoolLimit = opts.spoolLimit !== undefined ? parseSizeOption(opts.spoolLimit, '--spool-limit') : DEFAULT_FORWARDER.spoolLimit;
      if (spoolLimit < 1) throw new CliError('--spool-limit: must be at least 1 byte (use e.g. 256M, 4G)', EXIT.USAGE);
      const timeoutMs = opts.timeout !== undefined ? parseDuration(opts.timeout, '--timeout') : 30_000;
      const settleMs = opts.settle !== undefined ? parseDuration(opts.settle, '--settle') : 2000;
      if (timeoutMs < 1) throw new CliError('--timeout: must be more than 0', EXIT.USAGE);
      for (const url of opts.to) parseDestinationUrl(url);
      const metricsAddr = opts.metrics !== undefined ? parseMetricsAddress(opts.metrics) : null;
      const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
      ensureDirectory(stateDir, 0o750);
      const say = (l: string) => process.stderr.write(l + '\n');
      const forwarders = opts.to.map(
        (url) =>
          new Forwarder(createDestination({ url, ca: opts.ca, cert: opts.cert, key: opts.key, serverName: opts.serverName, source: opts.source, timeoutMs, settleMs }), {
            ...DEFAULT_FORWARDER,
            dir,
            ...(opts.store !== undefined ? { spool: storeSpool(opts.store) } : analyzed ? { spool: analyzed } : {}),
            statePath: join(
              stateDir,
              stateFileName(
                url,
                opts.store ??
                  (opts.analyze
                    ? `analyze:${[...opts.analyze]
                        .sort()
                        .map((f) => resolve(f))
                        .join('\0')}`
                    : dir),
              ),
            ),
            spoolLimit,
            say,
          }),
      );
      const server = metricsAddr ? await serveMetrics(metricsAddr, () => forwardMetrics(forwarders, Date.now())) : null;
      if (opts.once) {
        const deadline = Date.now() + Math.max(timeoutMs, 5000);
        await Promise.all(
          forwarders.map(async (f) => {
            for (;;) {
              const sent = await f.step();
              if (!sent && f.counters.backlogBytes === 0 && f.counters.failing === 0) break;
              if (Date.now() > deadline) break;
              if (!sent) await new Promise((r) => setTimeout(r, f.counters.failing ? 250 : 50));
            }
          }),
        );
        await Promise.all(forwarders.map((f) => f.stop()));
        server?.close();
        const failed = forwarders.filter((f) => f.counters.failing || f.counters.backlogBytes > 0);
        if (opts.json) printJson(forwarders.map((f) => ({ destination: f.dest.name, ...f.counters })));
        else
          for (const f of forwarders)
            say(
              `lantern forward: ${f.dest.name}: ${f.counters.delivered} delivered, ${f.counters.resent} resent, ${f.counters.rejected} rejected, ${f.counters.skipped} skipped, ${f.counters.backlogBytes} bytes waiting`,
            );
        if (failed.length) process.exitCode = EXIT.UNAVAILABLE;
        return;
      }
      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        await Promise.all(forwarders.map((f) => f.stop()));
        server?.close();
      };
      process.on('SIGTERM', () => void stop());
      process.on('SIGINT', () => void stop());
      // Nothing to reopen: every read opens the receiver's files afresh (logrotate-safe).
      process.on('SIGHUP', () => say('lantern forward: SIGHUP: nothing to reopen (files are opened per read)'));
      await Promise.all(forwarders.map((f) => f.run()));
      await stop();
    });
}
