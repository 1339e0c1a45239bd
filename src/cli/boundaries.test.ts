/**
 * Import boundaries. Each capability (src/<capability>/) imports the shared modules — src/common/,
 * src/host/ (the Host, the datum catalog and shared facts, the file formats in host/formats/) —
 * and itself; the shared modules import no capability; src/cli/ wires them all. Any other import
 * from one capability into another must be a row of ALLOWED, with why. A row no import uses any
 * more fails too, so the table stays the list of what exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// From dist/cli/, this is the source tree's src/ (the imports as written, tests included).
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const SHARED = new Set(['common', 'host']);

interface Allowed {
  /** Importing files: a path under src/ or a folder prefix ending in `/`. */
  from: string;
  /** Imported files: a path under src/ or a folder prefix ending in `/`. */
  to: string;
  why: string;
}

const ALLOWED: readonly Allowed[] = [
  { from: 'access/', to: 'record/', why: "access lists are kept per process-history domain in the recorder's store (lantern access reads it)" },
  { from: 'record/', to: 'access/', why: 'the recorder runs the access backends and keeps their lists (record --access)' },
  { from: 'access/baseline.test.ts', to: 'baseline/', why: 'tests: a baseline of a store with access lists, and its diff' },
  { from: 'baseline/collect.ts', to: 'record/', why: "a snapshot holds the domains and access lists of the recorder's store" },
  { from: 'console/', to: 'netconsole/config.ts', why: "the console receiver keeps netconsole's output contract: the same output options and their parsers" },
  { from: 'console/', to: 'netconsole/text.ts', why: 'the same escaping of control bytes and invalid UTF-8' },
  { from: 'console/', to: 'netconsole/decoder.ts', why: 'the same line events and markers (types)' },
  { from: 'console/', to: 'netconsole/format.ts', why: 'the same line formats (text, json, udplogger)' },
  { from: 'console/', to: 'netconsole/writer.ts', why: 'the same per-day/size files, combined file, SIGHUP reopen' },
  { from: 'console/', to: 'netconsole/native.ts', why: "UDP sources ride netconsole's native recvmmsg path" },
  { from: 'console/', to: 'netconsole/native-batch.ts', why: 'and read its batches' },
  { from: 'console/', to: 'netconsole/procnet.ts', why: 'UDP kernel drops are read as netconsole reads them' },
  { from: 'console/', to: 'netconsole/test-helpers.ts', why: "tests: UDP senders and waits of netconsole's tests" },
  {
    from: 'check/checks/receivers.ts',
    to: 'console/config.ts',
    why: "console.receivers reads a console server's configuration with the receiver's own parser (one parser per format: the receiver's messages)",
  },
  { from: 'check/checks/receivers.ts', to: 'netconsole/config.ts', why: "and a netconsole receiver's, the same way" },
  { from: 'forward/', to: 'analyze/', why: 'forward --analyze sends the incidents analyze finds' },
  { from: 'forward/', to: 'record/', why: "forward --store sends the recorder's records (read-only store, its line renderer)" },
  { from: 'forward/fleet.test.ts', to: 'netconsole/test-helpers.ts', why: 'tests: end to end through the real netconsole receiver' },
  { from: 'whosends/', to: 'access/net/', why: 'who-sends is built on the network probe of the access lists' },
  { from: 'whosends/', to: 'record/', why: "senders are named with the recorder's process history (store, procfs, domains)" },
  { from: 'baseline/report.ts', to: 'analyze/analyze.ts', why: 'the baseline report runs analyze over the logs it is given' },
  { from: 'baseline/report.ts', to: 'analyze/model.ts', why: 'and shows its incidents (model, main task)' },
  { from: 'baseline/report.ts', to: 'analyze/render.ts', why: "with analyze's time format" },
  { from: 'baseline/report.ts', to: 'check/model.ts', why: "the report shows the snapshot's readiness findings" },
  { from: 'baseline/collect.ts', to: 'check/checks/index.ts', why: 'a snapshot holds the readiness report: baseline runs the check suite' },
  { from: 'baseline/collect.ts', to: 'check/run.ts', why: 'through its entry point, runChecks' },
  { from: 'baseline/model.ts', to: 'check/run.ts', why: "the snapshot's readiness section is a CheckReport" },
  { from: 'baseline/diff.ts', to: 'check/model.ts', why: 'a diff ranks finding statuses as check does' },
  { from: 'baseline/testkit.ts', to: 'check/testkit.ts', why: "tests: baseline builds its fixtures with check's fixture kit" },
  { from: 'baseline/report-store.ts', to: 'record/', why: "the report reads the recorder's event store (events, processes, signals)" },
  { from: 'baseline/reportkit.ts', to: 'record/', why: 'tests: the report kit writes a recorder store to read' },
  { from: 'audit/', to: 'record/', why: "audit joins audit trails to the recorder's store and process history" },
];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every relative import of every source file, as [importer, imported] paths under src/ (`.ts`). */
function imports(): [string, string][] {
  const out: [string, string][] = [];
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)'(\.{1,2}\/[^']+)'/gm)) {
      const target = normalize(join(dirname(file), m[1]!)).replace(/\.js$/, '.ts');
      out.push([relative(SRC, file), relative(SRC, target)]);
    }
  }
  return out;
}

const top = (p: string) => p.split('/')[0]!;
const matches = (pattern: string, p: string) => (pattern.endsWith('/') ? p.startsWith(pattern) : p === pattern);

test('shared modules (common/, host/) import no capability', () => {
  const bad = imports().filter(([from, to]) => SHARED.has(top(from)) && !SHARED.has(top(to)));
  assert.deepEqual(bad, []);
});

test('capabilities import the shared modules and themselves; other edges are the documented ones', () => {
  const all = imports();
  assert.ok(all.length > 500, `only ${all.length} imports found: is ${SRC} the source tree?`);
  const cross = all.filter(([from, to]) => top(from) !== 'cli' && top(from) !== top(to) && !SHARED.has(top(from)) && !SHARED.has(top(to)));
  const undocumented = cross.filter(([from, to]) => !ALLOWED.some((a) => matches(a.from, from) && matches(a.to, to)));
  assert.deepEqual(undocumented, [], 'imports across capabilities without a row in ALLOWED');
  const unused = ALLOWED.filter((a) => !cross.some(([from, to]) => matches(a.from, from) && matches(a.to, to)));
  assert.deepEqual(unused, [], 'ALLOWED rows no import uses');
});
