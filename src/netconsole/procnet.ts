/**
 * The kernel's own receive-buffer drop counters for our UDP sockets.
 * /proc/net/udp and /proc/net/udp6 list every UDP socket with its inode and a `drops`
 * column; our sockets are found through /proc/self/fd -> socket:[inode]. Read via the Host.
 */
import type { Host } from '../host/host.js';

export interface UdpSocketRow {
  localPort: number;
  rxQueueBytes: number;
  inode: number;
  drops: number;
}

/** Parse /proc/net/udp or /proc/net/udp6 (header line, then one socket per line). */
export function parseProcNetUdp(text: string): UdpSocketRow[] {
  const rows: UdpSocketRow[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
    if (f.length < 13) continue;
    const local = f[1]!.split(':');
    const rx = f[4]!.split(':');
    const port = parseInt(local[local.length - 1]!, 16);
    const inode = Number(f[9]);
    const drops = Number(f[12]);
    if (!Number.isFinite(port) || !Number.isFinite(inode) || !Number.isFinite(drops)) continue;
    rows.push({ localPort: port, rxQueueBytes: parseInt(rx[1] ?? '0', 16) || 0, inode, drops });
  }
  return rows;
}

/** Inodes of the sockets this process holds (from /proc/self/fd). */
export function ownSocketInodes(host: Host): Set<number> {
  const out = new Set<number>();
  const fds = host.list('/proc/self/fd');
  if (!fds.ok) return out;
  for (const fd of fds.entries) {
    const target = host.readLink(`/proc/self/fd/${fd}`);
    const m = target ? /^socket:\[(\d+)\]$/.exec(target) : null;
    if (m) out.add(Number(m[1]));
  }
  return out;
}

export interface KernelDrops {
  /** Drops summed over our sockets; null when /proc/net/udp* could not be read. */
  drops: number | null;
  rxQueueBytes: number;
  perPort: Record<string, number>;
}

export function readKernelDrops(host: Host, inodes: Set<number>): KernelDrops {
  let drops: number | null = null;
  let rxQueueBytes = 0;
  const perPort: Record<string, number> = {};
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    const r = host.readText(file);
    if (!r.ok) continue;
    for (const row of parseProcNetUdp(r.text)) {
      if (!inodes.has(row.inode)) continue;
      drops = (drops ?? 0) + row.drops;
      rxQueueBytes += row.rxQueueBytes;
      perPort[String(row.localPort)] = (perPort[String(row.localPort)] ?? 0) + row.drops;
    }
  }
  return { drops, rxQueueBytes, perPort };
}
