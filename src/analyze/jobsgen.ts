/**
 * Test helper (not used by the CLI): large logs in one format, every report case of
 * test/data/analyze/cases in turn among routine kernel lines, each placed across a 1 MiB read
 * boundary (a different line of the report each time, and at a different byte of it), so that
 * a report starts in one block and goes on in the next.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { renderCase, type CaseFormat } from './casegen.js';

const CASES = new URL('../../test/data/analyze/cases/', import.meta.url);
const BOUNDARY = 1 << 20;

/** Routine kernel lines (no trigger word), as a case file: rendered in the log's format. */
const NOISE = Array.from({ length: 64 }, (_, i) => {
  const ts = `[${(1 + i / 100).toFixed(6).padStart(12, ' ')}]`;
  return i % 3 === 0
    ? `${ts} e1000e 0000:00:19.0 eno1: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx`
    : i % 3 === 1
      ? `${ts} docker0: port ${i}(veth${i}a1) entered forwarding state`
      : `${ts} audit: type=1400 audit(1714716001.${i}:${i}): apparmor="DENIED" operation="open" profile="snap.lxd" pid=${i}`;
}).join('\n');

export function caseFiles(): string[] {
  return readdirSync(CASES)
    .filter((f) => f.endsWith('.log'))
    .sort();
}

/** About `bytes` of log in `format`, with a report across (almost) every 1 MiB boundary. */
export function boundaryLog(bytes: number, format: CaseFormat): Buffer {
  const noise = renderCase(NOISE, format).trimEnd().split('\n');
  const reports = caseFiles().map((f) =>
    renderCase(readFileSync(new URL(f, CASES), 'utf8'), format)
      .trimEnd()
      .split('\n'),
  );
  const parts: string[] = [];
  let offset = 0;
  let n = 0;
  let k = 0;
  const push = (l: string) => {
    parts.push(l + '\n');
    offset += Buffer.byteLength(l) + 1;
  };
  for (let boundary = BOUNDARY; offset < bytes; boundary += BOUNDARY, k++) {
    const report = reports[k % reports.length]!;
    // The report's line `across` is the one cut by the boundary, `skew` bytes into it.
    const across = k % Math.min(report.length, 7);
    const before = report.slice(0, across).reduce((a, l) => a + Buffer.byteLength(l) + 1, 0);
    const skew = (k * 7) % Math.max(1, Buffer.byteLength(report[across]!));
    while (offset + before + skew + 200 < boundary) push(noise[n++ % noise.length]!);
    for (const l of report) push(l);
  }
  return Buffer.from(parts.join(''));
}
