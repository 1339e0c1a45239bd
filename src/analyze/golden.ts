/**
 * Test helper (not used by the CLI): the golden files of the case test. Each case
 * test/data/analyze/cases/<case>.log has <case>.expected.json: provenance (`case`, `era`, `source`,
 * and whatever else a contributor adds) and the results part, `incidents`.
 *
 * `LANTERN_UPDATE=1 npm test -- analyze` rewrites the results part of every case from what the
 * analyser finds now (in the source tree, test/data, not dist/), so a title change is reviewed as a
 * git diff. The provenance fields stay as they are, in their place; each incident's keys come in
 * one fixed order and the file is 2-space JSON with a final newline, so an unchanged case is
 * rewritten byte for byte (zero diff) and a changed one differs only where the results did.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Detector } from './detect.js';
import { scanStream } from './scan.js';
import { mainTask } from './model.js';
import type { Incident } from './model.js';
import { renderCase, type CaseFormat } from './casegen.js';

/** What a case file asserts about one incident, in the order the golden files hold the keys. */
export interface ExpectedIncident {
  kind: string;
  subkind?: string;
  title: string;
  headline: string;
  kernelTime?: string;
  /** Envelope files only (test/data/analyze/envelopes): the wall-clock text and host the line's envelope gave. */
  wall?: string;
  host?: string;
  task?: string;
  guiltyFrame?: string;
  oom?: { invoker?: unknown; constraint?: string; victim?: unknown };
  sysrq?: { tasks: number; byState: Record<string, number>; blockedGroups: Array<{ count: number; frames: string[] }> };
  partial: boolean;
}

export interface ExpectedFile {
  incidents: ExpectedIncident[];
  [provenance: string]: unknown;
}

/** Analyses a case rendered in one format, fed in small chunks so that lines straddle chunk boundaries. */
export async function analyzeText(text: string, name: string): Promise<Incident[]> {
  const out: Incident[] = [];
  const det = new Detector((i) => out.push(i));
  const buf = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; i += 777) chunks.push(buf.subarray(i, i + 777));
  await scanStream(Readable.from(chunks), det, { name, refYear: 2024, refMonth: 11 });
  det.finish();
  return out;
}

/** The results part of a golden file for one incident (keys in the fixed order, absent ones left out). */
export function expectedOf(inc: Incident, opts: GoldenOptions = {}): ExpectedIncident {
  const e: Record<string, unknown> = { kind: inc.kind };
  if (inc.subkind !== undefined) e['subkind'] = inc.subkind;
  e['title'] = inc.title;
  e['headline'] = inc.headline;
  if (inc.kernelTimeText !== undefined) e['kernelTime'] = inc.kernelTimeText;
  if (opts.envelope) {
    if (inc.wallText !== undefined) e['wall'] = inc.wallText;
    if (inc.host !== undefined) e['host'] = inc.host;
  }
  const task = mainTask(inc);
  if (task !== undefined) e['task'] = task;
  if (inc.guiltyFrame !== undefined) e['guiltyFrame'] = inc.guiltyFrame;
  if (inc.kind === 'oom_kill' && inc.oom) {
    const o: Record<string, unknown> = {};
    if (inc.oom.invoker !== undefined) o['invoker'] = inc.oom.invoker;
    if (inc.oom.constraint !== undefined) o['constraint'] = inc.oom.constraint;
    if (inc.oom.victim !== undefined) o['victim'] = inc.oom.victim;
    e['oom'] = o;
  }
  if (inc.sysrq) {
    e['sysrq'] = {
      tasks: inc.sysrq.tasks,
      byState: inc.sysrq.byState,
      blockedGroups: inc.sysrq.blockedGroups.map((g) => ({ count: g.count, frames: g.frames })),
    };
  }
  e['partial'] = inc.partial;
  return e as unknown as ExpectedIncident;
}

/**
 * A golden file's text with its results part replaced: every other top-level field (the
 * provenance) is kept with its value and position; `incidents` is added last when it was missing.
 */
export function rewriteExpected(oldText: string, incidents: Incident[], opts: GoldenOptions = {}): string {
  const old = JSON.parse(oldText) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const results = incidents.map((i) => expectedOf(i, opts));
  for (const [k, v] of Object.entries(old)) out[k] = k === 'incidents' ? results : v;
  out['incidents'] = results;
  return JSON.stringify(out, null, 2) + '\n';
}

export interface GoldenOptions {
  /**
   * The directory holds logs in their own envelope (test/data/analyze/envelopes: hostless syslog,
   * logread, collectors), analysed as they are rather than as dmesg-layout cases; results also name the wall time and host.
   */
  envelope?: boolean;
}

/** The format a case's results are taken from: the case file's own (dmesg). */
export const GOLDEN_FORMAT: CaseFormat = 'dmesg';

/**
 * Rewrites the results part of every `<case>.expected.json` in `dir` whose `<case>.log` is there;
 * returns the cases whose file changed. A case without an expected file gets one only with
 * `createMissing` (its provenance must then be written by hand: `source` and `era` say `TODO`).
 */
export async function updateCaseFiles(dir: string, createMissing = false, opts: GoldenOptions = {}): Promise<string[]> {
  const changed: string[] = [];
  for (const c of readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .sort()) {
    const expPath = join(dir, c.replace(/\.log$/, '.expected.json'));
    let oldText: string;
    try {
      oldText = readFileSync(expPath, 'utf8');
    } catch {
      if (!createMissing) continue;
      oldText = JSON.stringify({ case: c, era: 'TODO', source: 'TODO', incidents: [] });
    }
    const content = readFileSync(join(dir, c), 'utf8');
    const got = opts.envelope ? await analyzeText(content, c) : await analyzeText(renderCase(content, GOLDEN_FORMAT), `${c}.${GOLDEN_FORMAT}`);
    const newText = rewriteExpected(oldText, got, opts);
    if (newText !== oldText) {
      writeFileSync(expPath, newText);
      changed.push(c);
    }
  }
  return changed;
}
