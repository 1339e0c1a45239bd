/** Helpers shared by the netconsole tests (not used at run time). */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';

export const dataDir = new URL('../../test/data/netconsole/', import.meta.url);

export function dataFile(name: string): string {
  return new URL(name, dataDir).pathname;
}

/** Datagrams of extended-datagrams.txt (see test/data/netconsole/README.md for the layout). */
export function loadExtendedDatagrams(): Buffer[] {
  const raw = readFileSync(dataFile('extended-datagrams.txt'), 'latin1');
  const out: Buffer[] = [];
  let acc: string[] = [];
  for (const line of raw.replace(/\n$/, '').split('\n')) {
    if (line === '%%' || line === '%%-') {
      out.push(Buffer.from(acc.join('\n') + (line === '%%' ? '\n' : ''), 'latin1'));
      acc = [];
    } else acc.push(line);
  }
  if (acc.length) out.push(Buffer.from(acc.join('\n') + '\n', 'latin1'));
  return out;
}

/** The kernel's escaping of extended-format text: control bytes, bytes >= 127 and backslash as \xNN. */
export function kernelEscape(buf: Buffer): string {
  let s = '';
  for (const b of buf) s += b < 0x20 || b >= 0x7f || b === 0x5c ? '\\x' + b.toString(16).padStart(2, '0') : String.fromCharCode(b);
  return s;
}

/** A UDP port on 127.0.0.1 that was free a moment ago (bound, read, released). */
export async function freePort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const p = s.address().port;
  s.close();
  return p;
}
