/**
 * `lantern console listen`'s daemon: every configured source started, their lines formatted and
 * written exactly as netconsole's receiver writes its lines (netconsole/format.ts, writer.ts:
 * one directory per source, day and size files, combined file, stdout, json, udplogger), stats
 * in STATE_DIR/stats.json. Console rates are low (a 115200-baud line carries ~11 KB/s), so it all
 * runs on one thread; the writer's queue keeps a slow disk from stalling the sources.
 */
import { join } from 'node:path';
import type { RxEvent } from '../netconsole/decoder.js';
import { Formatter } from '../netconsole/format.js';
import { Writer } from '../netconsole/writer.js';
import { statsFileWriter, statsHead, troublesOf, type OutputTrouble, type StatsHead } from '../common/stats-file.js';
import { describeSource, type ConsoleConfig, type SourceType } from './config.js';
import { startSource, type RunningSource } from './sources.js';
import { loadTermios } from './termios.js';
import { TtyState } from './tty-state.js';
import { ConsoleStream, newSourceCounters, type EventSink, type SourceCounters } from './stream.js';

export interface SourceStats {
  name: string;
  type: SourceType;
  description: string;
  state: string;
  counters: SourceCounters;
}

export interface ConsoleStats extends StatsHead {
  sources: SourceStats[];
  /** The sources' counters added up, and the output's. */
  counters: Record<string, number>;
  bufferedBytes: number;
  openFiles: number;
  troubles: OutputTrouble[];
}

/** Counters of the output side (the same names as netconsole's). */
type OutputCounter =
  'linesAccepted' | 'linesWritten' | 'linesQueued' | 'linesUnwritten' | 'linesLost' | 'bytesWritten' | 'writeErrors' | 'fdErrors' | 'filesTerminated' | 'reopened' | 'stdoutDropped' | 'flowPauses';

export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

export interface ConsoleReceiver {
  snapshot(): ConsoleStats;
  writeStatsFile(): void;
  reopen(): void;
  stop(): Promise<{ unwritten: number }>;
}

export async function startConsole(cfg: ConsoleConfig, log: (line: string) => void, clock: () => number = nowUs): Promise<ConsoleReceiver> {
  const out = cfg.output;
  const startedAt = new Date();
  const formatter = new Formatter(out.format, out.utc);
  const writer = new Writer({
    dir: out.dir,
    maxFileBytes: out.maxFileBytes,
    maxBufferedBytes: out.maxBufferBytes,
    maxOpenFiles: out.maxOpenFiles,
    idleCloseMs: out.idleCloseMs,
    retryMs: out.retryMs,
    fileMode: out.fileMode,
    note: (t, text) => formatter.note(t, text),
    now: clock,
    onTrouble: log,
  });
  let stdoutDropped = 0;
  let stdoutClosed = false;
  const stdoutLimit = Math.max(1 << 20, out.maxBufferBytes / 4);
  if (out.stdout) {
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (stdoutClosed) return;
      stdoutClosed = true;
      log(`stdout closed (${e.code ?? e.message}): no longer copying lines to it (counted as stdoutDropped); the files go on`);
    });
  }
  const direct = out.format === 'text' && !out.stdout && (out.perSender || out.combined);
  const sink: EventSink = {
    event(source: string, ev: RxEvent) {
      // Text format, files only: plain lines are encoded straight into the files' queued bytes (as
      // netconsole's pipeline does), no intermediate string.
      if (direct && formatter.encodable(ev)) {
        const day = formatter.clock.day(ev.timeUs);
        const max = Formatter.encodedMax(ev);
        const out1 = writer.reserve(out.perSender ? source : '', day, max);
        if (out1) {
          const start = out1.bytes;
          const end = formatter.encodeText(ev, out1.data, start);
          writer.commit(end < 0 ? 0 : end - start, end < 0 ? 0 : 1);
          if (end >= 0) {
            if (out.perSender && out.combined) {
              const data = out1.data;
              const out2 = writer.reserve('', day, end - start);
              if (out2) {
                data.copy(out2.data, out2.bytes, start, end);
                writer.commit(end - start, 1);
              } else writer.write('', { day, text: data.toString('utf8', start, end), lines: 1 });
            }
            checkFlow();
            return;
          }
        }
      }
      const f = formatter.event(ev);
      if (out.perSender) writer.write(source, f);
      if (out.combined) writer.write('', f);
      if (out.stdout) {
        if (stdoutClosed || process.stdout.writableLength > stdoutLimit) stdoutDropped += f.lines;
        else process.stdout.write(f.text);
      }
      checkFlow();
    },
  };

  const streams = new Set<ConsoleStream>();
  // Back-pressure: past half of --max-buffer queued for the disk, readers pause; below a quarter they go on.
  const high = out.maxBufferBytes / 2;
  const low = out.maxBufferBytes / 4;
  const readers = new Set<{ pause(): void; resume(): void }>();
  let flowPauses = 0;
  let flowTimer: NodeJS.Timeout | null = null;
  const flow = {
    paused: false,
    register(r: { pause(): void; resume(): void }) {
      readers.add(r);
      if (flow.paused) r.pause();
      return () => void readers.delete(r);
    },
  };
  const checkFlow = () => {
    if (!flow.paused && writer.buffered > high) {
      flow.paused = true;
      flowPauses++;
      for (const r of readers) r.pause();
      flowTimer = setInterval(() => {
        if (writer.buffered >= low) return;
        clearInterval(flowTimer!);
        flowTimer = null;
        flow.paused = false;
        for (const r of [...readers]) r.resume();
      }, 10);
    }
  };
  const running: Array<{ name: string; type: SourceType; description: string; counters: SourceCounters; src: RunningSource }> = [];
  const stopAll = async () => {
    for (const r of running.splice(0).reverse()) await r.src.stop();
  };
  // A predecessor killed with tty lines configured: their settings go back before any line is taken again.
  const ttyState = new TtyState(out.stateDir, log);
  if (ttyState.staleLines.length) {
    const t = loadTermios();
    ttyState.restoreStale('mod' in t ? t.mod : null);
  }
  try {
    for (const s of cfg.sources) {
      const counters = newSourceCounters();
      const src = await startSource({ cfg: s, counters, maxLineBytes: out.maxLineBytes, nowUs: clock, log, sink, streams, flow, ttyState });
      running.push({ name: s.name, type: s.type, description: describeSource(s), counters, src });
      log(`source ${s.name}: ${describeSource(s)}`);
    }
  } catch (e) {
    await stopAll();
    await writer.drain(1000);
    throw e;
  }
  const outputs = [out.perSender ? join(out.dir, '<source>', 'YYYY-MM-DD.log') : null, out.combined ? join(out.dir, 'YYYY-MM-DD.log') : null, out.stdout ? 'stdout' : null].filter(Boolean);
  log(`writing ${outputs.join(', ')} (${out.format}, ${out.utc ? 'UTC' : 'local time'}${out.maxFileBytes ? `, switching files at ${Math.round(out.maxFileBytes / 1048576)} MiB` : ''})`);

  // Lines that never end: written partial after the quiet time.
  const quietUs = out.partialTimeoutMs * 1000;
  const ticker = setInterval(
    () => {
      const t = clock();
      for (const s of streams) s.tick(t, quietUs);
    },
    Math.max(20, Math.min(250, out.partialTimeoutMs / 4)),
  );

  const snapshot = (): ConsoleStats => {
    const now = new Date();
    const totals: Record<string, number> = {};
    for (const r of running.length ? running : finalSources) for (const [k, v] of Object.entries(r.counters)) totals[k] = (totals[k] ?? 0) + v;
    const w = writer.counters;
    const o: Record<OutputCounter, number> = {
      linesAccepted: w.linesAccepted,
      linesWritten: w.linesWritten,
      linesQueued: writer.queuedLines,
      linesUnwritten: w.linesUnwritten,
      linesLost: w.linesLost,
      bytesWritten: w.bytesWritten,
      writeErrors: w.writeErrors,
      fdErrors: w.fdErrors,
      filesTerminated: w.filesTerminated,
      reopened: w.reopened,
      stdoutDropped,
      flowPauses,
    };
    return {
      ...statsHead(startedAt, now),
      sources: (running.length ? running : finalSources).map((r) => ({ name: r.name, type: r.type, description: r.description, state: r.src.state(), counters: { ...r.counters } })),
      counters: { ...totals, ...o },
      bufferedBytes: writer.buffered,
      openFiles: writer.openFiles,
      troubles: troublesOf(writer.troubles()),
    };
  };
  let finalSources: typeof running = [];
  const writeDoc = statsFileWriter(out.stateDir, log);
  const writeStatsFile = () => writeDoc(snapshot);
  writeStatsFile();
  const statsTimer = setInterval(writeStatsFile, out.statsIntervalMs);
  let lastLogged = '';
  const statsLogTimer = setInterval(() => {
    const line = consoleStatsLine(snapshot());
    if (line !== lastLogged) log(line);
    lastLogged = line;
  }, out.statsLogIntervalMs);

  let stopped = false;
  return {
    snapshot,
    writeStatsFile,
    reopen: () => writer.reopen(),
    async stop() {
      if (stopped) return { unwritten: 0 };
      stopped = true;
      clearInterval(ticker);
      clearInterval(statsTimer);
      clearInterval(statsLogTimer);
      if (flowTimer) clearInterval(flowTimer);
      flow.paused = false;
      finalSources = [...running];
      await stopAll();
      // Anything still in progress (a stream not owned by a source any more) ends here too.
      for (const s of streams) s.flush('shutdown');
      streams.clear();
      const r = await writer.drain(Math.max(2000, out.retryMs * 3));
      writeStatsFile();
      return r;
    },
  };
}

/** One log line with the counters that matter (SIGUSR1, the periodic log, exit). */
export function consoleStatsLine(s: ConsoleStats): string {
  const c = s.counters;
  const keys = [
    'bytesReceived',
    'lines',
    'partialLines',
    'telnetCommands',
    'connects',
    'disconnects',
    'connectFailures',
    'truncations',
    'rotations',
    'kernelDrops',
    'linesWritten',
    'linesQueued',
    'linesUnwritten',
    'writeErrors',
    'linesLost',
    'stdoutDropped',
  ];
  return 'stats: ' + keys.map((k) => `${k}=${c[k] ?? 0}`).join(' ') + ` sources=${s.sources.length} buffered=${s.bufferedBytes}`;
}
