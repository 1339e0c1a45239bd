/**
 * The recorder's status as Prometheus metrics (`lantern record --metrics ADDR:PORT`). One table:
 * each exported field of RecorderStatus with its type and help; detector sections (hung, slab,
 * rules, and the ones added later) export their numeric counters generically as
 * `lantern_record_<detector>_<name>`, so a new detector's counters appear without an edit here.
 */
import { snake, type Metric } from '../common/metrics.js';
import type { RecorderStatus } from './recorder.js';

type Field = { help: string; type: 'counter' | 'gauge'; value: (s: RecorderStatus) => number };

const FIELDS: Record<string, Field> = {
  events_total: { help: 'Trace events read from the kernel.', type: 'counter', value: (s) => s.events },
  records_total: { help: 'Records written to the store.', type: 'counter', value: (s) => s.records },
  lost_events_total: { help: 'Events the kernel dropped (ring buffer overrun), from the per-CPU stats.', type: 'counter', value: (s) => s.lost.stats },
  lost_markers_total: { help: 'Loss markers met in the ring-buffer pages.', type: 'counter', value: (s) => s.lost.markers },
  decode_errors_total: { help: 'Events that could not be decoded.', type: 'counter', value: (s) => s.decodeErrors },
  store_errors_total: { help: 'Failed store writes (retried while the backlog holds).', type: 'counter', value: (s) => s.storeErrors },
  dropped_records_total: { help: 'Records lost (backlog full, or unwritten at exit).', type: 'counter', value: (s) => s.droppedRecords },
  log_lines_lost_total: { help: 'Lines the --log file could not take.', type: 'counter', value: (s) => s.logLinesLost },
  events_per_second: { help: 'Trace events per second, recently.', type: 'gauge', value: (s) => s.eventsPerSec },
  backlog_records: { help: 'Records waiting in memory for the store.', type: 'gauge', value: (s) => s.backlogRecords },
  live_processes: { help: 'Processes the model tracks now.', type: 'gauge', value: (s) => s.liveProcesses },
  store_bytes: { help: 'Size of the store file.', type: 'gauge', value: (s) => s.storeBytes },
  rss_bytes: { help: 'Resident memory of the recorder.', type: 'gauge', value: (s) => s.rssBytes },
};

const UNITS: [RegExp, string, number][] = [
  [/Ms$/, '_seconds', 1e-3],
  [/Us$/, '_seconds', 1e-6],
  [/Ns$/, '_seconds', 1e-9],
  [/Secs?$/, '_seconds', 1],
  [/Kb$/, '_bytes', 1024],
];

export function recordMetrics(s: RecorderStatus): Metric[] {
  const out: Metric[] = Object.entries(FIELDS).map(([name, f]) => ({ name: `lantern_record_${name}`, help: f.help, type: f.type, samples: [{ value: f.value(s) }] }));
  // Detector sections: objects hanging off the status with numeric leaves.
  for (const [section, v] of Object.entries(s as unknown as Record<string, unknown>)) {
    if (section === 'lost' || section === 'counters' || !v || typeof v !== 'object' || Array.isArray(v)) continue;
    for (const [k, n] of Object.entries(v as Record<string, unknown>)) {
      if (typeof n !== 'number' || !Number.isFinite(n)) continue;
      // Prometheus names carry base units: fooMs → foo_seconds, fooKb → foo_bytes.
      const unit = UNITS.find(([re]) => re.test(k));
      const base = unit ? k.replace(unit[0], '') : k;
      const name = `lantern_record_${snake(section)}_${snake(base)}${unit ? unit[1] : ''}`;
      out.push({ name, help: `The ${section} detector's ${k} (see lantern record status).`, type: 'gauge', samples: [{ value: unit ? n * unit[2] : n }] });
    }
  }
  return out;
}
