/** `lantern netconsole`: receive kernel messages sent over UDP by netconsole; set up the sender side. */
import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { holdSignals, isAlive, readConfigText, serveReceiver } from '../common/daemon.js';
import { printJson } from '../common/json.js';
import { paint } from '../common/term.js';
import { DEFAULT_CONFIG_PATH, DEFAULTS, parseConfigToml, resolveConfig, type RawOptions } from './config.js';
import { mergeStats, startReceiver, statsLine, type StatsSnapshot } from './receiver.js';
import { printOutputTroubles, readStatsFile, refreshedStats } from './stats-file.js';
import { registerSetup } from './setup-cli.js';
import { netconsoleMetrics } from './metrics.js';
import { serveMetrics } from '../common/metrics.js';
import type { Server } from 'node:http';

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

export function register(program: Command): void {
  const nc = program
    .command('netconsole')
    .description('receive kernel messages sent by netconsole over UDP (lossless, per-sender logs); set up the sender side')
    .addHelpText('after', '\nSubcommands: listen (the receiver), stats (its counters), setup (configure netconsole on this host).\nSee docs/netconsole.md.');

  nc.command('listen')
    .description('receive netconsole datagrams (legacy and extended format) and write timestamped lines per sender')
    .option('-c, --config <file>', `TOML configuration file (default ${DEFAULT_CONFIG_PATH} when it exists); options given here override it`)
    .option('-l, --listen <addr>', 'address:port to listen on, repeatable: 6666, 0.0.0.0:6666, [::]:6666, [::1]:7000 (default [::]:6666, IPv6 and IPv4)', collect)
    .option('-d, --dir <dir>', `output directory (default ${DEFAULTS.dir})`)
    .addOption(new Option('--format <format>', 'line format (default text)').choices(['text', 'json', 'udplogger']))
    .option('--json', 'JSON lines (same as --format json)')
    .addOption(new Option('--time <zone>', 'timestamps and day switching in UTC or local time (default utc)').choices(['utc', 'local']))
    .option('--per-sender', 'write <dir>/<address>/YYYY-MM-DD.log (default)')
    .option('--no-per-sender', 'do not write per-sender files')
    .option('--combined', 'also write every sender into <dir>/YYYY-MM-DD.log (udplogger layout)')
    .option('--stdout', 'also stream lines to standard output')
    .option('--max-file-size <size>', 'switch to the next file (YYYY-MM-DD.N.log) at this size; 0 = by day only (default 100M)')
    .option('--partial-timeout <time>', 'write a line without newline, marked partial, after this much quiet from its sender (default 10s)')
    .option('--max-line <size>', 'write a line without newline, marked partial, at this length (default 64k)')
    .option('--frag-timeout <time>', 'give up waiting for missing ncfrag fragments after this long (default 5s)')
    .option('--max-senders <n>', 'most senders tracked at once; the least recently active is evicted (default 16384)')
    .option('--sender-idle <time>', 'forget a quiet sender after this long (default 10m)')
    .option('--allow <cidr>', 'accept datagrams only from these addresses/CIDRs, repeatable (others are dropped and counted)', collect)
    .option('--rcvbuf <size>', 'socket receive buffer to ask for (default 32M; capped by net.core.rmem_max)')
    .option('--raise-rmem-max', 'as root, lift net.core.rmem_max to --rcvbuf while the sockets are sized, then restore it')
    .option('--receiver <path>', 'receive path: native (recvmmsg in its own thread), dgram (Node), auto = native when built (default auto; env LANTERN_NETCONSOLE_RECV)')
    .option('--state-dir <dir>', `where stats.json is kept (default ${DEFAULTS.stateDir})`)
    .option('--stats-interval <time>', 'rewrite stats.json this often (default 10s)')
    .option('--stats-log-interval <time>', 'log a stats line to stderr this often (default 5m)')
    .option('--max-fragment-memory <size>', 'most bytes held for ncfrag messages being reassembled, all senders together; the oldest is given up first (default 16M)')
    .option('--max-buffer <size>', 'most bytes held in memory while the disk is slow or failing (default 64M)')
    .option('--max-open-files <n>', 'most log files open at once (default 4096)')
    .option('--idle-close <time>', 'close a log file unused for this long (default 60s)')
    .option('--retry <time>', 'retry a failed write after this long (default 1s)')
    .option('--file-mode <octal>', 'mode of created log files (default 0640)')
    .option('--reuse-port', 'share the port with other receivers (SO_REUSEPORT; the kernel hashes each sender to one of them; native receive path only)')
    .option('--metrics <addr>', 'serve the counters in the Prometheus text format on ADDR:PORT (a bare port listens on 127.0.0.1)')
    .addHelpText(
      'after',
      `
Signals: SIGHUP reopens the log files (after logrotate), SIGUSR1 writes stats.json and logs the
counters, SIGTERM/SIGINT write out every partial line and exit.
Exit codes: 0 stopped cleanly, 64 bad option, 65 bad config file, 69 cannot listen, 70 the receive path
failed to start (try --receiver dgram) or the pipeline thread died, 74 lines left unwritten.`,
    )
    .action(async (opts: RawOptions & { config?: string; json?: boolean }) => {
      const layers: RawOptions[] = [];
      const cfgPath = opts.config ?? (existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : null);
      if (cfgPath) layers.push(parseConfigToml(readConfigText(cfgPath), cfgPath));
      const cli: RawOptions = { ...opts };
      delete cli.config;
      delete cli.json;
      if (opts.json) cli.format = 'json';
      // The environment sits between the file and the command line (tests and the service use it).
      const envRecv = process.env.LANTERN_NETCONSOLE_RECV;
      if (envRecv) layers.push({ receiver: envRecv });
      layers.push(cli);
      const cfg = resolveConfig(...layers);
      await runListen(cfg);
    });

  nc.command('stats')
    .description("print the running receiver's counters (from <state-dir>/stats.json); several --state-dir: receivers sharing a port, summed")
    .option('--state-dir <dir>', `the receiver's state directory, repeatable for receivers sharing a port with --reuse-port (default ${DEFAULTS.stateDir})`, collect)
    .option('--refresh', 'ask the receiver (SIGUSR1) to write fresh counters first')
    .option('--json', 'print the stats document as JSON (several receivers: {receivers, total})')
    .action(async (opts: { stateDir?: string[]; refresh?: boolean; json?: boolean }) => {
      const dirs = opts.stateDir?.length ? opts.stateDir : [DEFAULTS.stateDir];
      const docs: StatsSnapshot[] = [];
      for (const d of dirs) {
        const read = () => readStats(join(d, 'stats.json'));
        docs.push(opts.refresh ? await refreshedStats(read) : read());
      }
      const merged = docs.length === 1 ? docs[0]! : mergeStats(docs);
      if (opts.json) {
        if (docs.length === 1) printJson({ ...merged, running: isAlive(merged.pid) });
        else printJson({ receivers: docs.map((d) => ({ ...d, running: isAlive(d.pid) })), total: merged });
        return;
      }
      const p = paint();
      for (const s of docs) {
        const alive = isAlive(s.pid);
        const age = Math.round((Date.now() - Date.parse(s.writtenAt)) / 1000);
        console.log(`receiver pid ${s.pid} ${alive ? p.green('running') : p.red('not running')}, up ${s.uptimeSeconds} s, counters written ${age} s ago`);
        for (const l of s.listeners) console.log(`  listening ${l.listen}: receive buffer ${l.rcvbufGranted} of ${l.rcvbufRequested} bytes asked`);
      }
      if (docs.length > 1) console.log(`${docs.length} receivers, counters summed:`);
      const s = merged;
      const width = Math.max(...Object.keys(s.counters).map((k) => k.length));
      for (const [k, v] of Object.entries(s.counters)) {
        const bad =
          ['gaps', 'lostMessages', 'malformed', 'fragmentsEvicted', 'writeErrors', 'fdErrors', 'linesLost', 'linesUnwritten', 'filesTerminated', 'kernelDrops', 'stdoutDropped'].includes(k) &&
          typeof v === 'number' &&
          v > 0;
        console.log(`  ${k.padEnd(width)}  ${bad ? p.yellow(String(v)) : String(v ?? 'unknown')}`);
      }
      console.log(`  ${'sendersTracked'.padEnd(width)}  ${s.sendersTracked}`);
      console.log(`  ${'bufferedBytes'.padEnd(width)}  ${s.bufferedBytes}`);
      printOutputTroubles(s.troubles, p);
    });

  registerSetup(nc);
}

function readStats(path: string): StatsSnapshot {
  return readStatsFile<StatsSnapshot>(
    path,
    { who: 'receiver', command: 'lantern netconsole listen', doc: 'a stats document' },
    (d) => Array.isArray(d.listeners) && !!d.counters && typeof d.counters === 'object',
  );
}

async function runListen(cfg: ReturnType<typeof resolveConfig>): Promise<void> {
  const log = (line: string) => process.stderr.write(`lantern netconsole: ${line}\n`);
  // A signal that arrives while the receiver starts (sockets, worker, files) is held and acted on
  // once it runs, so an early SIGTERM still flushes (common/daemon).
  const signals = holdSignals();
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  let metrics: Server | null = null;
  try {
    rx = await startReceiver(cfg, log);
    if (cfg.metrics) {
      const r = rx;
      metrics = await serveMetrics(cfg.metrics, async () => netconsoleMetrics(await r.snapshot()));
    }
  } catch (e) {
    signals.release();
    if (rx!) await rx.stop();
    throw e;
  }
  await serveReceiver(signals, log, {
    reopen: () => rx.reopen(),
    async statsNow() {
      const snap = await rx.snapshot();
      await rx.writeStatsFile();
      return statsLine(snap);
    },
    async stop() {
      metrics?.close();
      const { unwritten } = await rx.stop();
      return { unwritten, statsLine: statsLine(await rx.snapshot()) };
    },
  });
}
