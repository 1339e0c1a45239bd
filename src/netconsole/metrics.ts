/**
 * The receiver's counters as Prometheus metrics (`lantern netconsole listen --metrics ADDR:PORT`).
 * One table: which counters are gauges (a level now) rather than totals, and their help texts;
 * every other counter of the stats document is exported as `lantern_netconsole_<name>_total`, so a
 * counter added to the pipeline appears on the endpoint without an edit here.
 */
import { snake, type Metric } from '../common/metrics.js';
import type { StatsSnapshot } from './receiver.js';

/** Levels, not totals. */
const GAUGES: Record<string, string> = {
  linesQueued: 'Lines accepted and not yet written to the files.',
  sendersTracked: 'Senders whose line state is kept now.',
  bufferedBytes: 'Bytes held in memory for the files (slow or failing disk).',
  openFiles: 'Log files open now.',
  kernelQueuedBytes: "Bytes waiting in the sockets' kernel receive queues now.",
};

/** Help texts of the totals users alert on; the rest get a generic one naming the counter. */
const HELP: Record<string, string> = {
  datagrams: 'Datagrams received.',
  lines: 'Lines decoded from the datagrams.',
  linesWritten: 'Lines written to the files.',
  linesLost: 'Lines lost to a failing disk past --max-buffer (counted, never silent).',
  gaps: 'Sequence gaps seen in extended records (messages the kernel sent and did not arrive).',
  lostMessages: 'Kernel messages missing from the gaps.',
  kernelDrops: 'Datagrams the kernel dropped because the socket buffer was full.',
  writeErrors: 'Failed writes (retried).',
  malformed: 'Datagrams that were not netconsole.',
};

export function netconsoleMetrics(s: StatsSnapshot): Metric[] {
  const out: Metric[] = [{ name: 'lantern_netconsole_uptime_seconds', help: 'Seconds since the receiver started.', type: 'gauge', samples: [{ value: s.uptimeSeconds }] }];
  const levels: Record<string, number | null> = { ...s.counters, sendersTracked: s.sendersTracked, bufferedBytes: s.bufferedBytes, openFiles: s.openFiles };
  for (const [k, v] of Object.entries(levels)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) continue; // unknown on this kernel: not exported rather than 0
    if (k in GAUGES) out.push({ name: `lantern_netconsole_${snake(k)}`, help: GAUGES[k]!, type: 'gauge', samples: [{ value: v }] });
    else out.push({ name: `lantern_netconsole_${snake(k)}_total`, help: HELP[k] ?? `The receiver's ${k} counter (see lantern netconsole stats).`, type: 'counter', samples: [{ value: v }] });
  }
  out.push({
    name: 'lantern_netconsole_output_troubles',
    help: 'Output streams failing now (disk full, permission), with their queued lines lost so far.',
    type: 'gauge',
    samples: [{ value: s.troubles.length }],
  });
  return out;
}
