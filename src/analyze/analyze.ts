/**
 * `lantern analyze` pipeline: inputs → scan (normalise + detect) → group + timeline.
 * Each input is scanned on its own (its own detector state, so reports never span files).
 */
import { Detector } from './detect.js';
import { Collector, type Filters } from './group.js';
import type { LogFormat } from './normalize.js';
import { scanStream } from './scan.js';
import { errText, expandInputs, openInput, type Compression, type InputFile } from './source.js';

export interface InputReport {
  name: string;
  format: LogFormat | 'unreadable';
  compression?: Compression;
  bytes: number;
  lines: number;
  kernelLines: number;
  malformedLines: number;
  overlongLines: number;
  invalidUtf8Lines: number;
  incidents: number;
  partialIncidents: number;
  /** Why the input could not be read (fully). */
  error?: string;
}

export interface AnalysisResult {
  inputs: InputReport[];
  collector: Collector;
}

export interface AnalyzeOptions {
  filters?: Filters;
  /** Called with (input name, bytes read so far) while scanning. */
  onProgress?: (name: string, bytes: number) => void;
  now?: Date;
}

export async function analyzePaths(paths: string[], opts: AnalyzeOptions = {}): Promise<AnalysisResult> {
  const { files, skipped } = await expandInputs(paths.length ? paths : ['-']);
  const collector = new Collector(opts.filters ?? {});
  const inputs: InputReport[] = skipped.map((s) => ({
    name: s.name, format: 'unreadable', bytes: 0, lines: 0, kernelLines: 0, malformedLines: 0, overlongLines: 0,
    invalidUtf8Lines: 0, incidents: 0, partialIncidents: 0, error: s.reason,
  }));
  for (const f of files) inputs.push(await analyzeOne(f, collector, opts));
  return { inputs, collector };
}

async function analyzeOne(f: InputFile, collector: Collector, opts: AnalyzeOptions): Promise<InputReport> {
  const rep: InputReport = {
    name: f.name, format: 'unreadable', bytes: 0, lines: 0, kernelLines: 0, malformedLines: 0, overlongLines: 0,
    invalidUtf8Lines: 0, incidents: 0, partialIncidents: 0,
  };
  const ref = f.mtime ?? opts.now ?? new Date();
  const detector = new Detector((inc) => collector.add(inc));
  let opened;
  try {
    opened = await openInput(f);
  } catch (e) {
    rep.error = errText(e);
    return rep;
  }
  rep.compression = opened.compression;
  try {
    const res = await scanStream(opened.stream, detector, {
      name: f.name,
      refYear: ref.getUTCFullYear(),
      refMonth: ref.getUTCMonth(),
      ...(opts.onProgress ? { onProgress: (b: number) => opts.onProgress!(f.name, b) } : {}),
    });
    rep.format = res.format;
    rep.bytes = res.bytes;
    rep.lines = res.lines;
    rep.malformedLines = res.malformedLines;
    rep.overlongLines = res.overlongLines;
    rep.invalidUtf8Lines = res.invalidUtf8Lines;
  } catch (e) {
    rep.error = `read failed part way: ${errText(e)}`;
  }
  // What is still open at the end of this input is truncated: close it as such.
  detector.finish();
  const failure = await opened.done;
  if (failure && !rep.error) rep.error = failure;
  rep.kernelLines = detector.stats.kernelLines;
  rep.incidents = detector.stats.incidents;
  rep.partialIncidents = detector.stats.partialIncidents;
  return rep;
}
