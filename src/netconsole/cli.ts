/** `lantern netconsole`: receive kernel messages sent over UDP by netconsole; set up the sender side. */
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { holdSignals, isAlive, readConfigText, RECEIVER_SIGNALS_HELP, serveReceiver } from '../common/daemon.js';
import { serveClaimed } from '../common/dir-claim.js';
import { Host } from '../host/host.js';
import { printJson } from '../common/json.js';
import { paint } from '../common/term.js';
import { DEFAULT_CONFIG_PATH, DEFAULTS, parseConfigToml, resolveConfig, type RawOptions } from './config.js';
import { mergeStats, startReceiver, statsLine, type StatsSnapshot } from './receiver.js';
import { printCounters, printOutputTroubles, readStatsFile, refreshedStats } from '../common/stats-file.js';
import { registerSetup } from './setup-cli.js';
import { addFileOptions, addFormatOptions, addStateOptions } from '../common/output-options.js';
import { netconsoleMetrics } from './metrics.js';
import { serveMetrics } from '../common/metrics.js';
import type { Server } from 'node:http';

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

/** Counters shown in yellow by `stats` when above 0: something was lost, refused or went wrong. */
const BAD_COUNTERS = new Set(['gaps', 'lostMessages', 'malformed', 'fragmentsEvicted', 'writeErrors', 'fdErrors', 'linesLost', 'linesUnwritten', 'filesTerminated', 'kernelDrops', 'stdoutDropped']);

export function register(program: Command): void {
  const nc = program
    .command('netconsole')
    .description('receive kernel messages sent by netconsole over UDP (lossless, per-sender logs); set up the sender side')
    .addHelpText('after', '\nSubcommands: listen (the receiver), stats (its counters), setup (configure netconsole on this host).\nSee docs/netconsole.md.');

  const listen = nc
    .command('listen')
    .description('receive netconsole datagrams (legacy and extended format) and write timestamped lines per sender')
    .option('-c, --config <file>', `TOML configuration file (default ${DEFAULT_CONFIG_PATH} when it exists); options given here override it`)
    .option('-l, --listen <addr>', 'address:port to listen on, repeatable: 6666, 0.0.0.0:6666, [::]:6666, [::1]:7000 (default [::]:6666, IPv6 and IPv4)', collect);
  addFormatOptions(listen, DEFAULTS.dir).option('--per-sender', 'write <dir>/<address>/YYYY-MM-DD.log (default)').option('--no-per-sender', 'do not write per-sender files');
  addFileOptions(listen, 'sender')
    .option('--frag-timeout <time>', 'give up waiting for missing ncfrag fragments after this long (default 5s)')
    .option('--max-fragment-memory <size>', 'most bytes held for ncfrag messages being reassembled, all senders together; the oldest is given up first (default 16M)')
    .option('--max-senders <n>', 'most senders tracked at once; the least recently active is evicted (default 16384)')
    .option('--sender-idle <time>', 'forget a quiet sender after this long (default 10m)')
    .option('--allow <cidr>', 'accept datagrams only from these addresses/CIDRs, repeatable (others are dropped and counted)', collect)
    .option('--rcvbuf <size>', 'socket receive buffer to ask for (default 32M; capped by net.core.rmem_max)')
    .option('--raise-rmem-max', 'as root, lift net.core.rmem_max to --rcvbuf while the sockets are sized, then restore it')
    .option('--receiver <path>', 'receive path: native (recvmmsg in its own thread), dgram (Node), auto = native when built (default auto; env LANTERN_NETCONSOLE_RECV)');
  addStateOptions(listen, DEFAULTS.stateDir)
    .option('--reuse-port', 'share the port with other receivers (SO_REUSEPORT; the kernel hashes each sender to one of them; native receive path only)')
    .option('--metrics <addr>', 'serve the counters in the Prometheus text format on ADDR:PORT (a bare port listens on 127.0.0.1)')
    .addHelpText(
      'after',
      `
${RECEIVER_SIGNALS_HELP}
Exit codes: 0 stopped cleanly, 64 bad option, 65 bad config file, 69 cannot listen or --dir/--state-dir
held by a running receiver, 70 the receive path
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
      printCounters(s.counters, BAD_COUNTERS, p, { sendersTracked: s.sendersTracked, bufferedBytes: s.bufferedBytes });
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
  // One receiver per directory (common/dir-claim): a second one on the same --dir or --state-dir is refused.
  await serveClaimed(cfg, 'lantern netconsole listen', log, new Host(), () => serveListen(cfg, log));
}

async function serveListen(cfg: ReturnType<typeof resolveConfig>, log: (line: string) => void): Promise<void> {
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
