import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { CliError } from '../common/exit.js';
import { paint } from '../common/term.js';
import { diffSnapshots } from './diff.js';
import { snapshotProblem, type Snapshot } from './model.js';
import { renderDiff, renderShow } from './render.js';
import { buildReport, renderHtml, renderMarkdown } from './report.js';
import { loadSnapshot } from './store.js';
import { fixture, snap, tmpDir } from './testkit.js';

const noColour = paint({ isTTY: false } as NodeJS.WriteStream);

test('snapshotProblem: names what is wrong', () => {
  const good = JSON.parse(JSON.stringify(snap(fixture('debian12'))));
  assert.equal(snapshotProblem(good), null);
  assert.equal(snapshotProblem([]), 'not a JSON object');
  assert.match(snapshotProblem({ ...good, kind: 'x' })!, /not a lantern snapshot/);
  const bad = JSON.parse(JSON.stringify(good));
  bad.sections.sysctls.data.values['kernel.panic'] = 3;
  assert.equal(snapshotProblem(bad), 'section sysctls: values is not a map of strings');
  const noReason = JSON.parse(JSON.stringify(good));
  noReason.sections.cpus = { status: 'unknown' };
  assert.equal(snapshotProblem(noReason), 'section cpus: unknown without a reason');
});

/** Every JSON path of a document (to pick one to damage). */
function paths(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...prefix, k], out);
  return out;
}

test('damaged snapshot files: a clear error or a working diff and report, never a crash', () => {
  const base = JSON.parse(JSON.stringify(snap(fixture('rhel9')))) as Snapshot;
  const all = paths(base).filter((p) => p.length > 0);
  const dir = tmpDir('fuzz');
  const file = join(dir, 's.json');
  const junk = fc.oneof(fc.constant(null), fc.integer(), fc.string(), fc.constant([]), fc.constant({}), fc.boolean(), fc.array(fc.string(), { maxLength: 3 }));
  fc.assert(
    fc.property(fc.integer({ min: 0, max: all.length - 1 }), junk, fc.boolean(), (i, value, remove) => {
      const doc = JSON.parse(JSON.stringify(base));
      const p = all[i]!;
      let o = doc;
      for (const k of p.slice(0, -1)) o = o[k];
      if (remove) delete o[p[p.length - 1]!];
      else o[p[p.length - 1]!] = value;
      writeFileSync(file, JSON.stringify(doc));
      let s: Snapshot;
      try {
        s = loadSnapshot(file);
      } catch (e) {
        assert.ok(e instanceof CliError, `not a CliError: ${(e as Error).stack}`);
        return;
      }
      const d = diffSnapshots(base, s);
      renderDiff(d, noColour);
      renderDiff(diffSnapshots(s, base), noColour);
      renderShow(s, noColour);
      const doc2 = buildReport({ snapshot: s, baseline: base, diff: d, logs: null, now: new Date() });
      renderMarkdown(doc2);
      renderHtml(doc2);
    }),
    { numRuns: 300, seed: 20261126 },
  );
});
