/**
 * `lantern console listen` configuration: defaults < TOML file < command-line options. Pure.
 *
 * The output settings are netconsole's (same names, same meaning, parsed and checked by
 * netconsole/config.ts); the sources are ours: one `[source.NAME]` table each, or one source given
 * on the command line (`--source tcp:HOST:PORT --name NAME`).
 */
import { CliError, EXIT } from '../common/exit.js';
import { parseDuration } from '../common/duration.js';
import { parseEndpoint } from '../common/endpoint.js';
import { OUTPUT_KEYS as NETCONSOLE_OUTPUT_KEYS, parseTomlFile, resolveConfig as resolveOutput, settingBool, settingInt, type RawOptions, type ReceiverConfig } from '../netconsole/config.js';

export const DEFAULT_CONFIG_PATH = '/etc/lantern/console.toml';
export const DEFAULT_DIR = '/var/log/console';
export const DEFAULT_STATE_DIR = '/run/lantern-console';

export type SourceType = 'tcp' | 'tcp-listen' | 'udp' | 'unix' | 'unix-listen' | 'tty' | 'file';
export const SOURCE_TYPES: readonly SourceType[] = ['tcp', 'tcp-listen', 'udp', 'unix', 'unix-listen', 'tty', 'file'];

export interface HostPort {
  host: string;
  port: number;
}

export interface Framing {
  dataBits: 5 | 6 | 7 | 8;
  parity: 'none' | 'even' | 'odd';
  stopBits: 1 | 2;
}

export interface SourceConfig {
  name: string;
  type: SourceType;
  /** tcp: where to connect; tcp-listen, udp: where to listen. */
  address: HostPort | null;
  /** unix, tty, file. */
  path: string | null;
  /** Strip telnet IAC sequences (default: on for tcp and tcp-listen, off elsewhere). */
  telnet: boolean;
  /** tcp, unix, tty: first wait before reconnecting / reopening; doubled up to reconnectMaxMs. */
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** tty. */
  baud: number;
  framing: Framing;
  /** tcp-listen: most connections at once (more are refused and counted). */
  maxConnections: number;
  /** udp: most senders assembled at once (the least recently active is evicted). */
  maxPeers: number;
  /** file: where to start reading the file that is there at start. */
  startAt: 'end' | 'beginning';
  /** file: how often the file is looked at. */
  pollMs: number;
}

export interface ConsoleConfig {
  /** Output settings, as netconsole's (perSender = one directory per source). */
  output: ReceiverConfig;
  sources: SourceConfig[];
}

/** Baud rates termios knows (Bxxx constants of Linux). */
export const BAUD_RATES = [
  50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000, 2500000, 3000000,
  3500000, 4000000,
];

/** Output settings in the file: netconsole's (not its UDP receive path's), `per_sender` named `per_source` here. */
const OUTPUT_KEYS: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(NETCONSOLE_OUTPUT_KEYS).map(([k, v]) => [k === 'per_sender' ? 'per_source' : k, v]));

const SOURCE_KEYS = ['type', 'connect', 'listen', 'path', 'telnet', 'reconnect_min', 'reconnect_max', 'baud', 'framing', 'max_connections', 'max_peers', 'start_at', 'poll'];

/**
 * A source name is its directory's name and its label on every line: letters, digits, `.`, `_`, `-`,
 * starting with a letter or digit (never `.`/`..`, never a path), not ending in `.log` (the
 * combined files sit beside the source directories).
 */
export function checkName(name: string, where: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name) || /\.log$/i.test(name)) {
    throw new CliError(`${where}: source name ${JSON.stringify(name)}: use 1-64 letters, digits, '.', '_', '-', starting with a letter or digit, not ending in .log`, EXIT.USAGE);
  }
  return name;
}

/** `host:port`, `[v6]:port`; a missing host (`7000`, `:7000`) is the wildcard (listeners) or an error (tcp). */
export function parseHostPort(spec: string, what: string, listening: boolean): HostPort {
  const e = listening
    ? parseEndpoint(spec, { what, hint: 'expected HOST:PORT or PORT, HOST an IP address, IPv6 as [ADDR]:PORT', barePort: true, bareAddress: false, hostNames: false, zones: true })
    : parseEndpoint(spec, { what, hint: 'expected HOST:PORT, IPv6 as [ADDR]:PORT', barePort: false, bareAddress: false, hostNames: true, zones: true });
  // bareAddress is false: a port is always there.
  return { host: e.host ?? '::', port: e.port! };
}

export function parseFraming(v: string, what: string): Framing {
  const m = /^([5-8])([NEOneo])([12])$/.exec(v.trim());
  if (!m) throw new CliError(`${what}: framing ${JSON.stringify(v)}: expected data bits, parity, stop bits, e.g. 8N1, 7E1`, EXIT.USAGE);
  const p = m[2]!.toUpperCase();
  return { dataBits: Number(m[1]) as Framing['dataBits'], parity: p === 'N' ? 'none' : p === 'E' ? 'even' : 'odd', stopBits: Number(m[3]) as 1 | 2 };
}

export function framingText(f: Framing): string {
  return `${f.dataBits}${f.parity === 'none' ? 'N' : f.parity === 'even' ? 'E' : 'O'}${f.stopBits}`;
}

/** One source from its settings (a TOML table, or the command line's). */
export function resolveSource(name: string, raw: Record<string, unknown>, where: string): SourceConfig {
  const at = `${where}: source ${name}`;
  checkName(name, where);
  for (const k of Object.keys(raw)) if (!SOURCE_KEYS.includes(k)) throw new CliError(`${at}: unknown setting ${JSON.stringify(k)} (known: ${SOURCE_KEYS.join(', ')})`, EXIT.USAGE);
  const type = typeof raw.type === 'string' ? raw.type : '';
  if (!(SOURCE_TYPES as readonly string[]).includes(type)) throw new CliError(`${at}: type ${JSON.stringify(raw.type ?? null)}: expected one of ${SOURCE_TYPES.join(', ')}`, EXIT.USAGE);
  const t = type as SourceType;
  const need = (key: string): string => {
    const v = raw[key];
    if (typeof v !== 'string' || v === '') throw new CliError(`${at}: a ${t} source needs ${key} = "…"`, EXIT.USAGE);
    return v;
  };
  const src: SourceConfig = {
    name,
    type: t,
    address: null,
    path: null,
    telnet: t === 'tcp' || t === 'tcp-listen',
    reconnectMinMs: 500,
    reconnectMaxMs: 30_000,
    baud: 115200,
    framing: { dataBits: 8, parity: 'none', stopBits: 1 },
    maxConnections: 16,
    maxPeers: 1024,
    startAt: 'end',
    pollMs: 250,
  };
  if (t === 'tcp') src.address = parseHostPort(need('connect'), `${at}: connect`, false);
  if (t === 'tcp-listen' || t === 'udp') src.address = parseHostPort(need('listen'), `${at}: listen`, true);
  if (t === 'unix' || t === 'unix-listen' || t === 'tty' || t === 'file') {
    const p = need('path');
    if (!p.startsWith('/')) throw new CliError(`${at}: path ${JSON.stringify(p)}: give an absolute path`, EXIT.USAGE);
    src.path = p;
  }
  const only = (key: string, types: SourceType[]) => {
    if (raw[key] !== undefined && !types.includes(t)) throw new CliError(`${at}: ${key} is for ${types.join(', ')} sources, not ${t}`, EXIT.USAGE);
    return raw[key] !== undefined;
  };
  only('connect', ['tcp']);
  only('listen', ['tcp-listen', 'udp']);
  only('path', ['unix', 'unix-listen', 'tty', 'file']);
  if (raw.telnet !== undefined) src.telnet = settingBool(raw.telnet, `${at}: telnet`);
  if (only('reconnect_min', ['tcp', 'unix', 'tty'])) src.reconnectMinMs = Math.max(10, parseDuration(raw.reconnect_min, `${at}: reconnect_min`));
  if (only('reconnect_max', ['tcp', 'unix', 'tty'])) src.reconnectMaxMs = parseDuration(raw.reconnect_max, `${at}: reconnect_max`);
  src.reconnectMaxMs = Math.max(src.reconnectMaxMs, src.reconnectMinMs);
  if (only('baud', ['tty'])) {
    const b = settingInt(raw.baud, `${at}: baud`, 1, 4_000_000);
    if (!BAUD_RATES.includes(b)) throw new CliError(`${at}: baud ${b}: not a termios rate (e.g. 9600, 38400, 115200)`, EXIT.USAGE);
    src.baud = b;
  }
  if (only('framing', ['tty'])) src.framing = parseFraming(String(raw.framing), at);
  if (only('max_connections', ['tcp-listen', 'unix-listen'])) src.maxConnections = settingInt(raw.max_connections, `${at}: max_connections`, 1, 65536);
  if (only('max_peers', ['udp'])) src.maxPeers = settingInt(raw.max_peers, `${at}: max_peers`, 1, 1 << 20);
  if (only('start_at', ['file'])) {
    const s = String(raw.start_at);
    if (s !== 'end' && s !== 'beginning') throw new CliError(`${at}: start_at: expected "end" or "beginning"`, EXIT.USAGE);
    src.startAt = s;
  }
  if (only('poll', ['file'])) src.pollMs = Math.max(10, parseDuration(raw.poll, `${at}: poll`));
  return src;
}

/** `tcp:HOST:PORT`, `tcp-listen:[ADDR:]PORT`, `udp:[ADDR:]PORT`, `unix:PATH`, `unix-listen:PATH`, `tty:PATH`, `file:PATH`. */
export function parseSourceSpec(spec: string): Record<string, unknown> {
  const i = spec.indexOf(':');
  const type = i > 0 ? spec.slice(0, i) : '';
  const rest = i > 0 ? spec.slice(i + 1) : '';
  if (!(SOURCE_TYPES as readonly string[]).includes(type) || rest === '') {
    throw new CliError(
      `--source ${JSON.stringify(spec)}: expected TYPE:WHERE, TYPE one of ${SOURCE_TYPES.join(', ')} (tcp:10.0.0.5:7001, tcp-listen:7001, udp:0.0.0.0:7002, unix:/run/qemu/vm1.sock, unix-listen:/run/lantern/vm2.sock, tty:/dev/ttyS1, file:/var/log/libvirt/qemu/vm1-console.log)`,
      EXIT.USAGE,
    );
  }
  const key = type === 'tcp' ? 'connect' : type === 'tcp-listen' || type === 'udp' ? 'listen' : 'path';
  return { type, [key]: rest };
}

export interface ConsoleCliOptions extends RawOptions {
  source?: string;
  name?: string;
  baud?: string;
  framing?: string;
  telnet?: boolean;
}

/** TOML text → output options (camelCase, as netconsole's) and source tables. */
export function parseConsoleToml(text: string, path: string): { output: RawOptions; sources: Array<{ name: string; raw: Record<string, unknown> }> } {
  const doc = parseTomlFile(text, path);
  const output: RawOptions = {};
  const sources: Array<{ name: string; raw: Record<string, unknown> }> = [];
  for (const [k, v] of Object.entries(doc)) {
    if (k === 'source') {
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new CliError(`${path}: source: expected tables [source.NAME]`, EXIT.DATAERR);
      for (const [name, table] of Object.entries(v as Record<string, unknown>)) {
        if (!table || typeof table !== 'object' || Array.isArray(table)) throw new CliError(`${path}: source.${name}: expected a table [source.${name}]`, EXIT.DATAERR);
        sources.push({ name, raw: table as Record<string, unknown> });
      }
      continue;
    }
    const key = OUTPUT_KEYS[k];
    if (!key) throw new CliError(`${path}: unknown setting ${JSON.stringify(k)} (known: ${Object.keys(OUTPUT_KEYS).join(', ')}, and [source.NAME] tables)`, EXIT.DATAERR);
    output[key] = v;
  }
  return { output, sources };
}

/**
 * The whole configuration. `file` is the parsed TOML (or null); `cli` the command line, whose
 * output options override the file's and whose --source, when given, replaces the file's sources.
 */
export function resolveConsoleConfig(file: ReturnType<typeof parseConsoleToml> | null, cli: ConsoleCliOptions, where = 'configuration'): ConsoleConfig {
  const { source, name, baud, framing, telnet, ...outputCli } = cli;
  const defaults: RawOptions = { dir: DEFAULT_DIR, stateDir: DEFAULT_STATE_DIR };
  const out = { ...(file?.output ?? {}), ...Object.fromEntries(Object.entries(outputCli).filter(([, v]) => v !== undefined)) };
  if (out.perSender === false && out.combined !== true && out.stdout !== true) throw new CliError('no output: enable at least one of per-source files, --combined or --stdout', EXIT.USAGE);
  const output = resolveOutput(defaults, out);
  let sources: SourceConfig[];
  if (source !== undefined) {
    const raw = parseSourceSpec(source);
    if (baud !== undefined) raw.baud = baud;
    if (framing !== undefined) raw.framing = framing;
    if (telnet !== undefined) raw.telnet = telnet;
    sources = [resolveSource(name ?? 'console', raw, '--source')];
  } else {
    if (name !== undefined || baud !== undefined || framing !== undefined || telnet !== undefined) throw new CliError('--name, --baud, --framing and --telnet go with --source', EXIT.USAGE);
    sources = (file?.sources ?? []).map((s) => resolveSource(s.name, s.raw, where));
  }
  if (sources.length === 0) throw new CliError(`no source: give --source TYPE:WHERE, or [source.NAME] tables in ${where} (see lantern console listen --help)`, EXIT.USAGE);
  const seen = new Map<string, string>();
  for (const s of sources) {
    const key = s.name.toLowerCase();
    if (seen.has(key)) throw new CliError(`${where}: two sources named ${JSON.stringify(s.name)} (names are directories: case is not enough)`, EXIT.USAGE);
    seen.set(key, s.name);
  }
  return { output, sources };
}

/** Where a source reads: its address (`[v6]:port`) or path. */
export function sourceWhere(cfg: SourceConfig): string {
  if (cfg.address) return cfg.address.host.includes(':') ? `[${cfg.address.host}]:${cfg.address.port}` : `${cfg.address.host}:${cfg.address.port}`;
  return cfg.path!;
}

/** A source in words (the start-up log, stats, `lantern check`'s console.receivers). */
export function describeSource(cfg: SourceConfig): string {
  switch (cfg.type) {
    case 'tcp':
      return `tcp client to ${sourceWhere(cfg)}${cfg.telnet ? ' (telnet)' : ''}`;
    case 'tcp-listen':
      return `tcp server on ${sourceWhere(cfg)}${cfg.telnet ? ' (telnet)' : ''}, one stream per connection`;
    case 'udp':
      return `udp on ${sourceWhere(cfg)}, one stream per sender`;
    case 'unix':
      return `unix socket ${sourceWhere(cfg)}${cfg.telnet ? ' (telnet)' : ''}`;
    case 'unix-listen':
      return `unix socket server on ${sourceWhere(cfg)}${cfg.telnet ? ' (telnet)' : ''}, one stream per connection`;
    case 'tty':
      return `tty ${sourceWhere(cfg)} at ${cfg.baud} ${framingText(cfg.framing)}`;
    case 'file':
      return `file ${sourceWhere(cfg)} (followed across truncation and rotation)`;
  }
}
