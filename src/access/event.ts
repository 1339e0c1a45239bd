/**
 * The seam between access sources and the access lists (issue #11).
 *
 * A source (fanotify for files, syscall tracepoints for failures and network, …) turns what the
 * kernel reported into AccessEvents; the access-list core (src/access/) maps each event's pid to
 * its process-history domain (the recorder's ProcessModel), deduplicates per domain and bounds
 * the lists. Sources know nothing of domains or storage; the core knows nothing of backends.
 */

/** Which family of TOMOYO-style access line an event is. */
export type AccessCategory = 'file' | 'network' | 'misc';

export interface AccessEvent {
  /** Wall-clock time of the access, microseconds since the epoch. */
  timeUs: number;
  /**
   * When the backend knows it: the time on CLOCK_BOOTTIME (the recorder's trace clock), ns, so the
   * access is ordered exactly against the execs of its process (an access just before an exec
   * belongs to the old domain). Sources without it are stamped on arrival.
   */
  bootNs?: number;
  /** Process (thread-group) id that made the access. */
  pid: number;
  /** Thread id, when the backend knows it. */
  tid?: number;
  /** The process's comm at the time, when the backend knows it (fanotify does not). */
  comm?: string;
  category: AccessCategory;
  /**
   * The operation and its operands in TOMOYO's layout after the category word, e.g.
   * `read /etc/passwd`, `create /var/run/sshd.pid 0644`, `inet stream connect 127.0.0.1 22`,
   * `unix dgram bind /dev/log`, `env PATH`. Paths absolute (`proc:/self/…` for procfs).
   */
  operation: string;
  /** For a failed operation, the errno name (`EACCES`, `ETXTBSY`, `ENOENT`); absent on success. */
  errno?: string;
}

/** A running access backend. */
export interface AccessSource {
  /** Short name shown in `lantern record status` (`fanotify`, `tracepoint`, `bpftrace`). */
  readonly name: string;
  /** What this backend cannot see on this kernel, one plain sentence each. */
  readonly blind: readonly string[];
  /** Events lost by the backend (queue overflow, lost samples), counted, never silent. */
  readonly lost: number;
  /** The backend's own counters, shown in `lantern record status` and at the end of `--access-log` as `NAME.KEY`. */
  stats?(): Readonly<Record<string, number>>;
  /** Detach everything it attached (probes, marks, rules, mounts); safe to call twice. */
  stop(): Promise<void>;
}
