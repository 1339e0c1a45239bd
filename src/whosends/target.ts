/**
 * Pure: what `lantern who-sends PROTO TARGET` watches. TARGET is `ADDR:PORT`, `[V6ADDR]:PORT`,
 * a whole address (`127.0.0.1`, `::1`, `[::1]`) or just a port (`53`, `:53`). Checked to the
 * byte and the number before anything reaches the probe program (it holds only numbers).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { CliError, EXIT } from '../common/exit.js';
import { formatIPv4, formatIPv6 } from '../access/net/records.js';
import type { NetFilter } from '../access/net/program.js';

export interface Target {
  protocol: 'udp' | 'tcp';
  /** 4 or 16 bytes, network order; absent: any address. */
  address?: Uint8Array;
  /** The address as the decoder prints it (RFC 5952 for IPv6), for display. */
  addressText?: string;
  port?: number;
}

export function ipv4Bytes(s: string): Uint8Array {
  return Uint8Array.from(s.split('.').map(Number));
}

/** 16 bytes of a valid IPv6 text (net.isIPv6 said so): `::` runs and a trailing IPv4 part. */
export function ipv6Bytes(s: string): Uint8Array {
  // A trailing a.b.c.d is two groups.
  const text = s.replace(
    /(\d+)\.(\d+)\.(\d+)\.(\d+)$/,
    (_m, a: string, b: string, c: string, d: string) => `${((Number(a) << 8) | Number(b)).toString(16)}:${((Number(c) << 8) | Number(d)).toString(16)}`,
  );
  const [head, rest] = text.split('::') as [string, string | undefined];
  const groups = (x: string | undefined) => (x ? x.split(':').map((h) => parseInt(h, 16)) : []);
  const hs = groups(head);
  const rs = groups(rest);
  const all = rest === undefined ? hs : [...hs, ...Array<number>(8 - hs.length - rs.length).fill(0), ...rs];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

function bad(spec: string, why: string): CliError {
  return new CliError(`who-sends: ${JSON.stringify(spec)}: ${why} (use ADDR:PORT, [V6ADDR]:PORT, an address or a port, e.g. 127.0.0.1:53, [::1]:53, 53)`, EXIT.USAGE);
}

function portOf(spec: string, text: string): number {
  if (!/^\d{1,5}$/.test(text)) throw bad(spec, `not a port: ${JSON.stringify(text)}`);
  const n = Number(text);
  if (n < 1 || n > 65535) throw bad(spec, `port ${n} is not in 1..65535`);
  return n;
}

function addressOf(spec: string, text: string): { bytes: Uint8Array; text: string } {
  if (isIPv4(text)) {
    const bytes = ipv4Bytes(text);
    return { bytes, text: formatIPv4(bytes) };
  }
  if (isIPv6(text) && !text.includes('%')) {
    const bytes = ipv6Bytes(text);
    return { bytes, text: formatIPv6(bytes) };
  }
  throw bad(spec, `not an IPv4 or IPv6 address: ${JSON.stringify(text)}`);
}

export function parseProtocol(p: string): 'udp' | 'tcp' {
  if (p === 'udp' || p === 'tcp') return p;
  throw new CliError(`who-sends: protocol must be udp or tcp, not ${JSON.stringify(p)}`, EXIT.USAGE);
}

export function parseTarget(protocol: string, spec: string): Target {
  const proto = parseProtocol(protocol);
  const s = spec.trim();
  if (s === '') throw bad(spec, 'empty');
  let addr: string | undefined;
  let port: string | undefined;
  const br = /^\[([^\]]*)\](?::(.*))?$/.exec(s);
  if (br) {
    addr = br[1]!;
    port = br[2];
    if (port === '') throw bad(spec, 'no port after the colon');
  } else if (/^:?\d+$/.test(s)) {
    port = s.replace(/^:/, '');
  } else if ((s.match(/:/g) ?? []).length >= 2) {
    addr = s; // a bare IPv6 address: its colons are not a port separator
  } else {
    const i = s.lastIndexOf(':');
    if (i >= 0) {
      addr = s.slice(0, i);
      port = s.slice(i + 1);
      if (port === '') throw bad(spec, 'no port after the colon');
    } else addr = s;
  }
  const t: Target = { protocol: proto };
  if (addr !== undefined) {
    const a = addressOf(spec, addr);
    t.address = a.bytes;
    t.addressText = a.text;
  }
  if (port !== undefined) t.port = portOf(spec, port);
  return t;
}

/** `127.0.0.1:53`, `[::1]:53`, `*:53`, `127.0.0.1:*`. */
export function targetText(t: Target): string {
  const a = t.addressText === undefined ? '*' : t.addressText.includes(':') ? `[${t.addressText}]` : t.addressText;
  return `${a}:${t.port ?? '*'}`;
}

export function targetFilter(t: Target): NetFilter {
  return { protocol: t.protocol, ...(t.address ? { address: t.address } : {}), ...(t.port !== undefined ? { port: t.port } : {}) };
}
