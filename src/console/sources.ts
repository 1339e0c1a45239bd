/**
 * The edges: each source type opens its sockets, device or file, feeds a ConsoleStream per
 * connection / peer with the bytes and their receive time, and marks every connect, disconnect,
 * truncation and rotation. Nothing read is ever used as a path, a command or an argument: paths
 * and addresses come from the configuration only.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import tty from 'node:tty';
import { closeSync, constants as fsc, fstatSync, lstatSync, openSync, readlinkSync, readSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { openEvidence } from '../common/evidence.js';
import { Host } from '../host/host.js';
import { forEachNativeDatagram, SenderTable } from '../netconsole/native-batch.js';
import { loadNative } from '../netconsole/native.js';
import { ownSocketInodes, readKernelDrops } from '../netconsole/procnet.js';
import { CliError, EXIT } from '../common/exit.js';
import type { SourceConfig } from './config.js';
import { framingText, sourceWhere as where } from './config.js';
import { ConsoleStream, type EventSink, type SourceCounters } from './stream.js';
import { refusal } from './telnet.js';
import { loadTermios } from './termios.js';
import type { TtyState } from './tty-state.js';

export interface SourceContext {
  cfg: SourceConfig;
  counters: SourceCounters;
  maxLineBytes: number;
  nowUs: () => number;
  log: (text: string) => void;
  sink: EventSink;
  /** Streams with a line in progress are ticked (partial timeout) from here. */
  streams: Set<ConsoleStream>;
  /** Back-pressure from the writer: readers register to be paused while the disk is behind. */
  flow: Flow;
  /** tty: where a line's settings are kept before they are changed (put back after a crash). */
  ttyState: TtyState;
}

/**
 * While the writer holds more than its high-water mark, every reader that can wait is paused
 * (TCP and Unix sockets, ttys: the other end or the kernel buffers; a followed file is simply read
 * later; udp batches wait in the native receive path's queue), so a burst faster than the disk
 * costs memory up to a bound and then waiting, not lines. receiver.ts drives it.
 */
export interface Flow {
  readonly paused: boolean;
  /** Calls pause() at once if paused now; returns the unregister function. */
  register(r: { pause(): void; resume(): void }): () => void;
}

export interface RunningSource {
  /** In words, for stats: `connected to 10.0.0.5:7001`, `waiting 4 s to reconnect`, … */
  state(): string;
  stop(): Promise<void>;
}

const errCode = (e: unknown): string => (e as NodeJS.ErrnoException)?.code ?? (e as Error)?.message ?? String(e);
const secs = (ms: number): string => (ms < 1000 ? `${ms} ms` : `${+(ms / 1000).toFixed(1)} s`);

export async function startSource(ctx: SourceContext): Promise<RunningSource> {
  switch (ctx.cfg.type) {
    case 'tcp':
    case 'unix':
      return startClient(ctx);
    case 'tcp-listen':
    case 'unix-listen':
      return startServer(ctx);
    case 'udp':
      return startUdp(ctx);
    case 'tty':
      return startTty(ctx);
    case 'file':
      return startFile(ctx);
  }
}

/** Answer each negotiation once per connection, always refusing (see telnet.ts). */
function negotiator(write: (b: Buffer) => void): (verb: number, option: number) => void {
  const answered = new Set<number>();
  return (verb, option) => {
    const key = (verb << 8) | option;
    if (answered.has(key)) return;
    answered.add(key);
    const r = refusal(verb, option);
    if (r) write(r);
  };
}

/** The stream of one socket connection (tcp, unix, either side): telnet negotiation answered on that socket, ticked from ctx.streams. */
function connectionStream(ctx: SourceContext, s: net.Socket, address: string, port: number, label: string): ConsoleStream {
  const stream = new ConsoleStream(
    ctx.cfg.name,
    address,
    port,
    label,
    ctx.sink,
    ctx.counters,
    ctx.maxLineBytes,
    ctx.cfg.telnet,
    negotiator((b) => s.write(b)),
  );
  ctx.streams.add(stream);
  return stream;
}

/**
 * Retry with capped exponential backoff: min, 2·min, … up to max; back to min after a
 * connection that delivered data or lasted a while.
 */
class Backoff {
  private next: number;
  constructor(
    private readonly min: number,
    private readonly max: number,
  ) {
    this.next = min;
  }
  take(): number {
    const d = this.next;
    this.next = Math.min(this.max, this.next * 2);
    return d;
  }
  reset(): void {
    this.next = this.min;
  }
}

/** tcp (a converter, QEMU `-serial tcp:…,server`) and unix (QEMU/libvirt chardev socket): we connect. */
function startClient(ctx: SourceContext): RunningSource {
  const { cfg, counters } = ctx;
  const backoff = new Backoff(cfg.reconnectMinMs, cfg.reconnectMaxMs);
  const target = where(cfg);
  let sock: net.Socket | null = null;
  let stream: ConsoleStream | null = null;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let state = 'connecting';
  /** Failures since the last connection: only the first is marked (a dead converter does not fill the log). */
  let failures = 0;
  let lastError = '';
  let unflow = () => undefined as void;
  // Each connection gets a stream of its own (telnet state and line assembly start again; a line cut
  // by a disconnect is written partial before the marker), all with the source's label; this one
  // carries the markers written while there is no connection (cannot connect).
  const persistent = new ConsoleStream(cfg.name, cfg.address ? cfg.address.host : cfg.path!, cfg.address ? cfg.address.port : 0, cfg.name, ctx.sink, counters, ctx.maxLineBytes, false);

  const connect = () => {
    timer = null;
    if (stopped) return;
    state = `connecting to ${target}`;
    lastError = '';
    const s = cfg.address ? net.connect({ host: cfg.address.host, port: cfg.address.port }) : net.connect({ path: cfg.path! });
    sock = s;
    let connected = false;
    let gotData = false;
    s.on('connect', () => {
      connected = true;
      counters.connects++;
      s.setKeepAlive(true, 30_000);
      // A new stream per connection for telnet state (negotiation starts again); same label.
      stream = connectionStream(ctx, s, persistent.sender.address, persistent.sender.port, cfg.name);
      unflow = ctx.flow.register({ pause: () => s.pause(), resume: () => s.resume() });
      const after = failures > 0 ? ` after ${failures} failed attempt${failures === 1 ? '' : 's'}` : '';
      state = `connected to ${target}`;
      stream.marker('connected', `connected to ${target}${after}`, ctx.nowUs());
      ctx.log(`${cfg.name}: connected to ${target}${after}`);
      failures = 0;
    });
    s.on('data', (b: Buffer) => {
      gotData = true;
      stream!.data(b, ctx.nowUs());
    });
    // EPIPE is our refusal of a negotiation meeting a closed connection: the close is what matters.
    s.on('error', (e) => {
      if (errCode(e) !== 'EPIPE') lastError = errCode(e);
    });
    s.on('close', () => {
      sock = null;
      unflow();
      const t = ctx.nowUs();
      if (connected && stream) {
        if (!stopped) counters.disconnects++;
        stream.flush(stopped ? 'shutdown' : 'disconnect', t);
        ctx.streams.delete(stream);
        if (!stopped) {
          if (gotData) backoff.reset();
          const wait = backoff.take();
          stream.marker('disconnected', `connection to ${target} lost (${lastError || 'closed by the other end'}); reconnecting in ${secs(wait)}`, t);
          ctx.log(`${cfg.name}: connection to ${target} lost (${lastError || 'closed by the other end'}); reconnecting in ${secs(wait)}`);
          schedule(wait);
        }
        stream = null;
        return;
      }
      if (stopped) return;
      counters.connectFailures++;
      failures++;
      const wait = backoff.take();
      if (failures === 1) {
        persistent.marker('disconnected', `cannot connect to ${target} (${lastError || 'closed'}); retrying, waiting up to ${secs(cfg.reconnectMaxMs)} between attempts`, t);
        ctx.log(`${cfg.name}: cannot connect to ${target} (${lastError || 'closed'}); retrying (backoff ${secs(cfg.reconnectMinMs)} .. ${secs(cfg.reconnectMaxMs)})`);
      }
      schedule(wait);
    });
  };
  const schedule = (ms: number) => {
    state = `waiting ${secs(ms)} to reconnect to ${target}${lastError ? ` (${lastError})` : ''}`;
    timer = setTimeout(connect, ms);
  };
  connect();
  return {
    state: () => state,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      const s = sock;
      if (s) {
        const closed = new Promise<void>((r) => s.once('close', () => r()));
        s.destroy();
        await closed;
      }
      if (stream) {
        stream.flush('shutdown');
        ctx.streams.delete(stream);
      }
      state = 'stopped';
    },
  };
}

function peerLabel(name: string, address: string, port: number): string {
  const a = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  return `${name}/${a.includes(':') ? `[${a}]` : a}:${port}`;
}

/**
 * tcp-listen (converters connect to us) and unix-listen (QEMU/libvirt `chardev socket,server=off`
 * connects to us): each connection is its own stream, labelled NAME/peer — the peer's address and
 * port, or for a Unix socket (whose peers have no name) `cN`, the Nth connection since start.
 */
async function startServer(ctx: SourceContext): Promise<RunningSource> {
  const { cfg, counters } = ctx;
  const conns = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((s) => {
    const t = ctx.nowUs();
    accepted++;
    const peer = cfg.type === 'unix-listen' ? `${cfg.name}/c${accepted}` : peerLabel(cfg.name, s.remoteAddress ?? '?', s.remotePort ?? 0);
    if (conns.size >= cfg.maxConnections) {
      counters.refused++;
      ctx.log(`${cfg.name}: refused a connection from ${peer.slice(cfg.name.length + 1)}: max_connections (${cfg.maxConnections}) reached`);
      s.destroy();
      return;
    }
    conns.add(s);
    counters.connects++;
    const address = cfg.type === 'unix-listen' ? cfg.path! : (s.remoteAddress ?? '?').replace(/^::ffff:(?=\d+\.)/, '');
    const stream = connectionStream(ctx, s, address, cfg.type === 'unix-listen' ? accepted : (s.remotePort ?? 0), peer);
    stream.marker('connected', `connection from ${peer.slice(cfg.name.length + 1)}`, t);
    let lastError = '';
    let stopping = false;
    s.on('data', (b: Buffer) => stream.data(b, ctx.nowUs()));
    const unflow = ctx.flow.register({ pause: () => s.pause(), resume: () => s.resume() });
    s.on('error', (e) => (lastError = errCode(e)));
    (s as net.Socket & { lanternStop?: () => void }).lanternStop = () => (stopping = true);
    s.on('close', () => {
      unflow();
      conns.delete(s);
      const now = ctx.nowUs();
      if (!stopping) counters.disconnects++;
      stream.flush(stopping ? 'shutdown' : 'disconnect', now);
      ctx.streams.delete(stream);
      if (!stopping) stream.marker('disconnected', `connection from ${peer.slice(cfg.name.length + 1)} closed (${lastError || 'by the other end'})`, now);
    });
  });
  if (cfg.type === 'unix-listen') await listenUnix(server, cfg);
  else await listen(server, cfg);
  return {
    state: () => `listening on ${where(cfg)}, ${conns.size} connection${conns.size === 1 ? '' : 's'}`,
    async stop() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of conns) {
        (s as net.Socket & { lanternStop?: () => void }).lanternStop?.();
        s.destroy();
      }
      await closed;
    },
  };
}

function listen(server: net.Server, cfg: SourceConfig): Promise<void> {
  const a = cfg.address!;
  return new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(listenError(e, cfg)));
    server.listen({ host: a.host, port: a.port, ipv6Only: false }, () => resolve());
  });
}

/**
 * A Unix socket server at the configured path. Whatever is there is never replaced: a socket
 * nobody listens on (left by a receiver that was killed) is removed first; a socket somebody
 * listens on, or anything that is not a socket (a file, a link, a device node), is an error. bind()
 * itself never follows a link planted after the check: it fails on any existing name (EADDRINUSE).
 */
async function listenUnix(server: net.Server, cfg: SourceConfig): Promise<void> {
  const path = cfg.path!;
  let st: Stats | null = null;
  try {
    st = lstatSync(path);
  } catch (e) {
    if (errCode(e) !== 'ENOENT') throw new CliError(`source ${cfg.name}: cannot listen on unix ${path}: ${errCode(e)}`, EXIT.UNAVAILABLE);
  }
  if (st && !st.isSocket()) throw new CliError(`source ${cfg.name}: cannot listen on unix ${path}: it exists and is not a socket (not replaced)`, EXIT.UNAVAILABLE);
  if (st) {
    const answered = await new Promise<boolean>((resolve) => {
      const probe = net.connect({ path });
      probe.once('connect', () => {
        probe.destroy();
        resolve(true);
      });
      probe.once('error', () => resolve(false));
    });
    if (answered) throw new CliError(`source ${cfg.name}: cannot listen on unix ${path}: another process listens on it (another receiver is running?)`, EXIT.UNAVAILABLE);
    unlinkSync(path);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new CliError(`source ${cfg.name}: cannot listen on unix ${path}: ${errCode(e)}`, EXIT.UNAVAILABLE)));
    server.listen({ path }, () => resolve());
  });
}

function listenError(e: unknown, cfg: SourceConfig): CliError {
  const code = errCode(e);
  const hint = code === 'EACCES' ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)' : code === 'EADDRINUSE' ? ' (another receiver is running?)' : '';
  return new CliError(`source ${cfg.name}: cannot listen on ${cfg.type === 'udp' ? 'udp' : 'tcp'} ${where(cfg)}: ${code}${hint}`, EXIT.UNAVAILABLE);
}

/** Receive buffer asked for a udp source's socket (forced past net.core.rmem_max by the native path as root). */
const UDP_RCVBUF = 32 * 1024 * 1024;
/**
 * Most bytes of received datagrams the native receive thread may hold for this thread (entries of
 * 80 bytes plus payloads): past it, it stops reading and the kernel buffer holds the rest. A burst
 * of a million one-line datagrams is about 180 MiB.
 */
const UDP_MAX_QUEUED = 256 * 1024 * 1024;

/**
 * udp: converters in UDP mode; per-sender assembly (address and port), as netconsole legacy.
 * The socket is read by netconsole's native receive path (recvmmsg in its own thread, the socket
 * sized with SO_RCVBUFFORCE as root) when it is built, else by Node's dgram. The kernel's drops
 * for the socket are read from /proc/net/udp* (kernelDrops): a loss before us is shown too.
 */
async function startUdp(ctx: SourceContext, host = new Host()): Promise<RunningSource> {
  const { cfg, counters } = ctx;
  const a = cfg.address!;
  const peers = new Map<string, ConsoleStream>();
  /** The stream of a sender, made on its first datagram; at max_peers the least recently heard goes. */
  const peerStream = (addr: string, port: number, t: number): ConsoleStream => {
    const address = addr.replace(/^::ffff:(?=\d+\.)/, '');
    const key = `${address}|${port}`;
    let st = peers.get(key);
    if (st) return st;
    if (peers.size >= cfg.maxPeers) {
      let oldest: ConsoleStream | null = null;
      for (const p of peers.values()) if (!oldest || p.lastUs < oldest.lastUs) oldest = p;
      peers.delete(`${oldest!.sender.address}|${oldest!.sender.port}`);
      oldest!.closed = true;
      counters.peersEvicted++;
      oldest!.flush('evicted', t);
      ctx.streams.delete(oldest!);
    }
    st = new ConsoleStream(cfg.name, address, port, peerLabel(cfg.name, address, port), ctx.sink, counters, ctx.maxLineBytes, cfg.telnet);
    ctx.streams.add(st);
    peers.set(key, st);
    return st;
  };
  const datagram = (st: ConsoleStream, msg: Buffer, t: number) => {
    counters.datagrams++;
    st.lastUs = t;
    // (The payload may be a view of a batch buffer reused after this call: the stream copies what it keeps.)
    st.data(msg, t);
  };
  const inodes = new Set<number>();
  let unflow = () => undefined as void;
  let path: string;
  let stopSocket: () => Promise<void>;
  const nat = loadNative();
  if ('mod' in nat) {
    const mod = nat.mod;
    let s: { fd: number; port: number; rcvbuf: number; forced: boolean };
    try {
      s = mod.openSocket(a.host.includes(':') ? 6 : 4, a.host, a.port, UDP_RCVBUF);
    } catch (e) {
      throw listenError(e, cfg);
    }
    const table = new SenderTable();
    // The table hands out one object per sender: its stream is found without building a key.
    const bySender = new WeakMap<object, ConsoleStream>();
    let ended!: () => void;
    const done = new Promise<void>((r) => (ended = r));
    // Batches not yet taken while the writer is behind: unacknowledged, they count against the
    // receive thread's bound, which then stops reading (the kernel buffer holds, then drops: kernelDrops).
    const waiting: Array<{ ab: ArrayBuffer; count: number; bytes: number; length: number }> = [];
    const take = (b: { ab: ArrayBuffer; count: number; bytes: number; length: number }) => {
      forEachNativeDatagram(Buffer.from(b.ab, 0, b.length), b.count, table, (sender, timeUs, payload, truncated) => {
        if (truncated) counters.truncatedDatagrams++;
        let st = bySender.get(sender);
        if (st === undefined || st.closed) bySender.set(sender, (st = peerStream(sender.address, sender.port, timeUs)));
        datagram(st, payload, timeUs);
      });
      mod.ack(handle, b.bytes, b.ab);
    };
    const drainWaiting = () => {
      while (waiting.length > 0 && !ctx.flow.paused) take(waiting.shift()!);
    };
    let closedFd = false;
    const handle = mod.start([s.fd], { maxQueuedBytes: UDP_MAX_QUEUED, preformat: 0 }, (ab, count, bytes, length) => {
      if (ab === null) {
        // Stopped: what still waits is taken now (the writer drains it at exit).
        for (const b of waiting.splice(0)) take(b);
        if (!closedFd) mod.closeFd(s.fd);
        closedFd = true;
        ended();
        return;
      }
      const b = { ab, count, bytes, length };
      if (ctx.flow.paused || waiting.length > 0) waiting.push(b);
      else take(b);
    });
    unflow = ctx.flow.register({ pause: () => undefined, resume: drainWaiting });
    try {
      const target = readlinkSync(`/proc/self/fd/${s.fd}`);
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m) inodes.add(Number(m[1]));
    } catch {
      /* no procfs: kernelDrops stays unknown */
    }
    path = `native recvmmsg, receive buffer ${s.rcvbuf >> 20} MiB${s.forced ? ' (SO_RCVBUFFORCE)' : ''}`;
    stopSocket = async () => {
      mod.stop(handle);
      await done;
    };
  } else {
    const sock = dgram.createSocket({ type: a.host.includes(':') ? 'udp6' : 'udp4', ipv6Only: false, recvBufferSize: UDP_RCVBUF });
    sock.on('message', (msg, rinfo) => {
      const t = ctx.nowUs();
      datagram(peerStream(rinfo.address, rinfo.port, t), msg, t);
    });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', (e) => reject(listenError(e, cfg)));
      sock.bind(a.port, a.host, () => {
        sock.removeAllListeners('error');
        sock.on('error', (e) => ctx.log(`${cfg.name}: udp socket error: ${errCode(e)}`));
        resolve();
      });
    });
    for (const i of ownSocketInodes(host)) inodes.add(i);
    path = `Node dgram (native receive path unavailable: ${nat.error}), receive buffer ${Math.floor(sock.getRecvBufferSize() / 2) >> 20} MiB`;
    stopSocket = () => new Promise<void>((r) => sock.close(() => r()));
  }
  ctx.log(`${cfg.name}: udp ${where(cfg)}: ${path}`);
  let lastDrops = 0;
  const readDrops = () => {
    if (inodes.size === 0) return;
    const d = readKernelDrops(host, inodes).perPort[String(a.port)];
    if (d !== undefined) lastDrops = d;
    counters.kernelDrops = lastDrops;
  };
  const dropsTimer = setInterval(readDrops, 1000);
  dropsTimer.unref();
  return {
    state: () => {
      readDrops();
      return `listening on udp ${where(cfg)}, ${peers.size} sender${peers.size === 1 ? '' : 's'}`;
    },
    async stop() {
      clearInterval(dropsTimer);
      unflow();
      readDrops();
      await stopSocket();
      for (const st of peers.values()) {
        st.flush('shutdown');
        ctx.streams.delete(st);
      }
    },
  };
}

/**
 * tty: a serial line or pty, in raw mode at the configured speed and framing (termios addon); the
 * settings found are put back when it is closed. A hang-up (EIO: the other side of a pty went
 * away, a USB adapter unplugged) is marked, and the device is reopened with backoff.
 */
function startTty(ctx: SourceContext): Promise<RunningSource> {
  const { cfg, counters } = ctx;
  const loaded = loadTermios();
  if ('error' in loaded) throw new CliError(`source ${cfg.name}: cannot set the line of ${cfg.path}: ${loaded.error}`, EXIT.UNAVAILABLE);
  const termios = loaded.mod;
  const backoff = new Backoff(cfg.reconnectMinMs, cfg.reconnectMaxMs);
  const stream = new ConsoleStream(cfg.name, cfg.path!, 0, cfg.name, ctx.sink, counters, ctx.maxLineBytes, cfg.telnet);
  ctx.streams.add(stream);
  let rs: tty.ReadStream | null = null;
  let fd = -1;
  let saved: Buffer | null = null;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let state = 'opening';
  let failures = 0;
  let unflow = () => undefined as void;

  /** Opens and configures the line; throws with a code. */
  const openLine = (): void => {
    // A serial line is a character device: anything else at the path is refused before open.
    const st = statSync(cfg.path!);
    if (!st.isCharacterDevice()) throw Object.assign(new Error(`${cfg.path} is not a character device`), { code: 'ENOTTY' });
    fd = openSync(cfg.path!, fsc.O_RDWR | fsc.O_NOCTTY | fsc.O_NONBLOCK);
    try {
      // The settings found go to disk before anything changes: a receiver killed from here on is
      // undone by the next start (tty-state.ts).
      ctx.ttyState.remember(cfg.name, cfg.path!, fstatSync(fd).rdev, termios.current(fd));
      saved = termios.configure(fd, cfg.baud, cfg.framing.dataBits, cfg.framing.parity, cfg.framing.stopBits);
    } catch (e) {
      ctx.ttyState.forget(cfg.path!);
      closeSync(fd);
      fd = -1;
      throw e;
    }
  };
  const release = () => {
    if (fd >= 0 && saved) {
      try {
        termios.restore(fd, saved);
      } catch {
        /* hung up: nothing to restore on a gone device */
      }
      // Put back, or gone with its device: either way there is nothing left to undo.
      ctx.ttyState.forget(cfg.path!);
    }
    saved = null;
    unflow();
    if (rs)
      rs.destroy(); // closes fd
    else if (fd >= 0) closeSync(fd);
    rs = null;
    fd = -1;
  };
  const attach = () => {
    const r = new tty.ReadStream(fd);
    rs = r;
    unflow = ctx.flow.register({ pause: () => r.pause(), resume: () => r.resume() });
    counters.connects++;
    const after = failures > 0 ? ` after ${failures} failed attempt${failures === 1 ? '' : 's'}` : '';
    state = `open at ${cfg.baud} ${framingText(cfg.framing)}`;
    stream.marker('connected', `opened ${cfg.path} at ${cfg.baud} ${framingText(cfg.framing)} raw${after}`, ctx.nowUs());
    failures = 0;
    let ended = false;
    const hangup = (why: string) => {
      if (ended || stopped) return;
      ended = true;
      counters.disconnects++;
      const t = ctx.nowUs();
      stream.flush('disconnect', t);
      release();
      const wait = backoff.take();
      stream.marker('disconnected', `${cfg.path} hung up (${why}); reopening in ${secs(wait)}`, t);
      ctx.log(`${cfg.name}: ${cfg.path} hung up (${why}); reopening in ${secs(wait)}`);
      schedule(wait);
    };
    r.on('data', (b: Buffer) => {
      backoff.reset();
      stream.data(b, ctx.nowUs());
    });
    r.on('error', (e) => hangup(errCode(e)));
    r.on('end', () => hangup('end of file'));
  };
  const reopen = () => {
    timer = null;
    if (stopped) return;
    try {
      openLine();
    } catch (e) {
      counters.connectFailures++;
      failures++;
      const wait = backoff.take();
      if (failures === 1) ctx.log(`${cfg.name}: cannot open ${cfg.path} (${errCode(e)}); retrying`);
      schedule(wait);
      return;
    }
    attach();
  };
  const schedule = (ms: number) => {
    state = `waiting ${secs(ms)} to reopen`;
    timer = setTimeout(reopen, ms);
  };
  // At start a wrong device is a configuration error: say so and stop. A missing one may come
  // (a USB adapter plugged in later, a pty not made yet): it is waited for, as after a hang-up.
  try {
    openLine();
    attach();
  } catch (e) {
    const code = errCode(e);
    if (code !== 'ENOENT') {
      ctx.streams.delete(stream);
      throw new CliError(`source ${cfg.name}: cannot open ${cfg.path} as a serial line: ${code}${code === 'ENOTTY' ? ' (not a tty)' : ''}`, code === 'EACCES' ? EXIT.NOPERM : EXIT.UNAVAILABLE);
    }
    counters.connectFailures++;
    failures++;
    ctx.log(`${cfg.name}: ${cfg.path} does not exist (yet); waiting for it`);
    stream.marker('disconnected', `${cfg.path} does not exist (yet); waiting for it`, ctx.nowUs());
    schedule(backoff.take());
  }
  return Promise.resolve({
    state: () => state,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      stream.flush('shutdown');
      ctx.streams.delete(stream);
      release();
      state = 'stopped';
      return Promise.resolve();
    },
  });
}

/**
 * file: a log being appended to (libvirt `<log file=…>`, QEMU `-serial file:`), followed like
 * `tail -F`: polled every `poll`; a file that became shorter was truncated (read again from its
 * start); a path that names another file now was rotated (the old file is read to its end first,
 * then the new one from its start). Opened through common/evidence (regular files only).
 */
function startFile(ctx: SourceContext): RunningSource {
  const { cfg, counters } = ctx;
  const path = cfg.path!;
  const stream = new ConsoleStream(cfg.name, path, 0, cfg.name, ctx.sink, counters, ctx.maxLineBytes, cfg.telnet);
  ctx.streams.add(stream);
  const chunk = Buffer.allocUnsafe(256 * 1024);
  /** Most bytes read per poll round before yielding (a huge file does not stall the other sources). */
  const ROUND_BYTES = 8 * 1024 * 1024;
  let fd = -1;
  let ino = -1;
  let dev = -1;
  let pos = 0;
  let first = true;
  let missingSaid = false;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let state = 'waiting for the file';

  const open = (fromStart: boolean): boolean => {
    const r = openEvidence(path);
    if (!r.ok) {
      if (!missingSaid) {
        missingSaid = true;
        if (r.code !== 'ENOENT') counters.readErrors++;
        ctx.log(`${cfg.name}: cannot open ${path} (${r.reason}); waiting for it`);
      }
      state = `waiting for ${path} (${r.code})`;
      return false;
    }
    fd = r.fd;
    ino = r.stat.ino;
    dev = r.stat.dev;
    pos = fromStart ? 0 : r.stat.size;
    missingSaid = false;
    counters.connects++;
    state = `following ${path}`;
    return true;
  };
  const close = () => {
    if (fd >= 0) closeSync(fd);
    fd = -1;
  };
  /** Read what was appended; true when the round stopped at its bound (more to read now). */
  const drain = (): boolean => {
    let got = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, chunk, 0, chunk.length, pos);
      } catch (e) {
        if (errCode(e) === 'EAGAIN') return false;
        counters.readErrors++;
        ctx.log(`${cfg.name}: read error on ${path}: ${errCode(e)}; reopening`);
        close();
        return false;
      }
      if (n === 0) return false;
      pos += n;
      got += n;
      stream.data(chunk.subarray(0, n), ctx.nowUs());
      if (got >= ROUND_BYTES) return true;
    }
  };
  const poll = () => {
    timer = null;
    if (stopped) return;
    if (ctx.flow.paused) {
      // The writer is behind: the file keeps what was appended; read it a little later.
      timer = setTimeout(poll, 20);
      return;
    }
    let more = false;
    if (fd < 0) {
      if (open(!first || cfg.startAt === 'beginning')) {
        if (!first) {
          // It appeared (again, after a removal, or for the first time): a new file, read from its start.
          stream.marker('rotated', `${path} appeared: reading it from its start`, ctx.nowUs());
        }
        more = drain();
      }
      first = false;
    } else {
      const size = fstatSync(fd).size;
      if (size < pos) {
        counters.truncations++;
        const t = ctx.nowUs();
        stream.flush('disconnect', t);
        stream.marker('truncated', `${path} was truncated (from ${pos} to ${size} bytes): reading it again from its start`, t);
        pos = 0;
      }
      more = drain();
      if (!more && fd >= 0) {
        let now: { ino: number; dev: number } | null = null;
        try {
          now = statSync(path);
        } catch {
          now = null;
        }
        if (!now || now.ino !== ino || now.dev !== dev) {
          // Rotated or removed: the old file was just read to its end; the new one starts at 0.
          const t = ctx.nowUs();
          stream.flush('disconnect', t);
          close();
          if (now) {
            counters.rotations++;
            stream.marker('rotated', `${path} was rotated: the old file was read to its end; following the new file from its start`, t);
            if (open(true)) more = drain();
          } else {
            counters.rotations++;
            stream.marker('rotated', `${path} was removed or renamed: the old file was read to its end; waiting for a new one`, t);
            ctx.log(`${cfg.name}: ${path} was removed or renamed; waiting for a new one`);
            state = `waiting for ${path}`;
          }
        }
      }
    }
    timer = setTimeout(poll, more ? 0 : cfg.pollMs);
  };
  poll();
  return {
    state: () => state,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (fd >= 0) drain(); // what was appended since the last poll
      stream.flush('shutdown');
      ctx.streams.delete(stream);
      close();
      state = 'stopped';
      return Promise.resolve();
    },
  };
}
