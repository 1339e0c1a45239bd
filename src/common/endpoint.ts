/**
 * `ADDRESS:PORT` as operators write it, one splitter for every command that takes one (netconsole
 * `--listen`, the console's `connect`/`listen`, who-sends' TARGET): `10.0.0.5:7000`, `[fd00::1]:7000`
 * (IPv6 only in brackets when a port follows: its own colons are not a separator), and where the
 * caller allows them a bare port (`7000`, `:7000`: any or the wildcard address), a bare address
 * (`10.0.0.5`, `fd00::1`, `[fd00::1]`: the caller's default port) and host names (connecting, never
 * listening). What a missing part means is the caller's fact; this says only what was written.
 */
import { isIP } from 'node:net';
import { CliError, EXIT } from './exit.js';

export interface EndpointRules {
  /** Names the option in every error: `--listen`, `source rack4: connect`, `who-sends:`. */
  what: string;
  /** What was expected, closing every error: `use e.g. 0.0.0.0:6666, [::]:6666, 6666`. */
  hint: string;
  /** `7000` and `:7000` (no address) may be written. */
  barePort: boolean;
  /** An address without a port (`10.0.0.5`, `fd00::1`, `[fd00::1]`) may be written. */
  bareAddress: boolean;
  /** A host name may stand for the address (someone connecting resolves it; a listener cannot). */
  hostNames: boolean;
  /** An IPv6 zone index (`fe80::1%eth0`) may follow the address. */
  zones: boolean;
  /** Port 0 may be written (the kernel picks one). */
  portZero?: boolean;
}

export interface Endpoint {
  /** The address or host name as written (brackets removed); null when only a port was written. */
  host: string | null;
  /** 4 or 6 for an address; null for a host name, or when no host was written. */
  family: 4 | 6 | null;
  /** null when no port was written. */
  port: number | null;
}

/** A host name as DNS spells one (letters, digits, `.`, `-`), never an address's colons. */
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/;

export function parseEndpoint(spec: string, rules: EndpointRules): Endpoint {
  const fail = (why: string) => new CliError(`${rules.what} ${JSON.stringify(spec)}: ${why} (${rules.hint})`, EXIT.USAGE);
  const s = spec.trim();
  if (s === '') throw fail('empty');
  let host: string | null;
  let portText: string | null;
  let bracketed = false;
  if (s.startsWith('[')) {
    const m = /^\[([^\]]*)\](?::(.*))?$/.exec(s);
    if (!m) throw fail('expected [ADDRESS] or [ADDRESS]:PORT');
    [host, portText, bracketed] = [m[1]!, m[2] ?? null, true];
  } else {
    const colons = s.split(':').length - 1;
    const i = s.indexOf(':');
    if (colons === 0) [host, portText] = /^\d+$/.test(s) ? [null, s] : [s, null];
    else if (colons === 1) [host, portText] = [i === 0 ? null : s.slice(0, i), s.slice(i + 1)];
    else [host, portText] = [s, null]; // a bare IPv6 address: its colons are not a separator
  }
  if (portText === '') throw fail('no port after the colon');
  if (host === null && !rules.barePort) throw fail('no host');
  if (portText === null && !rules.bareAddress) throw fail('no port');
  return { ...(host === null ? { host, family: null } : addressOf(host, bracketed, rules, fail)), port: portText === null ? null : portOf(portText, rules, fail) };
}

function portOf(text: string, rules: EndpointRules, fail: (why: string) => CliError): number {
  if (!/^\d+$/.test(text)) throw fail(`not a port: ${JSON.stringify(text)}`);
  const n = Number(text);
  const min = rules.portZero ? 0 : 1;
  if (n < min || n > 65535) throw fail(`port ${text} is not in ${min}..65535`);
  return n;
}

function addressOf(text: string, bracketed: boolean, rules: EndpointRules, fail: (why: string) => CliError): { host: string; family: 4 | 6 | null } {
  const family = isIP(text);
  if (family !== 0 && text.includes('%') && !rules.zones) throw fail(`not an IPv4 or IPv6 address without a zone index: ${JSON.stringify(text)}`);
  if (family === 4 || family === 6) return { host: text, family };
  // Brackets hold an address, never a name.
  if (rules.hostNames && !bracketed && HOST_NAME.test(text)) return { host: text, family: null };
  throw fail(`${rules.hostNames ? 'not a host name or address' : 'not an IPv4 or IPv6 address'}: ${JSON.stringify(text)}`);
}

/** `9464`, `127.0.0.1:9464`, `[::1]:9464`, `0.0.0.0:9464` (a bare port listens on loopback). */
export function parseMetricsAddress(spec: string, what = '--metrics'): { host: string; port: number } {
  // The common splitter (common/endpoint.ts); a bare port is served on loopback only.
  const e = parseEndpoint(spec, { what, hint: 'expected ADDR:PORT or PORT, e.g. 127.0.0.1:9464, [::1]:9464, 9464', barePort: true, bareAddress: false, hostNames: true, zones: false });
  return { host: e.host ?? '127.0.0.1', port: e.port! };
}
