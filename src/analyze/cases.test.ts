/**
 * Every case file (test/data/analyze/cases/<case>.log, one per incident kind and kernel era, with
 * <case>.expected.json) is analysed in every input format Lantern reads: the case is re-enveloped
 * by casegen.ts (syslog, RFC 3339, journal short/iso/precise/json, dmesg -T, netconsole, udplogger,
 * serial with CR/ANSI/glued prompt, several hosts on one console …) with noise lines of other
 * programs or hosts interleaved. Each format must yield the same incidents, at the right time, on the right host.
 *
 * Golden files: `LANTERN_UPDATE=1 npm test -- analyze` (or, after `npx tsc -p tsconfig.json`,
 * `LANTERN_UPDATE=1 node scripts/run-tests.mjs cases`) first rewrites the results part (`incidents`)
 * of every case's .expected.json in the source tree from what the analyser finds in the case as
 * written (dmesg format), keeping `case`, `era`, `source` and any other provenance field; then the
 * tests below run against the rewritten files, in every format. Review the change with `git diff
 * test/data/analyze/cases` before committing it: an unchanged case gives no diff (golden.ts).
 * A new `<case>.log` without an expected file gets one, with `era`/`source` to fill in by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { mainTask } from './model.js';
import { CASE_FORMATS, FORMAT_TRAITS, renderCase, wallOfKernelTime, type CaseFormat } from './casegen.js';
import { analyzeText, updateCaseFiles, type ExpectedIncident as Expected } from './golden.js';
import { INCIDENT_KINDS } from './model.js';
import { REFINEMENTS } from './patterns/refinements.js';

// From dist/analyze/, this is the source tree's test/data (not a copy under dist/).
const dir = new URL('../../test/data/analyze/cases/', import.meta.url);

if (process.env['LANTERN_UPDATE'] === '1') {
  const changed = await updateCaseFiles(fileURLToPath(dir), true);
  console.log(`LANTERN_UPDATE: ${changed.length} case file(s) rewritten${changed.length ? ': ' + changed.join(', ') : ''}`);
}

const cases = readdirSync(dir)
  .filter((f) => f.endsWith('.log'))
  .sort();

test('every incident kind has a case file', () => {
  const kinds = new Set<string>();
  for (const c of cases) {
    const exp = JSON.parse(readFileSync(new URL(c.replace(/\.log$/, '.expected.json'), dir), 'utf8')) as { incidents: Expected[] };
    for (const e of exp.incidents) kinds.add(e.kind);
  }
  for (const k of INCIDENT_KINDS) {
    assert.ok(kinds.has(k), `no case for ${k}`);
  }
});

test('every syzkaller special title has a case file', () => {
  const subkinds = new Set<string>();
  for (const c of cases) {
    const exp = JSON.parse(readFileSync(new URL(c.replace(/\.log$/, '.expected.json'), dir), 'utf8')) as { incidents: Expected[] };
    for (const e of exp.incidents) if (e.subkind) subkinds.add(e.subkind);
  }
  // The sanitizers and lockdep/atomic subkinds their entries give, and every refinement (patterns/refinements.ts).
  for (const k of ['kasan', 'kfence', 'kmsan', 'ubsan', 'lockdep_circular', 'lockdep_recursive', 'scheduling_while_atomic', 'sleeping_in_atomic', ...REFINEMENTS.map((x) => x.subkind)]) {
    assert.ok(subkinds.has(k), `no case for ${k}`);
  }
});

for (const c of cases) {
  const content = readFileSync(new URL(c, dir), 'utf8');
  const exp = JSON.parse(readFileSync(new URL(c.replace(/\.log$/, '.expected.json'), dir), 'utf8')) as { incidents: Expected[] };
  for (const format of CASE_FORMATS) {
    test(`case ${c} as ${format}`, async () => {
      const traits = FORMAT_TRAITS[format as CaseFormat];
      const name = format === 'vmcore-dmesg' ? 'vmcore-dmesg.txt' : `${c}.${format}`;
      const got = await analyzeText(renderCase(content, format), name);
      assert.deepEqual(
        got.map((i) => `${i.kind}: ${i.title}`),
        exp.incidents.map((e) => `${e.kind}: ${e.title}`),
        `${c} as ${format}: incidents`,
      );
      got.forEach((inc, n) => {
        const e = exp.incidents[n]!;
        const what = `${c} as ${format}, incident ${n} (${e.kind})`;
        assert.equal(inc.headline, e.headline, `${what}: headline`);
        assert.equal(inc.subkind, e.subkind, `${what}: subkind`);
        assert.equal(mainTask(inc), e.task, `${what}: task`);
        assert.equal(inc.guiltyFrame, e.guiltyFrame, `${what}: guilty frame`);
        assert.equal(inc.partial, e.partial, `${what}: partial ${inc.partialReasons.join('; ')}`);
        if (e.oom) {
          assert.deepEqual(inc.oom?.invoker, e.oom.invoker, `${what}: oom invoker`);
          assert.equal(inc.oom?.constraint, e.oom.constraint, `${what}: oom constraint`);
          assert.deepEqual(inc.oom?.victim, e.oom.victim, `${what}: oom victim`);
        }
        if (e.sysrq) {
          assert.equal(inc.sysrq?.tasks, e.sysrq.tasks, `${what}: sysrq tasks`);
          assert.deepEqual(inc.sysrq?.byState, e.sysrq.byState);
          assert.deepEqual(
            inc.sysrq?.blockedGroups.map((g) => ({ count: g.count, frames: g.frames })),
            e.sysrq.blockedGroups,
          );
        }
        if (traits.kernelTime && e.kernelTime !== undefined) assert.equal(inc.kernelTime?.toFixed(6), Number(e.kernelTime).toFixed(6), `${what}: kernel time`);
        if (!traits.kernelTime) assert.equal(inc.kernelTime, undefined);
        if (traits.wall && e.kernelTime !== undefined) {
          const want = wallOfKernelTime(content, e.kernelTime)!;
          assert.ok(inc.wall, `${what}: no wall time`);
          assert.equal(Math.floor(inc.wall.ms / 1000), Math.floor(want / 1000), `${what}: wall time ${inc.wall.iso}`);
        }
        if (!traits.wall) assert.equal(inc.wall, undefined, `${what}: unexpected wall time`);
        assert.equal(inc.host, traits.host, `${what}: host`);
      });
    });
  }
}
