/**
 * What the long-running receivers (`netconsole listen`, `console listen`) share: their signal
 * handling from before the start to the end, and whether the pid a stats file names still runs.
 */

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
