/**
 * One console byte stream (a connection, a tty, a followed file, a UDP peer): telnet stripping,
 * line assembly, and the output its lines and markers go to. Pure apart from the Output it is
 * given: the edges (sources.ts) feed it bytes with their receive time.
 */
import type { MarkerKind, RxEvent, Sender } from '../netconsole/decoder.js';
import { senderLabel } from '../netconsole/decoder.js';
import { LineAssembler, newLineCounters, type ConsolePartial, type ConsoleLine, type LineCounters } from './lines.js';
import { TelnetStripper, type TelnetCounters } from './telnet.js';

/** Where a stream's events go (receiver.ts: formatter + writer + stdout). */
export interface EventSink {
  event(source: string, ev: RxEvent): void;
}

/** What one source counts (its streams add into it). */
export interface SourceCounters extends LineCounters {
  /** Bytes read from the source, before telnet stripping. */
  bytesReceived: number;
  telnetCommands: number;
  telnetBytes: number;
  /** Markers written (connected, disconnected, truncated, rotated). */
  markers: number;
  connects: number;
  disconnects: number;
  /** Attempts to connect or open that failed (each retried after the backoff). */
  connectFailures: number;
  /** tcp-listen: connections refused at max_connections. */
  refused: number;
  /** udp: datagrams received; peers evicted at max_peers (their partial line written first). */
  datagrams: number;
  peersEvicted: number;
  /** udp: the kernel's receive-buffer drops for this source's socket (/proc/net/udp*), and datagrams cut at 64 KiB. */
  kernelDrops: number;
  truncatedDatagrams: number;
  /** file: truncations and rotations followed. */
  truncations: number;
  rotations: number;
  readErrors: number;
}

export function newSourceCounters(): SourceCounters {
  return {
    ...newLineCounters(),
    bytesReceived: 0,
    telnetCommands: 0,
    telnetBytes: 0,
    markers: 0,
    connects: 0,
    disconnects: 0,
    connectFailures: 0,
    refused: 0,
    datagrams: 0,
    peersEvicted: 0,
    kernelDrops: 0,
    truncatedDatagrams: 0,
    truncations: 0,
    rotations: 0,
    readErrors: 0,
  };
}

export class ConsoleStream {
  readonly sender: Sender;
  /** When the last bytes came (udp: which peer is the least recently heard). */
  lastUs = 0;
  /** Evicted or ended: no more bytes go to it. */
  closed = false;
  private readonly telnet: TelnetStripper | null;
  private readonly lines: LineAssembler;
  private telnetSeen: TelnetCounters = { commands: 0, bytes: 0 };

  constructor(
    readonly source: string,
    /** The peer (host or address, port) or path; label is what every output line names. */
    address: string,
    port: number,
    label: string | null,
    private readonly sink: EventSink,
    private readonly counters: SourceCounters,
    maxLineBytes: number,
    telnet: boolean,
    onNegotiation?: (verb: number, option: number) => void,
  ) {
    this.sender = { address, port, label: label ?? senderLabel(address, port) };
    this.telnet = telnet ? new TelnetStripper(onNegotiation) : null;
    // The source's counters are the assembler's: every stream of it adds into the same ones.
    this.lines = new LineAssembler((l) => this.line(l), maxLineBytes, counters);
  }

  get pendingSinceUs(): number {
    return this.lines.pendingSinceUs;
  }

  data(chunk: Buffer, timeUs: number): void {
    this.counters.bytesReceived += chunk.length;
    let data = chunk;
    if (this.telnet) {
      data = this.telnet.strip(chunk);
      const t = this.telnet.counters;
      this.counters.telnetCommands += t.commands - this.telnetSeen.commands;
      this.counters.telnetBytes += t.bytes - this.telnetSeen.bytes;
      this.telnetSeen = { ...t };
    }
    this.lines.push(data, timeUs);
  }

  /** A line not ended for `quietUs`: written, marked partial (timeout). */
  tick(nowUs: number, quietUs: number): void {
    const since = this.lines.pendingSinceUs;
    if (since > 0 && nowUs - since >= quietUs) this.lines.flush('timeout');
  }

  flush(why: ConsolePartial, timeUs?: number): void {
    this.lines.flush(why, timeUs);
  }

  marker(kind: MarkerKind, text: string, timeUs: number): void {
    this.counters.markers++;
    this.sink.event(this.source, { type: 'marker', sender: this.sender, timeUs, kind, text, count: 0 });
  }

  private line(l: ConsoleLine): void {
    this.sink.event(this.source, { type: 'line', sender: this.sender, timeUs: l.timeUs, text: l.text, partial: l.partial, malformed: null });
  }
}
