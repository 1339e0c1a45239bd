/**
 * The network edge and the running receiver: UDP sockets in, Decoder in the middle, Writer
 * (files) and stdout out, plus counters, the stats file and the receive-buffer report.
 *
 * The receive handler does only: allow-list check (cached per address), clock read, and the
 * decoder's in-memory work. Disk writes are queued and done asynchronously by the Writer, so
 * a slow or failing disk never holds up reading the sockets.
 */
import dgram from 'node:dgram';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Host } from '../host/host.js';
import { CliError, EXIT } from '../common/exit.js';
import { Worker } from 'node:worker_threads';
import { BatchBuilder } from './batch.js';
import { buildAllowList, isAllowed, type ListenAddress, type ReceiverConfig } from './config.js';
import { ownSocketInodes, readKernelDrops } from './procnet.js';
import { loadNative, type NativeRecv } from './native.js';
import { statsFileWriter, statsHead, troublesOf, type OutputTrouble, type StatsHead } from '../common/stats-file.js';

export interface ListenerInfo {
  listen: string;
  family: 'udp4' | 'udp6';
  port: number;
  rcvbufRequested: number;
  rcvbufGranted: number;
  /** The buffer was set with SO_RCVBUFFORCE (past net.core.rmem_max). */
  rcvbufForced?: boolean;
}

export interface StatsSnapshot extends StatsHead {
  listeners: ListenerInfo[];
  /** 'native' (recvmmsg in its own thread) or 'dgram' (Node). */
  receivePath?: 'native' | 'dgram';
  rmemMax: number | null;
  counters: Record<string, number | null>;
  sendersTracked: number;
  bufferedBytes: number;
  openFiles: number;
  troubles: OutputTrouble[];
}

export interface Receiver {
  listeners: ListenerInfo[];
  snapshot(): Promise<StatsSnapshot>;
  writeStatsFile(): Promise<void>;
  reopen(): void;
  stop(): Promise<{ unwritten: number }>;
}

function fmtAddr(a: ListenAddress): string {
  return a.family === 'udp6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

// The pipeline thread's young generation: 24 MiB (about 8 MiB semi-spaces) halves the time
// spent in scavenges against 8 MiB in a 300,000-datagram burst, for about 10 MiB more RSS.
const YOUNG_GEN_MB = Number(process.env.LANTERN_NC_YOUNG_MB ?? 24);
/** The pipeline thread's old generation (MiB), when set: tests make the pipeline alone run out of heap. */
const PIPELINE_HEAP_MB = process.env.LANTERN_NC_PIPELINE_HEAP_MB ? Number(process.env.LANTERN_NC_PIPELINE_HEAP_MB) : undefined;

/** Most bytes of undecoded datagrams handed to the pipeline thread before reading pauses. */
const MAX_IN_FLIGHT = 16 * 1024 * 1024;

/**
 * Stop or restart reading a socket. Node 20's dgram has no public pause(); its handle's
 * recvStop()/recvStart() do exactly that. Without them reading simply never pauses.
 */
function recvControl(sock: dgram.Socket, on: boolean): void {
  const sym = Object.getOwnPropertySymbols(sock).find((x) => x.description === 'state symbol');
  const handle = sym ? (sock as unknown as Record<symbol, { handle?: { recvStart?: () => number; recvStop?: () => number } }>)[sym]?.handle : undefined;
  if (on) handle?.recvStart?.();
  else handle?.recvStop?.();
}

/**
 * Native path: most bytes of received batches waiting for the pipeline thread before the
 * receive thread stops reading (the kernel's socket buffer then holds the rest). Large enough
 * to hold a 300,000-datagram burst of short lines in user space, where it costs far less
 * memory than in socket buffers (each queued skb costs about 1 KiB of rcvbuf there).
 */
const NATIVE_MAX_QUEUED = Number(process.env.LANTERN_NC_NATIVE_QUEUE_MB ?? 64) * 1024 * 1024;

/** The pipeline thread is pinged this often (ms) and declared dead after this many silent pings. */
const PIPELINE_PING_MS = 2000;
const PIPELINE_SILENT_TICKS = 6;
/** After terminate(), how long the pipeline thread gets to end before the process kills itself (ms). */
const PIPELINE_END_GRACE_MS = 5000;

/** A batch goes to the pipeline thread at most this long after its first datagram (ms). */
const FLUSH_MS = 5;

/** Batches up to this size are copied to the worker rather than transferred. */
const SMALL_BATCH = 128 * 1024;

export function mib(n: number): string {
  return `${(n / 1048576).toFixed(n % 1048576 === 0 ? 0 : 1)} MiB`;
}

function readRmemMax(host: Host): number | null {
  const r = host.readValue('/proc/sys/net/core/rmem_max');
  return r.ok && /^\d+$/.test(r.text) ? Number(r.text) : null;
}

function bindOne(a: ListenAddress, rcvbuf: number, onMessage: (msg: Buffer, rinfo: dgram.RemoteInfo) => void): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: a.family, recvBufferSize: rcvbuf });
    const onError = (e: NodeJS.ErrnoException) => {
      sock.close();
      reject(e);
    };
    sock.once('error', onError);
    sock.on('message', onMessage);
    sock.bind({ address: a.address, port: a.port, exclusive: true }, () => {
      sock.off('error', onError);
      resolve(sock);
    });
  });
}

export async function startReceiver(cfg: ReceiverConfig, log: (line: string) => void, host = new Host()): Promise<Receiver> {
  const startedAt = new Date();
  // Wall clock with microseconds: performance.now() between periodic re-syncs to Date.now().
  let offsetUs = Date.now() * 1000 - Math.round(performance.now() * 1000);
  const nowUs = () => offsetUs + Math.round(performance.now() * 1000);

  // Receive path: the native addon (recvmmsg batches from its own thread) unless told otherwise
  // or not built; then Node's dgram on this thread.
  let nativeMod: NativeRecv | null = null;
  let pathWhy: string;
  if (cfg.receiver === 'dgram') pathWhy = 'Node dgram (--receiver dgram)';
  else {
    const n = loadNative();
    if ('mod' in n) {
      nativeMod = n.mod;
      pathWhy = 'native recvmmsg (batches from a receive thread)';
    } else if (cfg.receiver === 'native') throw new CliError(`--receiver native: the native receive path is unavailable: ${n.error}`, EXIT.UNAVAILABLE);
    else pathWhy = `Node dgram (native receive path unavailable: ${n.error})`;
  }
  // Node 20's dgram cannot set SO_REUSEPORT (it only has exclusive/reuseAddr): sharding needs the native path.
  if (cfg.reusePort && !nativeMod) throw new CliError(`--reuse-port needs the native receive path (${pathWhy})`, EXIT.UNAVAILABLE);

  // Decoding, formatting and writing run in a worker thread; this thread only reads sockets.
  // A small young generation keeps the resident size low: the garbage of a burst is short-lived.
  // With --stdout the thread's stdout is copied here by hand: see copyStdout.
  const worker = new Worker(new URL('./pipeline-worker.js', import.meta.url), {
    workerData: { cfg },
    stdout: cfg.stdout,
    resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GEN_MB, ...(PIPELINE_HEAP_MB ? { maxOldGenerationSizeMb: PIPELINE_HEAP_MB } : {}) },
  });
  const stdoutCopy = cfg.stdout ? copyStdout(worker, log) : null;
  let workerError: Error | null = null;
  let stopping = false;
  worker.on('error', (e) => {
    workerError = e;
    log(`internal error in the pipeline thread: ${e.stack ?? e.message}`);
  });
  // Without its pipeline the receiver would read and drop: exit instead (systemd restarts it).
  worker.on('exit', (code) => {
    if (stopping) return;
    log(`error: the pipeline thread ended (code ${code}); exiting so that the service manager restarts the receiver`);
    process.exit(EXIT.SOFTWARE);
  });
  const replies = new Map<number, (m: WorkerReply) => void>();
  let nextReq = 0;
  let stoppedReply: ((m: WorkerReply) => void) | null = null;
  let nativeStarted: ((error: string | null) => void) | null = null;
  let heardFromWorker = false;
  worker.on('message', (m: WorkerReply) => {
    heardFromWorker = true;
    if (m.type === 'native-started') nativeStarted?.(null);
    else if (m.type === 'native-failed') nativeStarted?.(m.error ?? 'unknown error');
    else if (m.type === 'counters') replies.get(m.reqId!)?.(m);
    else if (m.type === 'stopped') stoppedReply?.(m);
    else if (m.type === 'log') log(m.text ?? '');
    else if (m.type === 'ack') {
      inFlight -= m.bytes ?? 0;
      if (paused && inFlight <= MAX_IN_FLIGHT / 2) resume();
    }
  });
  const ask = (): Promise<WorkerReply> =>
    new Promise((resolve) => {
      const reqId = nextReq++;
      const timer = setTimeout(() => {
        replies.delete(reqId);
        resolve({ type: 'counters', counters: lastCounters, troubles: [] });
      }, 2000);
      replies.set(reqId, (m) => {
        clearTimeout(timer);
        replies.delete(reqId);
        resolve(m);
      });
      worker.postMessage({ type: 'counters', reqId });
    });

  // Backpressure: when the pipeline thread is this far behind, stop reading the sockets and let
  // the kernel's socket buffer hold the burst (it does not count against our memory).
  let inFlight = 0;
  let paused = false;
  let pauses = 0;
  const pause = () => {
    paused = true;
    pauses++;
    for (const s of sockets) recvControl(s, false);
  };
  const resume = () => {
    paused = false;
    for (const s of sockets) recvControl(s, true);
  };

  const batch = new BatchBuilder();
  let flushTimer: NodeJS.Timeout | null = null;
  let datagrams = 0;
  const flush = () => {
    if (flushTimer) {
      clearTimeout(flushTimer);
      flushTimer = null;
    }
    if (batch.count === 0 && batch.intros.length === 0 && !batch.resetSenders) return;
    // Small batches are copied (the 1 MiB buffer is reused); full ones are transferred whole.
    // (A view would be cloned with its whole 1 MiB ArrayBuffer: copy exactly the used bytes.)
    const transfer = batch.used > SMALL_BATCH;
    const b = batch.take(transfer);
    const ab = transfer ? (b.buf.buffer as ArrayBuffer) : (b.buf.buffer.slice(b.buf.byteOffset, b.buf.byteOffset + b.buf.byteLength) as ArrayBuffer);
    const u8 = transfer ? new Uint8Array(ab, b.buf.byteOffset, b.buf.byteLength) : new Uint8Array(ab);
    worker.postMessage({ type: 'batch', buf: u8, intros: b.intros, resetSenders: b.resetSenders }, [ab]);
    inFlight += u8.byteLength;
    if (!paused && inFlight > MAX_IN_FLIGHT) pause();
  };

  const allow = buildAllowList(cfg.allow);
  const allowCache = new Map<string, boolean>();
  let disallowed = 0;
  const onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    let addr = rinfo.address;
    // A dual-stack socket reports IPv4 senders as ::ffff:a.b.c.d; write them as plain IPv4.
    if (addr.startsWith('::ffff:') && addr.indexOf('.') > 0) addr = addr.slice(7);
    if (allow) {
      let ok = allowCache.get(addr);
      if (ok === undefined) {
        ok = isAllowed(allow, addr);
        if (allowCache.size >= 65536) allowCache.clear();
        allowCache.set(addr, ok);
      }
      if (!ok) {
        disallowed++;
        return;
      }
    }
    datagrams++;
    let id = batch.lookup(addr, rinfo.port);
    if (id === undefined) {
      if (batch.full) flush();
      id = batch.introduce(addr, rinfo.port);
    }
    const t = nowUs();
    if (!batch.add(id, t, msg)) {
      flush();
      batch.add(id, t, msg);
    }
    // A batch goes out within FLUSH_MS; a busy receiver fills 1 MiB batches first.
    if (!flushTimer) flushTimer = setTimeout(flush, FLUSH_MS);
  };

  // Receive buffer: optionally lift net.core.rmem_max just long enough to size our sockets.
  const rmemBefore = readRmemMax(host);
  let raised = false;
  if (cfg.raiseRmemMax && rmemBefore !== null && rmemBefore < cfg.rcvbufBytes) {
    const w = host.writeSetting('/proc/sys/net/core/rmem_max', String(cfg.rcvbufBytes));
    if (w.ok) {
      raised = true;
      log(`raised net.core.rmem_max from ${rmemBefore} to ${cfg.rcvbufBytes} to size the sockets (restored right after)`);
    } else log(`warning: could not raise net.core.rmem_max (${w.reason}); run as root or set it with sysctl`);
  }

  const sockets: dgram.Socket[] = [];
  const nativeFds: number[] = [];
  const listeners: ListenerInfo[] = [];
  try {
    for (const a of cfg.listen) {
      if (nativeMod) {
        const mod = nativeMod;
        const open = (x: ListenAddress) => mod.openSocket(x.family === 'udp6' ? 6 : 4, x.address, x.port, cfg.rcvbufBytes, cfg.reusePort);
        let used = a;
        let s: ReturnType<NativeRecv['openSocket']>;
        try {
          s = open(a);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (a.address === '::' && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) {
            used = { address: '0.0.0.0', port: a.port, family: 'udp4' };
            try {
              s = open(used);
            } catch (e2) {
              throw new CliError(`cannot listen on ${fmtAddr(used)}: ${(e2 as NodeJS.ErrnoException).code ?? (e2 as Error).message}`, EXIT.UNAVAILABLE);
            }
          } else {
            const hint = code === 'EACCES' ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)' : code === 'EADDRINUSE' ? ' (another receiver is running?)' : '';
            throw new CliError(`cannot listen on ${fmtAddr(a)}: ${code ?? (e as Error).message}${hint}`, EXIT.UNAVAILABLE);
          }
        }
        nativeFds.push(s.fd);
        listeners.push({ listen: fmtAddr(used), family: used.family, port: s.port, rcvbufRequested: cfg.rcvbufBytes, rcvbufGranted: s.rcvbuf, rcvbufForced: s.forced });
        continue;
      }
      let sock: dgram.Socket;
      let used = a;
      try {
        sock = await bindOne(a, cfg.rcvbufBytes, onMessage);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // No IPv6 on this host: the default [::] falls back to IPv4 (as udplogger does).
        if (a.address === '::' && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) {
          used = { address: '0.0.0.0', port: a.port, family: 'udp4' };
          sock = await bindOne(used, cfg.rcvbufBytes, onMessage).catch((e2: NodeJS.ErrnoException) => {
            throw new CliError(`cannot listen on ${fmtAddr(used)}: ${e2.code ?? e2.message}`, EXIT.UNAVAILABLE);
          });
        } else {
          const hint = code === 'EACCES' ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)' : code === 'EADDRINUSE' ? ' (another receiver is running?)' : '';
          throw new CliError(`cannot listen on ${fmtAddr(a)}: ${code ?? (e as Error).message}${hint}`, EXIT.UNAVAILABLE);
        }
      }
      sockets.push(sock);
      const granted = Math.floor(sock.getRecvBufferSize() / 2);
      listeners.push({ listen: fmtAddr(used), family: used.family, port: sock.address().port, rcvbufRequested: cfg.rcvbufBytes, rcvbufGranted: granted });
    }
  } catch (e) {
    for (const s of sockets) s.close();
    for (const fd of nativeFds) nativeMod?.closeFd(fd);
    if (raised) host.writeSetting('/proc/sys/net/core/rmem_max', String(rmemBefore));
    stopping = true;
    await worker.terminate();
    throw e;
  } finally {
    // net.core.rmem_max only caps setsockopt(); our sockets keep their size after it is restored.
  }
  if (raised) host.writeSetting('/proc/sys/net/core/rmem_max', String(rmemBefore));
  const rmemMax = readRmemMax(host);
  if (nativeMod) {
    // The worker runs the receive thread and consumes its batches directly.
    const started = new Promise<string | null>((r) => (nativeStarted = r));
    worker.postMessage({ type: 'native-start', fds: nativeFds, maxQueuedBytes: NATIVE_MAX_QUEUED });
    const err = await started;
    if (err !== null) {
      for (const fd of nativeFds) nativeMod.closeFd(fd);
      stopping = true;
      await worker.terminate();
      throw new CliError(
        `the native receive path failed to start: ${err}; run with --receiver dgram (receiver = "dgram" in the configuration file) to receive with Node's dgram instead`,
        EXIT.SOFTWARE,
      );
    }
  }
  log(`receive path: ${pathWhy}`);
  for (const l of listeners) {
    log(
      `listening on ${l.listen}${l.listen.startsWith('[::]') ? ' (IPv6 and IPv4)' : ''}; receive buffer ${mib(l.rcvbufGranted)} granted of ${mib(l.rcvbufRequested)} asked${l.rcvbufForced ? ' (SO_RCVBUFFORCE)' : ''}`,
    );
  }
  const smallest = Math.min(...listeners.map((l) => l.rcvbufGranted));
  if (smallest < cfg.rcvbufBytes) {
    log(
      `warning: the kernel granted ${mib(smallest)}, not ${mib(cfg.rcvbufBytes)}: net.core.rmem_max is ${rmemMax ?? 'unknown'}; ` +
        `a burst of more than about ${Math.floor(smallest / 2304)} full 1000-byte datagrams while the receiver is busy can be dropped. ` +
        `Remedy: sysctl -w net.core.rmem_max=${cfg.rcvbufBytes} (persist it in /etc/sysctl.d/), or start with --raise-rmem-max (as root).`,
    );
  }
  const outputs = [cfg.perSender ? `${join(cfg.dir, '<address>', 'YYYY-MM-DD.log')}` : null, cfg.combined ? join(cfg.dir, 'YYYY-MM-DD.log') : null, cfg.stdout ? 'stdout' : null].filter(Boolean);
  log(`writing ${outputs.join(', ')} (${cfg.format}, ${cfg.utc ? 'UTC' : 'local time'}${cfg.maxFileBytes ? `, switching files at ${mib(cfg.maxFileBytes)}` : ''})`);

  // Liveness of the pipeline thread. It answers a counters request within one batch, so a
  // thread silent for PIPELINE_SILENT_TICKS pings is stuck in a loop or wedged while ending (as
  // it once was when its heap ran out: the addon's finalizer joined the receive thread without
  // waking it). Either way the receiver would read into nothing: end it so that the
  // service manager restarts it. Ticks, not wall time, so a stall of this thread is not mistaken
  // for one of the pipeline's.
  let silentTicks = 0;
  const livenessTimer = setInterval(() => {
    if (stopping) return;
    silentTicks = heardFromWorker ? 0 : silentTicks + 1;
    heardFromWorker = false;
    if (silentTicks < PIPELINE_SILENT_TICKS) {
      worker.postMessage({ type: 'counters', reqId: -1 }); // the reply only proves it is alive
      return;
    }
    clearInterval(livenessTimer);
    log(`error: the pipeline thread has not answered for ${(PIPELINE_SILENT_TICKS * PIPELINE_PING_MS) / 1000} s; ending it and exiting so that the service manager restarts the receiver`);
    void worker.terminate(); // 'exit' follows and exits 70, unless the thread cannot even end:
    setTimeout(() => {
      log('error: the pipeline thread does not end (wedged in its shutdown); killing the process (SIGKILL) so that the service manager restarts it');
      process.kill(process.pid, 'SIGKILL');
    }, PIPELINE_END_GRACE_MS).unref();
  }, PIPELINE_PING_MS);
  livenessTimer.unref();

  const inodes = ownSocketInodes(host);
  const clockTimer = setInterval(() => (offsetUs = Date.now() * 1000 - Math.round(performance.now() * 1000)), 1000);

  let stopped = false;
  let lastCounters: Record<string, number> = {};
  let lastDrops: { drops: number | null; rxQueueBytes: number } = { drops: null, rxQueueBytes: 0 };
  const snapshot = async (): Promise<StatsSnapshot> => {
    // After stop() the sockets are gone from /proc/net/udp*: keep the last reading.
    const kd = stopped ? lastDrops : readKernelDrops(host, inodes);
    lastDrops = kd;
    const reply = stopped ? { counters: lastCounters, troubles: [] } : await ask();
    const c = (lastCounters = reply.counters ?? lastCounters);
    const now = new Date();
    return {
      ...statsHead(startedAt, now),
      listeners,
      receivePath: nativeMod ? 'native' : 'dgram',
      rmemMax,
      counters: {
        datagrams: nativeMod ? (c.received ?? 0) : datagrams,
        bytes: c.bytes ?? 0,
        lines: c.lines ?? 0,
        partialLines: c.partialLines ?? 0,
        gaps: c.gaps ?? 0,
        lostMessages: c.lostMessages ?? 0,
        restarts: c.restarts ?? 0,
        late: c.late ?? 0,
        malformed: c.malformed ?? 0,
        disallowed: nativeMod ? (c.disallowed ?? 0) : disallowed,
        truncated: c.truncated ?? 0,
        fragments: c.fragments ?? 0,
        fragmentsExpired: c.fragmentsExpired ?? 0,
        fragmentsEvicted: c.fragmentsEvicted ?? 0,
        fragmentBytes: c.fragmentBytes ?? 0,
        sendersEvicted: c.sendersEvicted ?? 0,
        linesAccepted: c.linesAccepted ?? 0,
        linesWritten: c.linesWritten ?? 0,
        linesQueued: c.linesQueued ?? 0,
        linesUnwritten: c.linesUnwritten ?? 0,
        filesTerminated: c.filesTerminated ?? 0,
        bytesWritten: c.bytesWritten ?? 0,
        writeErrors: c.writeErrors ?? 0,
        fdErrors: c.fdErrors ?? 0,
        linesLost: c.linesLost ?? 0,
        stdoutDropped: (c.stdoutDropped ?? 0) + (stdoutCopy?.dropped ?? 0),
        reopened: c.reopened ?? 0,
        kernelDrops: kd.drops,
        kernelQueuedBytes: kd.rxQueueBytes,
        decodedDatagrams: c.datagrams ?? 0,
        readPauses: nativeMod ? (c.readWaits ?? 0) : pauses,
        lostBatches: c.lostBatches ?? 0,
      },
      sendersTracked: c.sendersTracked ?? 0,
      bufferedBytes: c.bufferedBytes ?? 0,
      openFiles: c.openFiles ?? 0,
      troubles: troublesOf(reply.troubles ?? []),
    };
  };

  const writeDoc = statsFileWriter(cfg.stateDir, log);
  const writeStatsFile = async (snap?: StatsSnapshot) => writeDoc(snap ?? (await snapshot()));
  await writeStatsFile();
  const statsTimer = setInterval(() => void writeStatsFile(), cfg.statsIntervalMs);
  let lastLogged = '';
  const statsLogTimer = setInterval(() => {
    void snapshot().then((snap) => {
      const line = statsLine(snap);
      if (line !== lastLogged) log(line);
      lastLogged = line;
    });
  }, cfg.statsLogIntervalMs);

  return {
    listeners,
    snapshot,
    writeStatsFile,
    reopen: () => worker.postMessage({ type: 'reopen' }),
    async stop() {
      if (stopped || stopping) return { unwritten: 0 };
      stopping = true;
      await snapshot();
      clearInterval(statsTimer);
      clearInterval(statsLogTimer);
      clearInterval(clockTimer);
      clearInterval(livenessTimer);
      for (const s of sockets) s.close();
      flush();
      const done = new Promise<WorkerReply>((r) => (stoppedReply = r));
      worker.postMessage({ type: 'stop' });
      const reply = workerError ? ({ type: 'stopped', unwritten: -1, counters: lastCounters } as WorkerReply) : await done;
      lastCounters = reply.counters ?? lastCounters;
      stopped = true;
      await writeStatsFile(await snapshot());
      await worker.terminate();
      return { unwritten: reply.unwritten ?? 0 };
    },
  };
}

interface WorkerReply {
  type: 'counters' | 'stopped' | 'ack' | 'log' | 'native-started' | 'native-failed';
  error?: string;
  text?: string;
  bytes?: number;
  reqId?: number;
  counters?: Record<string, number>;
  troubles?: Array<{ stream: string; error: string; sinceUs: number; queuedBytes: number; lostLines: number }>;
  unwritten?: number;
}

/** One log line with the counters that matter (SIGUSR1 and the periodic log). */
/**
 * Receivers sharing a port (--reuse-port) as one: counters and levels summed (an unknown counter
 * stays unknown only when every receiver lacks it), listeners and troubles listed, the oldest start.
 */
export function mergeStats(docs: StatsSnapshot[]): StatsSnapshot {
  const counters: Record<string, number | null> = {};
  for (const d of docs)
    for (const [k, v] of Object.entries(d.counters)) {
      if (typeof v === 'number') counters[k] = (counters[k] ?? 0) + v;
      else if (!(k in counters)) counters[k] = null;
    }
  const first = docs[0]!;
  return {
    ...first,
    startedAt: docs.map((d) => d.startedAt).sort()[0]!,
    writtenAt: docs.map((d) => d.writtenAt).sort()[0]!,
    uptimeSeconds: Math.max(...docs.map((d) => d.uptimeSeconds)),
    listeners: docs.flatMap((d) => d.listeners),
    counters,
    sendersTracked: docs.reduce((a, d) => a + d.sendersTracked, 0),
    bufferedBytes: docs.reduce((a, d) => a + d.bufferedBytes, 0),
    openFiles: docs.reduce((a, d) => a + d.openFiles, 0),
    troubles: docs.flatMap((d) => d.troubles),
  };
}

export function statsLine(s: StatsSnapshot): string {
  const c = s.counters;
  const keys = [
    'datagrams',
    'bytes',
    'lines',
    'partialLines',
    'gaps',
    'lostMessages',
    'restarts',
    'malformed',
    'disallowed',
    'fragmentsExpired',
    'fragmentsEvicted',
    'linesWritten',
    'linesQueued',
    'linesUnwritten',
    'writeErrors',
    'fdErrors',
    'linesLost',
    'stdoutDropped',
    'kernelDrops',
  ];
  return 'stats: ' + keys.map((k) => `${k}=${c[k] ?? 'unknown'}`).join(' ') + ` senders=${s.sendersTracked} buffered=${s.bufferedBytes}`;
}

/**
 * --stdout: the pipeline thread writes its lines to fd 1 itself (pipeline.ts); anything else it
 * writes to its process.stdout is copied to ours here. When our reader goes away (EPIPE:
 * `listen --stdout | head -1`), the copy stops for good, the pipeline thread is told to stop
 * writing there, and every line not delivered is counted; the files are not affected.
 */
function copyStdout(worker: Worker, log: (line: string) => void): { readonly dropped: number } {
  const state = { dropped: 0, closed: false };
  const limit = 4 * 1024 * 1024;
  const close = (e: NodeJS.ErrnoException) => {
    if (state.closed) return;
    state.closed = true;
    worker.postMessage({ type: 'stdout-closed' });
    log(`stdout closed (${e.code ?? e.message}): no longer copying lines to it (counted as stdoutDropped); the files go on`);
  };
  process.stdout.on('error', close);
  worker.stdout.on('data', (chunk: Buffer) => {
    if (state.closed || process.stdout.writableLength > limit) {
      state.dropped += countNewlines(chunk);
      return;
    }
    process.stdout.write(chunk, (e) => {
      if (!e) return;
      state.dropped += countNewlines(chunk);
      close(e as NodeJS.ErrnoException);
    });
  });
  return state;
}

function countNewlines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  return n;
}
