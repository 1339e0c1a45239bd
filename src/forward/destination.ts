/**
 * Forwarding destinations: syslog over TCP or TLS (RFC 5424 + RFC 6587 octet counting, RFC 5425)
 * and Loki's push API. Each one is a fixed, configured operation: the address, CA file and
 * certificates come from the configuration, never from the lines being sent.
 *
 * Delivery: Loki answers each push (204 = stored), so a batch is done when Loki says so. Plain TCP
 * syslog has no answer at all: bytes the kernel accepted may still die in the collector's socket
 * buffer when it restarts. A TCP batch therefore counts as delivered only after the connection has
 * stayed up for `settleMs` after it; when the connection breaks, the forwarder resends from the
 * last delivered line (at-least-once; each message carries its stable `id` for de-duplication).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { CliError, EXIT } from '../common/exit.js';
import type { ForwardLine } from './lines.js';
import { octetFrame, syslogMessage, DEFAULT_SYSLOG } from './syslog.js';
import { lokiBody } from './loki.js';

export interface Outgoing {
  line: ForwardLine;
  id: string;
}

/** A destination's answer to a failed send: retry later (down, slow, 429/5xx) or never (400). */
export class SendError extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
  ) {
    super(message);
  }
}

export interface Destination {
  /** As configured, for messages and metrics labels: `syslog+tcp://127.0.0.1:514`. */
  readonly name: string;
  /** How long a sent batch must stay unchallenged before it counts as delivered (0: the answer is the ack). */
  readonly settleMs: number;
  /** Called by the destination when a connection broke: everything not yet settled must be resent. */
  onBroken: () => void;
  send(batch: Outgoing[]): Promise<void>;
  close(): Promise<void>;
}

export interface DestinationConfig {
  url: string;
  /** TLS: CA bundle to verify the collector with (PEM). */
  ca?: string;
  /** TLS: client certificate and key (PEM), when the collector asks for one. */
  cert?: string;
  key?: string;
  /** TLS: the name to verify in the collector's certificate (default: the URL's host). */
  serverName?: string;
  /** `source` field / label (netconsole, console, record, analyze). */
  source: string;
  /** A send that has not finished after this long is abandoned and retried. */
  timeoutMs: number;
  /** TCP syslog: see the file comment. */
  settleMs: number;
}

/** `scheme://host:port[/path]` with the schemes Lantern forwards to; a clear error otherwise. */
export function parseDestinationUrl(url: string, what = '--to'): { kind: 'syslog-tcp' | 'syslog-tls' | 'loki-http' | 'loki-https'; host: string; port: number; path: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CliError(`${what}: not a URL: ${JSON.stringify(url)} (use e.g. syslog+tcp://logs.example:514, syslog+tls://logs.example:6514, loki+http://loki.example:3100)`, EXIT.USAGE);
  }
  const kinds = { 'syslog+tcp:': ['syslog-tcp', 514], 'syslog+tls:': ['syslog-tls', 6514], 'loki+http:': ['loki-http', 3100], 'loki+https:': ['loki-https', 443] } as const;
  const k = kinds[u.protocol as keyof typeof kinds];
  if (!k) throw new CliError(`${what}: unsupported scheme ${JSON.stringify(u.protocol)} (expected syslog+tcp, syslog+tls, loki+http or loki+https)`, EXIT.USAGE);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (!host) throw new CliError(`${what}: no host in ${JSON.stringify(url)}`, EXIT.USAGE);
  const port = u.port ? Number(u.port) : k[1];
  const path = u.pathname && u.pathname !== '/' ? u.pathname : '/loki/api/v1/push';
  return { kind: k[0], host, port, path };
}

function readPem(path: string | undefined, what: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new CliError(`${what}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`, EXIT.NOINPUT);
  }
}

/** Syslog over TCP or TLS, one long-lived connection, reconnected by the forwarder's retries. */
class SyslogStream implements Destination {
  readonly name: string;
  readonly settleMs: number;
  onBroken: () => void = () => undefined;
  private sock: Socket | null = null;
  private connecting: Promise<Socket> | null = null;
  private readonly ca?: Buffer;
  private readonly cert?: Buffer;
  private readonly key?: Buffer;

  constructor(
    private readonly cfg: DestinationConfig,
    private readonly target: { kind: string; host: string; port: number },
  ) {
    this.name = cfg.url;
    this.settleMs = cfg.settleMs;
    this.ca = readPem(cfg.ca, 'ca');
    this.cert = readPem(cfg.cert, 'cert');
    this.key = readPem(cfg.key, 'key');
  }

  private open(): Promise<Socket> {
    if (this.sock) return Promise.resolve(this.sock);
    if (this.connecting) return this.connecting;
    const { host, port } = this.target;
    this.connecting = new Promise<Socket>((resolve, reject) => {
      const tls = this.target.kind === 'syslog-tls';
      const s: Socket = tls
        ? tlsConnect({ host, port, ca: this.ca, cert: this.cert, key: this.key, servername: this.cfg.serverName ?? (/^[\d.:]+$/.test(host) ? undefined : host) })
        : netConnect({ host, port });
      const timer = setTimeout(() => s.destroy(new Error(`no connection within ${this.cfg.timeoutMs / 1000} s`)), this.cfg.timeoutMs);
      s.once(tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        s.setKeepAlive(true, 10_000);
        s.setNoDelay(true);
        this.sock = s;
        this.connecting = null;
        resolve(s);
      });
      s.on('error', (e) => {
        clearTimeout(timer);
        if (this.sock === s) this.broken();
        else {
          this.connecting = null;
          reject(new SendError(`${this.name}: ${describe(e)}`, true));
        }
      });
      s.on('close', () => {
        if (this.sock === s) this.broken();
      });
      // A collector never sends on this stream; whatever it sends is read and dropped so the
      // connection's buffers never fill.
      s.on('data', () => undefined);
    });
    return this.connecting;
  }

  private broken(): void {
    const s = this.sock;
    this.sock = null;
    s?.destroy();
    this.onBroken();
  }

  async send(batch: Outgoing[]): Promise<void> {
    const s = await this.open();
    const text = batch.map((o) => octetFrame(syslogMessage(o.line, o.id, { ...DEFAULT_SYSLOG, source: this.cfg.source }))).join('');
    await new Promise<void>((resolve, reject) => {
      // A collector that accepts the connection and never reads: the write never completes;
      // abandon the connection after the timeout (the forwarder resends, the lines wait in the spool).
      const timer = setTimeout(() => {
        reject(new SendError(`${this.name}: the collector did not take ${text.length} bytes within ${this.cfg.timeoutMs / 1000} s`, true));
        if (this.sock === s) this.broken();
      }, this.cfg.timeoutMs);
      s.write(text, 'utf8', (err) => {
        clearTimeout(timer);
        if (err) reject(new SendError(`${this.name}: ${describe(err)}`, true));
        else resolve();
      });
    });
  }

  async close(): Promise<void> {
    const s = this.sock;
    this.sock = null;
    if (!s) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        s.destroy();
        resolve();
      }, 2000);
      s.end(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

/** Loki's push API: one POST per batch; 204 is the acknowledgement. */
class LokiPush implements Destination {
  readonly name: string;
  readonly settleMs = 0;
  onBroken: () => void = () => undefined;
  private readonly ca?: Buffer;

  constructor(
    private readonly cfg: DestinationConfig,
    private readonly target: { kind: string; host: string; port: number; path: string },
  ) {
    this.name = cfg.url;
    this.ca = readPem(cfg.ca, 'ca');
  }

  send(batch: Outgoing[]): Promise<void> {
    const body = Buffer.from(JSON.stringify(lokiBody(batch, this.cfg.source, Date.now() * 1000)), 'utf8');
    const req = this.target.kind === 'loki-https' ? httpsRequest : httpRequest;
    return new Promise<void>((resolve, reject) => {
      const r = req(
        {
          host: this.target.host,
          port: this.target.port,
          path: this.target.path,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': body.length },
          timeout: this.cfg.timeoutMs,
          ...(this.target.kind === 'loki-https' ? { ca: this.ca } : {}),
        },
        (res) => {
          let answer = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            if (answer.length < 500) answer += d;
          });
          res.on('end', () => {
            const code = res.statusCode ?? 0;
            if (code >= 200 && code < 300) resolve();
            else {
              // 429 (rate limit) and 5xx: Loki is there but cannot take it now. Other 4xx: these
              // lines will never be accepted (too old, too long); retrying would block the stream.
              const retry = code === 429 || code >= 500;
              reject(new SendError(`${this.name}: HTTP ${code}${answer ? `: ${answer.trim().split('\n')[0]!.slice(0, 200)}` : ''}`, retry));
            }
          });
        },
      );
      r.on('timeout', () => r.destroy(new Error(`no answer within ${this.cfg.timeoutMs / 1000} s`)));
      r.on('error', (e) => reject(new SendError(`${this.name}: ${describe(e)}`, true)));
      r.end(body);
    });
  }

  async close(): Promise<void> {}
}

function describe(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code}${err.message && !err.message.includes(err.code) ? ` (${err.message})` : err.message ? ` (${err.message})` : ''}` : String(err.message ?? e);
}

export function createDestination(cfg: DestinationConfig): Destination {
  const t = parseDestinationUrl(cfg.url);
  if (t.kind === 'syslog-tcp' || t.kind === 'syslog-tls') {
    if (t.kind === 'syslog-tcp' && (cfg.ca || cfg.cert || cfg.key)) throw new CliError(`${cfg.url}: ca/cert/key given for a plain TCP destination (use syslog+tls://)`, EXIT.USAGE);
    return new SyslogStream(cfg, t);
  }
  return new LokiPush(cfg, t);
}
