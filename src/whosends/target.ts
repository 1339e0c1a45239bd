/**
 * Pure: what `lantern who-sends PROTO TARGET` watches. TARGET is `ADDR:PORT`, `[V6ADDR]:PORT`,
 * a whole address (`127.0.0.1`, `::1`, `[::1]`) or just a port (`53`, `:53`). Checked to the
 * byte and the number before anything reaches the probe program (it holds only numbers).
 */
import { CliError, EXIT } from '../common/exit.js';
import { parseEndpoint } from '../common/endpoint.js';
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

/** An address's bytes, which the probe compares, and its text as the decoder prints it. */
function addressBytes(host: string, family: 4 | 6): { bytes: Uint8Array; text: string } {
  if (family === 4) {
    const bytes = ipv4Bytes(host);
    return { bytes, text: formatIPv4(bytes) };
  }
  const bytes = ipv6Bytes(host);
  return { bytes, text: formatIPv6(bytes) };
}

export function parseProtocol(p: string): 'udp' | 'tcp' {
  if (p === 'udp' || p === 'tcp') return p;
  throw new CliError(`who-sends: protocol must be udp or tcp, not ${JSON.stringify(p)}`, EXIT.USAGE);
}

export function parseTarget(protocol: string, spec: string): Target {
  const proto = parseProtocol(protocol);
  const e = parseEndpoint(spec, {
    what: 'who-sends:',
    hint: 'use ADDR:PORT, [V6ADDR]:PORT, an address or a port, e.g. 127.0.0.1:53, [::1]:53, 53',
    barePort: true,
    bareAddress: true,
    hostNames: false,
    zones: false,
  });
  const t: Target = { protocol: proto };
  // hostNames is false: a host is always an address, with its family.
  if (e.host !== null) {
    const a = addressBytes(e.host, e.family!);
    t.address = a.bytes;
    t.addressText = a.text;
  }
  if (e.port !== null) t.port = e.port;
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
