/** `lantern console`: capture serial consoles (TCP, UDP, Unix socket, tty, followed file) as netconsole's receiver writes its logs. */
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { holdSignals, isAlive, readConfigText, RECEIVER_SIGNALS_HELP, serveReceiver } from '../common/daemon.js';
import { serveClaimed } from '../common/dir-claim.js';
import { Host } from '../host/host.js';
import { printJson } from '../common/json.js';
import { paint } from '../common/term.js';
import { DEFAULT_CONFIG_PATH, DEFAULT_DIR, DEFAULT_STATE_DIR, parseConsoleToml, resolveConsoleConfig, type ConsoleCliOptions, type ConsoleConfig } from './config.js';
import { consoleStatsLine, startConsole, type ConsoleReceiver, type ConsoleStats } from './receiver.js';
import { addFileOptions, addFormatOptions, addStateOptions } from '../common/output-options.js';
import { printCounters, printOutputTroubles, readStatsFile, refreshedStats } from '../common/stats-file.js';

export function register(program: Command): void {
  const con = program
    .command('console')
    .description('capture serial consoles (converters over TCP/UDP, QEMU sockets, ttys, log files) as timestamped lines per source')
    .addHelpText('after', '\nSubcommands: listen (the receiver), stats (its counters).\nSee docs/console.md.');

  const listen = con
    .command('listen')
    .description("read every configured console source and write timestamped lines per source (netconsole listen's output)")
    .option('-c, --config <file>', `TOML configuration with one [source.NAME] table per source (default ${DEFAULT_CONFIG_PATH} when it exists)`)
    .option('-s, --source <spec>', "one source instead of the file's: tcp:HOST:PORT, tcp-listen:[ADDR:]PORT, udp:[ADDR:]PORT, unix:PATH, unix-listen:PATH, tty:PATH, file:PATH")
    .option('-n, --name <name>', 'name of the --source (its directory and label; default console)')
    .option('--baud <rate>', 'tty: line speed (default 115200)')
    .option('--framing <bits>', 'tty: data bits, parity, stop bits (default 8N1)')
    .option('--telnet', 'strip telnet IAC negotiation (default for tcp and tcp-listen)')
    .option('--no-telnet', 'take the bytes as they are (no telnet)');
  addFormatOptions(listen, DEFAULT_DIR).option('--no-per-source', 'do not write <dir>/<source>/YYYY-MM-DD.log');
  addFileOptions(listen, 'source');
  addStateOptions(listen, DEFAULT_STATE_DIR)
    .addHelpText(
      'after',
      `
${RECEIVER_SIGNALS_HELP}
Exit codes: 0 stopped cleanly, 64 bad option or source, 65 bad config file, 66 config file unreadable,
69 a source cannot listen or open (or the termios addon is missing for a tty), or the dir or state_dir
is held by a running receiver, 74 lines left unwritten,
77 a device needs root.`,
    )
    .action(async (opts: ConsoleCliOptions & { config?: string; json?: boolean; perSource?: boolean }) => {
      const { config, json, perSource, ...rest } = opts;
      const cfgPath = config ?? (rest.source === undefined && existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : null);
      const file = cfgPath ? parseConsoleToml(readConfigText(cfgPath), cfgPath) : null;
      const cli: ConsoleCliOptions = { ...rest };
      if (json) cli.format = 'json';
      // commander sets perSource to true unless --no-per-source: only the "no" is an option given.
      if (perSource === false) cli.perSender = false;
      await runListen(resolveConsoleConfig(file, cli, cfgPath ?? 'the command line'));
    });

  con
    .command('stats')
    .description("print the running console receiver's counters (from <state-dir>/stats.json)")
    .option('--state-dir <dir>', `the receiver's state directory (default ${DEFAULT_STATE_DIR})`)
    .option('--refresh', 'ask the receiver (SIGUSR1) to write fresh counters first')
    .option('--json', 'print the stats document as JSON')
    .action(async (opts: { stateDir?: string; refresh?: boolean; json?: boolean }) => {
      const read = () => readStats(join(opts.stateDir ?? DEFAULT_STATE_DIR, 'stats.json'));
      const s = opts.refresh ? await refreshedStats(read) : read();
      const alive = isAlive(s.pid);
      if (opts.json) {
        printJson({ ...s, running: alive });
        return;
      }
      const p = paint();
      const age = Math.round((Date.now() - Date.parse(s.writtenAt)) / 1000);
      console.log(`console receiver pid ${s.pid} ${alive ? p.green('running') : p.red('not running')}, up ${s.uptimeSeconds} s, counters written ${age} s ago`);
      const bad = new Set([
        'partialLines',
        'disconnects',
        'connectFailures',
        'refused',
        'peersEvicted',
        'kernelDrops',
        'truncatedDatagrams',
        'truncations',
        'readErrors',
        'writeErrors',
        'fdErrors',
        'linesLost',
        'linesUnwritten',
        'filesTerminated',
        'stdoutDropped',
      ]);
      for (const src of s.sources) {
        const c = src.counters;
        const warn = (k: keyof typeof c) => (bad.has(k) && c[k] > 0 ? p.yellow(`${k}=${c[k]}`) : `${k}=${c[k]}`);
        console.log(`  ${src.name}: ${src.description}: ${src.state}`);
        console.log(`    ${(['bytesReceived', 'lines', 'partialLines', 'telnetCommands', 'connects', 'disconnects', 'connectFailures'] as const).map(warn).join(' ')}`);
      }
      printCounters(s.counters, bad, p, { bufferedBytes: s.bufferedBytes });
      printOutputTroubles(s.troubles, p);
    });
}

function readStats(path: string): ConsoleStats {
  return readStatsFile<ConsoleStats>(
    path,
    { who: 'console receiver', command: 'lantern console listen', doc: 'a console stats document' },
    (d) => Array.isArray(d.sources) && typeof d.counters === 'object',
  );
}

async function runListen(cfg: ConsoleConfig): Promise<void> {
  const log = (line: string) => process.stderr.write(`lantern console: ${line}\n`);
  // One receiver per directory (common/dir-claim): a second one on the same dir or state_dir is refused.
  await serveClaimed(cfg.output, 'lantern console listen', log, new Host(), () => serveListen(cfg, log));
}

async function serveListen(cfg: ConsoleConfig, log: (line: string) => void): Promise<void> {
  // Signals that arrive while the sources start are held and acted on once it runs (as netconsole listen).
  const signals = holdSignals();
  let rx: ConsoleReceiver;
  try {
    rx = await startConsole(cfg, log);
  } catch (e) {
    signals.release();
    throw e;
  }
  await serveReceiver(signals, log, {
    reopen: () => rx.reopen(),
    statsNow() {
      rx.writeStatsFile();
      return consoleStatsLine(rx.snapshot());
    },
    async stop() {
      const { unwritten } = await rx.stop();
      return { unwritten, statsLine: consoleStatsLine(rx.snapshot()) };
    },
  });
}
