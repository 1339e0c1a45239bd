/** kdump configuration: /etc/kdump.conf and `kdumpctl estimate`. */
import { parseSize } from '../../common/size.js';

export interface KdumpConf {
  /** option -> last value */
  options: Map<string, string>;
  /** The dump target line (raw, nfs, ssh, ext4 ...), if any. */
  target: { type: string; value: string } | null;
  path: string | null;
}

const KDUMP_TARGET_TYPES = new Set(['raw', 'nfs', 'nfs4', 'ssh', 'ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'minix', 'virtiofs']);

/** Parse /etc/kdump.conf (kdump.conf(5)): `option value`, # comments. */
export function parseKdumpConf(text: string): KdumpConf {
  const options = new Map<string, string>();
  let target: KdumpConf['target'] = null;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const m = /^(\S+)\s*(.*)$/.exec(line)!;
    const key = m[1]!;
    const value = m[2]!.trim();
    options.set(key, value);
    if (KDUMP_TARGET_TYPES.has(key)) target = { type: key, value };
  }
  return { options, target, path: options.get('path') ?? null };
}

/** `kdumpctl estimate`: Reserved and Recommended crashkernel in bytes. */
export function parseKdumpEstimate(text: string): { reserved: number | null; recommended: number | null } {
  const get = (label: string) => {
    const m = new RegExp(`${label} crashkernel:\\s*(\\S+)`, 'i').exec(text);
    return m ? parseSize(m[1]!) : null;
  };
  return { reserved: get('Reserved'), recommended: get('Recommended') };
}
