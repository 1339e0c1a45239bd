/**
 * The report-type table (REPORT_TYPES) holds what the detector knows; these tests hold the table
 * to what adding a type promises: a unique name, an example header that passes the prefilter and
 * that this entry (and no earlier one) reads, a docs/analyze.md row, and a case file that opens it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { Detector } from '../detect.js';
import { scanStream } from '../scan.js';
import type { Incident } from '../model.js';
import { ANYWHERE_HEADER_RE, REPORT_TYPES, TRIGGER_LOWER, TRIGGER_RE, TRIGGER_UPPER } from './index.js';
import type { HeaderContext, ReportType } from './types.js';

function context(kind: ReportType['kind']): HeaderContext {
  return {
    open: undefined,
    orphanTable: undefined,
    maxSysrqTasks: 10,
    incident: (title) =>
      ({ kind, title, headline: '', file: 't', lineNo: 1, boot: 0, tasks: [], altFrames: [], frames: [], facts: {}, partial: false, partialReasons: [], excerpt: [], excerptOmitted: 0 }) as Incident,
  };
}

test('report types have unique names', () => {
  const names = REPORT_TYPES.map((t) => t.name);
  assert.deepEqual(
    names.filter((n, i) => names.indexOf(n) !== i),
    [],
  );
});

for (const [i, type] of REPORT_TYPES.entries()) {
  test(`report type ${type.name}: its example passes the prefilter, and it is the first entry to read it`, () => {
    assert.ok(TRIGGER_RE.test(type.example), `${type.name}: example "${type.example}" holds no trigger word`);
    assert.ok(
      type.triggers.some((w) => new RegExp(w).test(type.example)),
      `${type.name}: example holds none of its own triggers`,
    );
    const earlier = REPORT_TYPES.slice(0, i).find((t) => t.header(type.example, context(t.kind)) !== undefined);
    assert.equal(earlier?.name, undefined, `${type.name}: an earlier entry reads its example`);
    const opened = type.header(type.example, context(type.kind));
    assert.ok(opened, `${type.name}: does not read its own example`);
    assert.equal(opened.inc.kind, type.kind);
  });
}

test('the prefilter: capitals and punctuation in one set, lower-case words in the other', () => {
  for (const w of TRIGGER_UPPER.source.split('|')) assert.ok(!/^[a-z]/.test(w), w);
  for (const w of TRIGGER_LOWER.source.split('|')) assert.ok(/^[a-z]/.test(w), w);
});

test('a report type whose header may follow an unknown prefix has it found there', () => {
  for (const type of REPORT_TYPES.filter((t) => t.anywhere)) {
    assert.ok(
      type.anywhere!.some((s) => type.example.startsWith(s)),
      `${type.name}: its example starts with none of ${type.anywhere!.join(', ')}`,
    );
    const m = ANYWHERE_HEADER_RE.exec(`2024-05-03T06:00:01.123Z stdout F ${type.example}`);
    assert.equal(m?.index, '2024-05-03T06:00:01.123Z stdout F '.length, type.name);
  }
});

// From dist/analyze/patterns/, these are the source tree's docs/ and test/data/.
const DOC = readFileSync(new URL('../../../docs/analyze.md', import.meta.url), 'utf8');
const CASES = new URL('../../../test/data/analyze/cases/', import.meta.url);

test('every report type names a row of the docs/analyze.md Incidents table that lists its kind', () => {
  const lines = DOC.split('\n');
  const section = lines.indexOf('### Incidents');
  const rows = lines
    .slice(section)
    .filter((l) => l.startsWith('| `'))
    .map((l) => l.split('|')[1]!.trim());
  for (const type of REPORT_TYPES) {
    assert.ok(rows.includes(type.docRow), `${type.name}: no Incidents row whose first cell is "${type.docRow}"`);
    assert.ok(type.docRow.includes(`\`${type.kind}\``), `${type.name}: its row "${type.docRow}" does not name its kind`);
  }
});

test('every report type opens a report in some case file', async () => {
  const seen = new Set<string>();
  for (const c of readdirSync(CASES).filter((f) => f.endsWith('.log'))) {
    const det = new Detector(() => {}, { onHeader: (name) => seen.add(name) });
    await scanStream(Readable.from([readFileSync(new URL(c, CASES))]), det, { name: c, refYear: 2024, refMonth: 11 });
    det.finish();
  }
  assert.deepEqual(
    REPORT_TYPES.map((t) => t.name).filter((n) => !seen.has(n)),
    [],
    'report types no case file opens',
  );
});
