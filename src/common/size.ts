/**
 * Sizes, one grammar for every command, config file and the kernel's own text: a number, then
 * optionally a binary multiplier K, M, G, T, P or E (any case, 1024-based as the kernel's memparse
 * and every Lantern option mean it), which may be followed by `i`, `B` or `iB`; or a bare `B`.
 * `131072`, `512B`, `64k`, `64K`, `64KB`, `64KiB`, `256M`, `32MiB`, `1G`, `1.5G`, `2T`.
 */
import { CliError, EXIT } from './exit.js';

const MULTIPLIER: Record<string, number> = { '': 1, B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40, P: 2 ** 50, E: 2 ** 60 };
const SIZE = /^\s*(\d+(?:\.\d+)?)\s*(?:([KMGTPE])(?:iB?|B)?|(B))?\s*$/i;

/** The one reading of a size: bytes, or null. `fraction`: whether `1.5G` may be written. */
function bytesOf(text: string, fraction: boolean): number | null {
  const m = SIZE.exec(text);
  if (!m || (!fraction && m[1]!.includes('.'))) return null;
  const unit = (m[2] ?? m[3] ?? '').toUpperCase();
  return Math.round(Number(m[1]) * MULTIPLIER[unit]!);
}

/**
 * A size as the kernel and its tools write it (crashkernel=, log_buf_len=, kdumpctl): a whole
 * number, as memparse reads it (the kernel refuses `1.5G`, so must we when we read its settings);
 * bytes, or null when it is not a size.
 */
export function parseSize(text: string): number | null {
  return bytesOf(text, false);
}

/**
 * A size given by an operator (option or config file): the same grammar, and a fraction may be
 * written (`1.5G`); a TOML integer is bytes. A usage error, one wording for every option, otherwise.
 */
export function parseSizeOption(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  const n = typeof v === 'string' ? bytesOf(v, true) : null;
  if (n === null) throw new CliError(`${what}: not a size: ${JSON.stringify(v)} (use e.g. 65536, 64k, 32M, 1G)`, EXIT.USAGE);
  return n;
}
