/**
 * What the long-running receivers (`netconsole listen`, `console listen`) share: reading their
 * configuration file, their signal handling from before the start to the end (and what they log and
 * exit with on each signal), and whether the pid a stats file names still runs.
 */
import { readFileSync } from 'node:fs';
import { CliError, EXIT } from './exit.js';

/** The configuration file's text; one that cannot be read is exit 66 (NOINPUT), named with its errno. */
export function readConfigText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new CliError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e as Error)})`, EXIT.NOINPUT);
  }
}

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface ReceiverSignals {
  /** SIGHUP: reopen the log files (after logrotate). */
  reopen(): void;
  /** SIGUSR1: write the stats file and log the counters. */
  stats(): void;
  /** The first SIGTERM/SIGINT: flush and stop; resolves once stopped. */
  stop(sig: NodeJS.Signals): Promise<void>;
}

/**
 * One set of signal listeners from before the start to the end: a signal that arrives while the
 * receiver starts (sockets, workers, files) is held and acted on once `serve` is called, so an early
 * SIGTERM still flushes. (Removing a listener and adding another would drop a signal libuv has caught
 * but not yet delivered.) `serve` resolves when the receiver has stopped; a second SIGTERM/SIGINT
 * while it flushes stops the process at once, as the default action would. `release` (a start that
 * failed) removes the listeners.
 */
export function holdSignals(): { release(): void; serve(on: ReceiverSignals): Promise<void> } {
  const handled = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1'] as const;
  const held: NodeJS.Signals[] = [];
  let dispatch: ((sig: NodeJS.Signals) => void) | null = null;
  const onSignal = (sig: NodeJS.Signals) => (dispatch ? dispatch(sig) : held.push(sig));
  const release = () => {
    for (const s of handled) process.off(s, onSignal);
  };
  for (const s of handled) process.on(s, onSignal);
  const serve = (on: ReceiverSignals) =>
    new Promise<void>((resolve) => {
      let stopping = false;
      dispatch = (sig) => {
        if (sig === 'SIGHUP') on.reopen();
        else if (sig === 'SIGUSR1') on.stats();
        else if (!stopping) {
          stopping = true;
          void on.stop(sig).then(() => {
            release();
            resolve();
          });
        } else {
          release();
          process.kill(process.pid, sig);
        }
      };
      for (const sig of held.splice(0)) dispatch(sig);
    });
  return { release, serve };
}

/** A started receiver as its signals drive it; `serveReceiver` says what is logged and the exit code. */
export interface RunningReceiver {
  reopen(): void;
  /** SIGUSR1: write the stats file; resolves to the stats line to log. */
  statsNow(): Promise<string> | string;
  /** Flush and stop: how many lines were left unwritten, and the stats line to log after. */
  stop(): Promise<{ unwritten: number; statsLine: string }>;
}

/** What `serveReceiver` does on each signal, for a receiver's --help. */
export const RECEIVER_SIGNALS_HELP = `Signals: SIGHUP reopens the log files (after logrotate), SIGUSR1 writes stats.json and logs the
counters, SIGTERM/SIGINT write out every partial line and exit.`;

/**
 * Drive a started receiver by its signals until it stops: SIGHUP reopens the log files, SIGUSR1
 * writes and logs the counters, SIGTERM/SIGINT flush and stop; lines left unwritten then are
 * logged and make the exit code 74 (IOERR).
 */
export function serveReceiver(signals: ReturnType<typeof holdSignals>, log: (line: string) => void, rx: RunningReceiver): Promise<void> {
  return signals.serve({
    reopen() {
      rx.reopen();
      log('SIGHUP: reopening log files');
    },
    stats() {
      void Promise.resolve(rx.statsNow()).then(log);
    },
    async stop(sig) {
      log(`${sig}: writing out partial lines and queued output`);
      const { unwritten, statsLine } = await rx.stop();
      log(statsLine);
      if (unwritten > 0) {
        log(`error: ${unwritten} lines could not be written before exit`);
        process.exitCode = EXIT.IOERR;
      }
    },
  });
}
