/**
 * `lantern analyze` pipeline: inputs → scan (normalise + detect) → group + timeline.
 * Each input is scanned with its own detector state, except the pieces of one rotation set
 * (`kern.log.2.gz`, `kern.log.1`, `kern.log`): they are read oldest first through one detector,
 * so a report cut by rotation is one complete incident.
 */
import { Detector } from './detect.js';
import { Collector, type Filters } from './group.js';
import type { LogFormat } from './normalize.js';
import { NotTextError, scanStream } from './scan.js';
import { groupRotations } from './rotation.js';
import { availableParallelism } from 'node:os';
import { TRIGGER_SEARCH, type TriggerSearch } from './blockindex.js';
import { INLINE_INDEXER, LazyPool, type BlockIndexer } from './indexpool.js';
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
  /** Bytes dropped from overlong lines beyond the part kept. */
  overlongBytesCut: number;
  invalidUtf8Lines: number;
  /** NUL bytes dropped (zeros a crash left in the log), and in how many runs. */
  nulBytes: number;
  nulRuns: number;
  incidents: number;
  partialIncidents: number;
  /** The input ended early (cut or corrupt archive, read error): what came before was analysed. */
  truncated?: true;
  /** Why the input could not be read (fully). */
  error?: string;
  /** The rotation set this file was read in (directory + base name), when it has more than one piece. */
  rotationSet?: string;
}

export interface AnalysisResult {
  inputs: InputReport[];
  collector: Collector;
  /** Blocks whose trigger search ran on a worker thread (0: small run, or --jobs 1). Not in the output. */
  workerBlocks: number;
}

export interface AnalyzeOptions {
  filters?: Filters;
  /** Called with (input name, bytes read so far) while scanning. */
  onProgress?: (name: string, bytes: number) => void;
  now?: Date;
  /**
   * Worker threads for the prefilter's trigger search (default: the CPUs this process may use);
   * 1 keeps everything on the main thread. Runs smaller than POOL_MIN_BYTES use none. The output
   * does not depend on it.
   */
  jobs?: number;
  /** Bytes a run reads before it starts the workers (default POOL_MIN_BYTES; 0, for tests: every block to the workers). */
  poolMinBytes?: number;
}

/**
 * The default --jobs. With the native trigger search, 1: the search (~0.35 ms/MiB) is then less
 * than the rest of the main thread's work, and workers cost more (a copy and two messages per
 * block, an isolate each) than they take off it: --jobs 2 was slower in wall and CPU time than
 * --jobs 1 in every paired run here (docs/analyze.md, BENCHMARK). With the JavaScript search, the
 * CPUs this process may use.
 */
export function defaultJobs(search: TriggerSearch = TRIGGER_SEARCH): number {
  return search.native !== null ? 1 : Math.max(1, availableParallelism());
}

export async function analyzePaths(paths: string[], opts: AnalyzeOptions = {}): Promise<AnalysisResult> {
  const { files, skipped } = await expandInputs(paths.length ? paths : ['-']);
  const collector = new Collector(opts.filters ?? {});
  const inputs: InputReport[] = skipped.map((s) => ({ ...emptyReport(s.name), error: s.reason }));
  const jobs = opts.jobs ?? defaultJobs();
  const pool = jobs > 1 ? new LazyPool(jobs, opts.poolMinBytes) : null;
  // Regular files say their size: a large run starts its workers while the first blocks are read.
  pool?.expect(files.reduce((n, f) => n + (f.size ?? 0), 0));
  try {
    await analyzeSets(files, collector, inputs, opts, pool ?? INLINE_INDEXER, jobs);
  } finally {
    await pool?.close();
  }
  return { inputs, collector, workerBlocks: pool?.workerBlocks ?? 0 };
}

async function analyzeSets(files: InputFile[], collector: Collector, inputs: InputReport[], opts: AnalyzeOptions, indexer: BlockIndexer, jobs: number): Promise<void> {
  for (const set of groupRotations(files, (f) => f.path)) {
    // One detector per set: what is open at the end of one piece continues in the next.
    // Incidents are counted for the piece where they start (a report may close in a later piece).
    const started = new Map<string, { incidents: number; partial: number }>();
    const detector = new Detector((inc) => {
      const c = started.get(inc.file) ?? { incidents: 0, partial: 0 };
      c.incidents++;
      if (inc.partial) c.partial++;
      started.set(inc.file, c);
      collector.add(inc);
    });
    const reports: InputReport[] = [];
    for (const [n, f] of set.items.entries()) {
      // A piece is missing (rotated away, not copied): a report cannot continue across the gap.
      if (set.gapsBefore.includes(n)) detector.finish(`a piece of the rotated log before ${f.name} is missing`);
      if (set.items.length > 1) collector.setInputUnit(f.name, set.key!);
      const rep = await analyzeOne(f, detector, opts, indexer, jobs);
      if (set.items.length > 1) rep.rotationSet = set.key!;
      reports.push(rep);
    }
    // What is still open at the end of the (last piece of the) input is truncated: close it as such.
    detector.finish();
    for (const rep of reports) {
      rep.incidents = started.get(rep.name)?.incidents ?? 0;
      rep.partialIncidents = started.get(rep.name)?.partial ?? 0;
    }
    inputs.push(...reports);
  }
}

function emptyReport(name: string): InputReport {
  return {
    name,
    format: 'unreadable',
    bytes: 0,
    lines: 0,
    kernelLines: 0,
    malformedLines: 0,
    overlongLines: 0,
    overlongBytesCut: 0,
    invalidUtf8Lines: 0,
    nulBytes: 0,
    nulRuns: 0,
    incidents: 0,
    partialIncidents: 0,
  };
}

async function analyzeOne(f: InputFile, detector: Detector, opts: AnalyzeOptions, indexer: BlockIndexer, jobs: number): Promise<InputReport> {
  const rep = emptyReport(f.name);
  const ref = f.mtime ?? opts.now ?? new Date();
  // The detector may be shared by the pieces of a rotation set: count this file's share.
  const before = { ...detector.stats };
  let opened;
  try {
    opened = await openInput(f);
  } catch (e) {
    rep.error = errText(e);
    // A missing piece of a rotation set: a report open at its start cannot continue across the gap.
    detector.finish(`the next piece of the log (${f.name}) could not be read`);
    return rep;
  }
  rep.compression = opened.compression;
  let res;
  try {
    res = await scanStream(opened.stream, detector, {
      name: f.name,
      refYear: ref.getUTCFullYear(),
      refMonth: ref.getUTCMonth(),
      indexer,
      // Enough blocks read ahead to keep every worker busy while the detector waits for the next.
      maxQueuedBlocks: Math.min(4 * jobs, 32),
      ...(opts.onProgress ? { onProgress: (b: number) => opts.onProgress!(f.name, b) } : {}),
    });
  } catch (e) {
    // Refused before any line was parsed (binary content): stop the reader and the decompressor.
    opened.close();
    await opened.done;
    rep.error = e instanceof NotTextError ? e.message : `read failed: ${errText(e)}`;
    detector.finish(`the next piece of the log (${f.name}) could not be read`);
    return rep;
  }
  rep.format = res.format;
  rep.bytes = res.bytes;
  rep.lines = res.lines;
  rep.malformedLines = res.malformedLines;
  rep.overlongLines = res.overlongLines;
  rep.overlongBytesCut = res.overlongBytesCut;
  rep.invalidUtf8Lines = res.invalidUtf8Lines;
  rep.nulBytes = res.nulBytes;
  rep.nulRuns = res.nulRuns;
  const failure = await opened.done;
  if (failure && !failure.truncated && res.bytes === 0) {
    // Nothing could be read at all (the decompressor is missing): unreadable, not an empty log.
    rep.format = 'unreadable';
    rep.error = failure.message;
  } else if (failure || res.readError) {
    rep.truncated = true;
    rep.error = failure?.message ?? `read failed part way: ${res.readError}`;
    detector.finish('the log could not be read to its end');
  }
  rep.kernelLines = detector.stats.kernelLines - before.kernelLines;
  return rep;
}
