/**
 * Receiver configuration: defaults < TOML file < command-line options. Pure parsing only.
 */
import { BlockList, isIP } from 'node:net';
import { createRequire } from 'node:module';
import { CliError, EXIT } from '../common/exit.js';
import { parseDuration } from '../common/duration.js';
import { parseSizeOption } from '../common/size.js';
import { parseEndpoint, parseMetricsAddress } from '../common/endpoint.js';
import type { LineFormat } from './format.js';

export const DEFAULT_CONFIG_PATH = '/etc/lantern/netconsole.toml';

export interface ListenAddress {
  address: string;
  port: number;
  family: 'udp4' | 'udp6';
}

export interface ReceiverConfig {
  listen: ListenAddress[];
  dir: string;
  format: LineFormat;
  utc: boolean;
  perSender: boolean;
  combined: boolean;
  stdout: boolean;
  maxFileBytes: number;
  partialTimeoutMs: number;
  maxLineBytes: number;
  fragTimeoutMs: number;
  /** Most bytes held for fragmented messages being reassembled, all senders together. */
  maxFragBytes: number;
  maxSenders: number;
  senderIdleMs: number;
  allow: string[];
  rcvbufBytes: number;
  raiseRmemMax: boolean;
  /** Receive path: native recvmmsg addon, Node's dgram, or auto (native when built). */
  receiver: 'auto' | 'native' | 'dgram';
  stateDir: string;
  statsIntervalMs: number;
  statsLogIntervalMs: number;
  maxBufferBytes: number;
  maxOpenFiles: number;
  idleCloseMs: number;
  retryMs: number;
  fileMode: number;
  /** SO_REUSEPORT: share the port with other receivers (senders are hashed to one of them). */
  reusePort: boolean;
  /** Prometheus endpoint (`--metrics`), or null. */
  metrics: { host: string; port: number } | null;
}

export const DEFAULTS: ReceiverConfig = {
  listen: [{ address: '::', port: 6666, family: 'udp6' }],
  dir: '/var/log/netconsole',
  format: 'text',
  utc: true,
  perSender: true,
  combined: false,
  stdout: false,
  maxFileBytes: 100 * 1024 * 1024,
  partialTimeoutMs: 10_000,
  maxLineBytes: 65536,
  fragTimeoutMs: 5_000,
  maxFragBytes: 16 * 1024 * 1024,
  maxSenders: 16384,
  senderIdleMs: 600_000,
  allow: [],
  rcvbufBytes: 32 * 1024 * 1024,
  raiseRmemMax: false,
  receiver: 'auto',
  stateDir: '/run/lantern-netconsole',
  statsIntervalMs: 10_000,
  statsLogIntervalMs: 300_000,
  maxBufferBytes: 64 * 1024 * 1024,
  maxOpenFiles: 4096,
  idleCloseMs: 60_000,
  retryMs: 1_000,
  fileMode: 0o640,
  metrics: null,
  reusePort: false,
};

/** `6666`, `:6666`, `0.0.0.0:6666`, `[::]:6666`, `::1`, `[::1]` (port defaults to 6666, address to `::`). */
export function parseListen(spec: string): ListenAddress {
  const e = parseEndpoint(spec, { what: '--listen', hint: 'use e.g. 0.0.0.0:6666, [::]:6666, 6666', barePort: true, bareAddress: true, hostNames: false, zones: true });
  const address = e.host ?? '::';
  return { address, port: e.port ?? 6666, family: e.family === 4 ? 'udp4' : 'udp6' };
}

/** Build a BlockList (used as an allow-list) from addresses and CIDRs; throws a usage error on a bad entry. */
export function buildAllowList(entries: string[]): BlockList | null {
  if (entries.length === 0) return null;
  const list = new BlockList();
  for (const raw of entries) {
    const e = raw.trim();
    const [addr, bits] = e.split('/');
    const fam = isIP(addr ?? '');
    if (!fam) throw new CliError(`--allow ${JSON.stringify(raw)}: not an address or CIDR`, EXIT.USAGE);
    const type = fam === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(addr!, type);
    else {
      const n = Number(bits);
      if (!Number.isInteger(n) || n < 0 || n > (fam === 4 ? 32 : 128)) throw new CliError(`--allow ${JSON.stringify(raw)}: bad prefix length`, EXIT.USAGE);
      list.addSubnet(addr!, n, type);
    }
  }
  return list;
}

export function isAllowed(list: BlockList, address: string): boolean {
  return list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}

/** Option values as they come from the TOML file or commander (strings, numbers, booleans, lists). */
export type RawOptions = Record<string, unknown>;

/**
 * The output settings (files, format, buffering, stats), file key → option: netconsole's, and
 * `lantern console`'s too (its per-source directories are `per_source` there).
 */
export const OUTPUT_KEYS: Readonly<Record<string, string>> = {
  dir: 'dir',
  format: 'format',
  time: 'time',
  per_sender: 'perSender',
  combined: 'combined',
  stdout: 'stdout',
  max_file_size: 'maxFileSize',
  partial_timeout: 'partialTimeout',
  max_line: 'maxLine',
  state_dir: 'stateDir',
  stats_interval: 'statsInterval',
  stats_log_interval: 'statsLogInterval',
  max_buffer: 'maxBuffer',
  max_open_files: 'maxOpenFiles',
  idle_close: 'idleClose',
  retry: 'retry',
  file_mode: 'fileMode',
};

/** The UDP receive path's settings: netconsole's only. */
const RECEIVE_KEYS: Readonly<Record<string, string>> = {
  listen: 'listen',
  frag_timeout: 'fragTimeout',
  max_fragment_memory: 'maxFragmentMemory',
  max_senders: 'maxSenders',
  sender_idle: 'senderIdle',
  allow: 'allow',
  rcvbuf: 'rcvbuf',
  raise_rmem_max: 'raiseRmemMax',
  receiver: 'receiver',
  metrics: 'metrics',
  reuse_port: 'reusePort',
};

const KEYS: Readonly<Record<string, string>> = { ...RECEIVE_KEYS, ...OUTPUT_KEYS };

let tomlParse: ((text: string) => unknown) | undefined;

/**
 * smol-toml's parser, loaded at the first file to parse: `lantern check` imports this module for
 * its receivers check and, on most hosts, finds no configuration file to parse (the package's
 * module graph cost ~13 ms of every run's start-up).
 */
function parseToml(text: string): unknown {
  tomlParse ??= (createRequire(import.meta.url)('smol-toml') as { parse: (text: string) => unknown }).parse;
  return tomlParse(text);
}

/** A configuration file's TOML; one that is not TOML is exit 65 (DATAERR), with the parser's first line. */
export function parseTomlFile(text: string, path: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (e) {
    throw new CliError(`${path}: not valid TOML: ${(e as Error).message.split('\n')[0]}`, EXIT.DATAERR);
  }
}

/** TOML text → option values in commander's camelCase; unknown keys are a usage error. */
export function parseConfigToml(text: string, path: string): RawOptions {
  const doc = parseTomlFile(text, path);
  // Settings may sit at the top level or under a [netconsole] table.
  const nested = doc['netconsole'];
  const src = nested && typeof nested === 'object' && !Array.isArray(nested) ? (nested as Record<string, unknown>) : doc;
  const out: RawOptions = {};
  for (const [k, v] of Object.entries(src)) {
    const key = KEYS[k];
    if (!key) throw new CliError(`${path}: unknown setting ${JSON.stringify(k)} (known: ${Object.keys(KEYS).join(', ')})`, EXIT.DATAERR);
    out[key] = v;
  }
  return out;
}

function list(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'string')
    return v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  return [];
}

/** A yes/no setting: a TOML or commander boolean, or true/yes/1, false/no/0 (console's sources read theirs here too). */
export function settingBool(v: unknown, what: string): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'yes' || v === '1') return true;
  if (v === 'false' || v === 'no' || v === '0') return false;
  throw new CliError(`${what}: expected true or false, got ${JSON.stringify(v)}`, EXIT.USAGE);
}

/** A setting read as text: a string, or a TOML number or boolean as String() writes it; a table, array or date is refused. */
function text(v: unknown, what: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new CliError(`${what}: expected a string, got ${JSON.stringify(v)}`, EXIT.USAGE);
}

/** A whole-number setting in min..max (a TOML number or its text); console's sources read theirs here too. */
export function settingInt(v: unknown, what: string, min: number, max = Infinity): number {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new CliError(`${what}: expected an integer ${max === Infinity ? `>= ${min}` : `${min}..${max}`}, got ${JSON.stringify(v)}`, EXIT.USAGE);
  return n;
}

/** Merge option layers (later wins) over the defaults and validate. */
export function resolveConfig(...layers: RawOptions[]): ReceiverConfig {
  const o: RawOptions = {};
  for (const l of layers) for (const [k, v] of Object.entries(l)) if (v !== undefined) o[k] = v;
  const c: ReceiverConfig = { ...DEFAULTS };
  if (o.listen !== undefined) c.listen = list(o.listen).map(parseListen);
  if (c.listen.length === 0) throw new CliError('--listen: at least one address is needed', EXIT.USAGE);
  if (o.dir !== undefined) c.dir = text(o.dir, '--dir');
  if (o.format !== undefined) {
    const f = text(o.format, '--format');
    if (f !== 'text' && f !== 'json' && f !== 'udplogger') throw new CliError(`--format: expected text, json or udplogger, got ${JSON.stringify(f)}`, EXIT.USAGE);
    c.format = f;
  }
  if (o.time !== undefined) {
    const t = text(o.time, '--time');
    if (t !== 'utc' && t !== 'local') throw new CliError(`--time: expected utc or local, got ${JSON.stringify(t)}`, EXIT.USAGE);
    c.utc = t === 'utc';
  }
  if (o.perSender !== undefined) c.perSender = settingBool(o.perSender, '--per-sender');
  if (o.combined !== undefined) c.combined = settingBool(o.combined, '--combined');
  if (o.stdout !== undefined) c.stdout = settingBool(o.stdout, '--stdout');
  if (o.maxFileSize !== undefined) c.maxFileBytes = parseSizeOption(o.maxFileSize, '--max-file-size');
  if (o.partialTimeout !== undefined) c.partialTimeoutMs = parseDuration(o.partialTimeout, '--partial-timeout');
  if (o.maxLine !== undefined) c.maxLineBytes = Math.max(1024, parseSizeOption(o.maxLine, '--max-line'));
  if (o.fragTimeout !== undefined) c.fragTimeoutMs = parseDuration(o.fragTimeout, '--frag-timeout');
  if (o.maxSenders !== undefined) c.maxSenders = settingInt(o.maxSenders, '--max-senders', 1);
  if (o.senderIdle !== undefined) c.senderIdleMs = parseDuration(o.senderIdle, '--sender-idle');
  if (o.allow !== undefined) c.allow = list(o.allow);
  if (o.rcvbuf !== undefined) c.rcvbufBytes = parseSizeOption(o.rcvbuf, '--rcvbuf');
  if (o.raiseRmemMax !== undefined) c.raiseRmemMax = settingBool(o.raiseRmemMax, '--raise-rmem-max');
  if (o.receiver !== undefined) {
    const r = text(o.receiver, '--receiver');
    if (r !== 'auto' && r !== 'native' && r !== 'dgram') throw new CliError(`--receiver: expected auto, native or dgram, got ${JSON.stringify(r)}`, EXIT.USAGE);
    c.receiver = r;
  }
  if (o.stateDir !== undefined) c.stateDir = text(o.stateDir, '--state-dir');
  if (o.statsInterval !== undefined) c.statsIntervalMs = parseDuration(o.statsInterval, '--stats-interval');
  if (o.statsLogInterval !== undefined) c.statsLogIntervalMs = parseDuration(o.statsLogInterval, '--stats-log-interval');
  if (o.maxFragmentMemory !== undefined) c.maxFragBytes = parseSizeOption(o.maxFragmentMemory, '--max-fragment-memory');
  if (o.maxBuffer !== undefined) c.maxBufferBytes = parseSizeOption(o.maxBuffer, '--max-buffer');
  if (o.maxOpenFiles !== undefined) c.maxOpenFiles = settingInt(o.maxOpenFiles, '--max-open-files', 2);
  if (o.idleClose !== undefined) c.idleCloseMs = parseDuration(o.idleClose, '--idle-close');
  if (o.retry !== undefined) c.retryMs = parseDuration(o.retry, '--retry');
  if (o.fileMode !== undefined) {
    const m = typeof o.fileMode === 'number' ? o.fileMode : typeof o.fileMode === 'string' ? parseInt(o.fileMode, 8) : NaN;
    if (!Number.isInteger(m) || m < 0 || m > 0o666) throw new CliError(`--file-mode: expected an octal mode like 0640`, EXIT.USAGE);
    c.fileMode = m;
  }
  if (o.reusePort !== undefined) c.reusePort = settingBool(o.reusePort, '--reuse-port');
  if (o.metrics !== undefined) c.metrics = parseMetricsAddress(text(o.metrics, '--metrics'));
  buildAllowList(c.allow); // validate early
  if (!c.perSender && !c.combined && !c.stdout) throw new CliError('no output: enable at least one of per-sender files, --combined or --stdout', EXIT.USAGE);
  return c;
}
