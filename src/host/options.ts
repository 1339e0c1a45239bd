/** Command-line options shared by every command that opens a root (check, baseline save/diff/report). */
import { Option } from 'commander';
import { DEFAULT_UNPACK_LIMITS, type UnpackLimits } from './archive.js';
import { parseSizeOption } from '../common/size.js';
import { CliError, EXIT } from '../common/exit.js';
import { formatBytes } from '../common/evidence.js';

/** `--max-unpacked SIZE`: raises the size limit of a sosreport tarball and turns the ratio check off. */
export function maxUnpackedOption(): Option {
  return new Option(
    '--max-unpacked <size>',
    `largest a sosreport tarball may unpack to (default ${formatBytes(DEFAULT_UNPACK_LIMITS.maxBytes)}, and no more than ${DEFAULT_UNPACK_LIMITS.maxRatio} times the tarball past 256 MiB); giving it turns the ratio check off. E.g. 20G`,
  ).argParser((v: string) => {
    const n = parseSizeOption(v, '--max-unpacked');
    if (n === 0) throw new CliError('--max-unpacked: must be more than 0 (use e.g. 20G, 512M)', EXIT.USAGE);
    return n;
  });
}

export function unpackLimitsFrom(maxUnpacked: number | undefined): Partial<UnpackLimits> {
  return maxUnpacked === undefined ? {} : { maxBytes: maxUnpacked, maxRatio: 0 };
}
