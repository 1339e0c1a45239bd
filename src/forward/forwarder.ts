/**
 * One destination's forwarding loop over a receiver's files (see spool.ts for why the files are
 * the spool). Reads whole lines after the delivered position, sends them in batches, moves the
 * delivered position when the destination has them (see destination.ts for what "has" means per
 * protocol), and persists it so a restart resumes exactly there.
 *
 * Accounting: every line the loop reads ends in exactly one of delivered, rejected (the
 * destination refused it for good, e.g. Loki's "entry too old") or skipped (the backlog passed the
 * spool limit); resent counts the extra copies an at-least-once resend made.
 */
import { readFileSync } from 'node:fs';
import { CliError, EXIT } from '../common/exit.js';
import { writeOutput } from '../common/output.js';
import type { Destination, Outgoing } from './destination.js';
import { SendError } from './destination.js';
import { parseReceiverLine, type ForwardLine } from './lines.js';
import { compareLogNames, fileSpool, type Spool, type StreamPos } from './spool.js';

export interface ForwarderOptions {
  /** The receiver's output directory (read through fileSpool unless `spool` is given). */
  dir: string;
  /** Another source of lines (a recorder's store). */
  spool?: Spool;
  /** Where the delivered positions are kept (one JSON file per destination). */
  statePath: string;
  /** Most bytes a destination may fall behind before the oldest unsent lines are skipped. */
  spoolLimit: number;
  /** Largest batch, in bytes of receiver lines and in lines. */
  batchBytes: number;
  batchLines: number;
  /** How often to look for new lines when caught up. */
  pollMs: number;
  /** Retry backoff after a failed send: doubles from min to max. */
  backoffMinMs: number;
  backoffMaxMs: number;
  /** Where one-line notes go (errors, recoveries, skips). */
  say: (line: string) => void;
  now?: () => number;
}

export const DEFAULT_FORWARDER: Omit<ForwarderOptions, 'dir' | 'statePath' | 'say'> = {
  spoolLimit: 256 * 1024 * 1024,
  batchBytes: 256 * 1024,
  batchLines: 2000,
  pollMs: 200,
  backoffMinMs: 250,
  backoffMaxMs: 30_000,
};

export interface ForwarderCounters {
  /** Lines the destination has (delivered and, for TCP, settled). */
  delivered: number;
  /** Lines sent again after a broken connection (duplicates the destination may see). */
  resent: number;
  /** Lines the destination refused for good. */
  rejected: number;
  /** Lines passed over because the backlog exceeded the spool limit. */
  skipped: number;
  /** Failed sends (each retried). */
  sendErrors: number;
  /** Broken connections. */
  broken: number;
  /** The delivered positions could not be saved (e.g. disk full); forwarding went on. */
  stateWriteErrors: number;
  /** Bytes of receiver lines not yet delivered. */
  backlogBytes: number;
  /** Receive time of the newest delivered line, µs since the epoch (0: none yet). */
  lastDeliveredUs: number;
  /** Whether the last send failed (the destination is down or refusing). */
  failing: number;
}

interface State {
  version: 1;
  destination: string;
  streams: Record<string, StreamPos>;
  counters?: Partial<ForwarderCounters>;
}

interface Inflight {
  stream: string;
  pos: StreamPos;
  lines: number;
  at: number;
}

export class Forwarder {
  readonly counters: ForwarderCounters = { delivered: 0, resent: 0, rejected: 0, skipped: 0, sendErrors: 0, broken: 0, stateWriteErrors: 0, backlogBytes: 0, lastDeliveredUs: 0, failing: 0 };
  /** Delivered positions (what the state file holds). */
  private readonly delivered = new Map<string, StreamPos>();
  /** Where reading goes on (ahead of delivered while TCP batches settle). */
  private readonly readPos = new Map<string, StreamPos | null>();
  private inflight: Inflight[] = [];
  private stopped = false;
  private backoffMs = 0;
  private lastError = '';
  private stateDirty = false;
  private stateSavedAt = 0;
  private pendingNotes: Outgoing[] = [];
  private wake: (() => void) | null = null;
  private readonly now: () => number;
  private readonly spool: Spool;
  /** Lines re-read after a broken connection: they were already sent once. */
  private resendUntil = new Map<string, StreamPos>();

  constructor(
    readonly dest: Destination,
    private readonly opts: ForwarderOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.spool = opts.spool ?? fileSpool(opts.dir);
    this.load();
    dest.onBroken = () => this.rewind();
  }

  private load(): void {
    let text: string;
    try {
      text = readFileSync(this.opts.statePath, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new CliError(`${this.opts.statePath}: cannot read the forwarding state (${(e as NodeJS.ErrnoException).code ?? String(e)})`, EXIT.NOINPUT);
    }
    let st: State;
    try {
      st = JSON.parse(text) as State;
      if (st.version !== 1 || typeof st.streams !== 'object' || st.streams === null) throw new Error('unknown layout');
    } catch (e) {
      throw new CliError(`${this.opts.statePath}: not a forwarding state file (${(e as Error).message}); move it away to start from the spool limit`, EXIT.DATAERR);
    }
    for (const [k, v] of Object.entries(st.streams)) {
      if (v && typeof v.file === 'string' && Number.isSafeInteger(v.offset) && v.offset >= 0) this.delivered.set(k, { file: v.file, offset: v.offset });
    }
    for (const [k, v] of Object.entries(st.counters ?? {}))
      if (typeof v === 'number' && k in this.counters && k !== 'backlogBytes' && k !== 'failing') (this.counters as unknown as Record<string, number>)[k] = v;
  }

  private saveState(force = false): void {
    if (!this.stateDirty) return;
    const t = this.now();
    if (!force && t - this.stateSavedAt < 500) return;
    const st: State = { version: 1, destination: this.dest.name, streams: Object.fromEntries(this.delivered), counters: { ...this.counters } };
    try {
      writeOutput(this.opts.statePath, JSON.stringify(st) + '\n', { mode: 0o640 });
      this.stateDirty = false;
      this.stateSavedAt = t;
    } catch (e) {
      this.counters.stateWriteErrors++;
      if (this.counters.stateWriteErrors === 1 || this.counters.stateWriteErrors % 1000 === 0)
        this.opts.say(`lantern forward: ${this.dest.name}: cannot save the delivered position (${(e as Error).message}); forwarding goes on, a restart would resend from the last saved one`);
      this.stateSavedAt = t;
    }
  }

  /** A broken connection: everything read but not settled is read (and sent) again. */
  private rewind(): void {
    this.counters.broken++;
    for (const f of this.inflight) {
      const cur = this.resendUntil.get(f.stream);
      if (!cur || comparePos(f.pos, cur) > 0) this.resendUntil.set(f.stream, f.pos);
    }
    this.inflight = [];
    for (const s of this.readPos.keys()) this.readPos.set(s, this.delivered.get(s) ?? null);
  }

  private settle(force = false): void {
    const t = this.now();
    while (this.inflight.length > 0 && (force || t - this.inflight[0]!.at >= this.dest.settleMs)) {
      const f = this.inflight.shift()!;
      this.commit(f.stream, f.pos, f.lines);
    }
  }

  private commit(stream: string, pos: StreamPos, lines: number): void {
    this.delivered.set(stream, pos);
    this.counters.delivered += lines;
    this.stateDirty = true;
  }

  /** One pass over the streams: true when something was sent. */
  async step(): Promise<boolean> {
    this.settle();
    let sentAny = false;
    let backlog = 0;
    for (const stream of this.spool.streams()) {
      if (this.stopped) break;
      if (!this.readPos.has(stream)) this.readPos.set(stream, this.delivered.get(stream) ?? null);
      let pos = this.readPos.get(stream) ?? null;
      // Only a settled stream may skip (skipping past unsettled lines would lose their resend).
      if (!this.inflight.some((f) => f.stream === stream)) {
        const sk = this.spool.skip(stream, pos, this.opts.spoolLimit);
        if (sk.skippedLines > 0) {
          this.counters.skipped += sk.skippedLines;
          pos = sk.pos;
          this.readPos.set(stream, pos);
          if (pos) this.delivered.set(stream, pos);
          this.stateDirty = true;
          const text = `forward: ${sk.skippedLines} lines (${sk.skippedBytes} bytes) of ${stream || 'the combined file'} were not sent: the backlog passed the spool limit of ${this.opts.spoolLimit} bytes`;
          this.opts.say(`lantern ${text}`);
          this.pendingNotes.push({ line: { timeUs: this.now() * 1000, sender: 'lantern', host: '', text, kind: 'note' }, id: `skip:${stream || '.'}/${pos?.file ?? ''}:${pos?.offset ?? 0}` });
        }
      }
      const lines = this.spool.read(stream, pos, this.opts.batchBytes).slice(0, this.opts.batchLines);
      if (lines.length === 0 && this.pendingNotes.length === 0) continue;
      const batch: Outgoing[] = [...this.pendingNotes];
      for (const l of lines) batch.push({ line: l.line ?? parseReceiverLine(l.text), id: l.id });
      const last = lines.length ? lines[lines.length - 1]!.next : pos;
      try {
        await this.dest.send(batch);
        this.pendingNotes = [];
        if (this.backoffMs > 0) this.opts.say(`lantern forward: ${this.dest.name}: sending again${this.lastError ? ` (after: ${this.lastError})` : ''}`);
        this.backoffMs = 0;
        this.lastError = '';
        this.counters.failing = 0;
        const until = this.resendUntil.get(stream);
        if (until) {
          const again = lines.filter((l) => comparePos(l.next, until) <= 0).length;
          this.counters.resent += again;
          if (last && comparePos(last, until) >= 0) this.resendUntil.delete(stream);
        }
        if (last && lines.length) {
          this.readPos.set(stream, last);
          const newest = batch[batch.length - 1]!.line.timeUs;
          if (Number.isFinite(newest)) this.counters.lastDeliveredUs = Math.max(this.counters.lastDeliveredUs, newest);
          if (this.dest.settleMs === 0) this.commit(stream, last, lines.length);
          else this.inflight.push({ stream, pos: last, lines: lines.length, at: this.now() });
        }
        sentAny = true;
      } catch (e) {
        const err = e instanceof SendError ? e : new SendError(String((e as Error).message ?? e), true);
        this.counters.sendErrors++;
        this.counters.failing = 1;
        if (!err.retry) {
          // Refused for good: counted, announced once per batch, and passed over.
          this.counters.rejected += lines.length;
          this.pendingNotes = [];
          if (last && lines.length) {
            this.readPos.set(stream, last);
            this.delivered.set(stream, last);
            this.stateDirty = true;
          }
          this.opts.say(`lantern forward: ${this.dest.name} refused ${lines.length} lines for good (${err.message}); they stay in the local files`);
          continue;
        }
        if (err.message !== this.lastError) this.opts.say(`lantern forward: ${err.message}; the lines wait in the local files, retrying`);
        this.lastError = err.message;
        this.backoffMs = Math.min(this.opts.backoffMaxMs, Math.max(this.opts.backoffMinMs, this.backoffMs * 2));
        this.rewindStream();
        break;
      }
    }
    // The spool depth: what is not delivered yet, in every stream (also after a failed send).
    for (const stream of this.spool.streams()) backlog += this.spool.backlog(stream, this.delivered.get(stream) ?? null);
    this.counters.backlogBytes = backlog;
    this.saveState();
    return sentAny;
  }

  /** A failed send: reading restarts from what was delivered (TCP: the connection is gone too). */
  private rewindStream(): void {
    if (this.inflight.length > 0 || [...this.readPos].some(([s, p]) => p && comparePos(p, this.delivered.get(s) ?? { file: '', offset: 0 }) > 0)) this.rewind();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = null;
        resolve();
      };
    });
  }

  /** Runs until stop(). */
  async run(): Promise<void> {
    while (!this.stopped) {
      const sent = await this.step();
      if (this.stopped) break;
      if (this.backoffMs > 0) await this.sleep(this.backoffMs);
      else if (!sent) await this.sleep(this.inflight.length ? Math.min(this.opts.pollMs, this.dest.settleMs) : this.opts.pollMs);
    }
  }

  /**
   * Ends the loop: what was sent settles (a clean close), the delivered positions are saved, the
   * destination closed. Lines not sent stay in the files for the next start.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.dest.close();
    this.spool.close?.();
    this.settle(true);
    this.stateDirty = true;
    this.saveState(true);
  }
}

function comparePos(a: StreamPos, b: StreamPos): number {
  if (a.file !== b.file) return a.file === '' ? -1 : b.file === '' ? 1 : compareLogNames(a.file, b.file);
  return a.offset - b.offset;
}

export type { ForwardLine };
