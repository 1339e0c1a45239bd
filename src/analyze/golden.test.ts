/**
 * The golden-file update mode (golden.ts, run by `LANTERN_UPDATE=1 npm test -- analyze`): on a copy
 * of a case in a temporary directory, a stale result is replaced, provenance fields stay with their
 * values and in their place, a second run changes nothing; on every case of the tree, the rewrite
 * of the current results is byte for byte the file (an unchanged case gives a zero diff).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCase } from './casegen.js';
import { GOLDEN_FORMAT, analyzeText, rewriteExpected, updateCaseFiles } from './golden.js';

const casesDir = fileURLToPath(new URL('../../test/data/analyze/cases/', import.meta.url));
const CASE = 'gpf_6.x';

function withCopy(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lantern-golden-'));
    try {
      copyFileSync(join(casesDir, `${CASE}.log`), join(dir, `${CASE}.log`));
      copyFileSync(join(casesDir, `${CASE}.expected.json`), join(dir, `${CASE}.expected.json`));
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  'update mode replaces a stale result and keeps the provenance',
  withCopy(async (dir) => {
    const path = join(dir, `${CASE}.expected.json`);
    const original = readFileSync(path, 'utf8');
    const stale = JSON.parse(original) as Record<string, unknown> & { incidents: Array<Record<string, unknown>> };
    // A title from before a fix, an extra provenance field, and a dropped result field.
    stale.incidents[0]!['title'] = 'Oops';
    delete stale.incidents[0]!['guiltyFrame'];
    const withNote: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(stale)) {
      withNote[k] = v;
      if (k === 'era') withNote['captured'] = 'by hand, 2024';
    }
    writeFileSync(path, JSON.stringify(withNote, null, 2) + '\n');

    assert.deepEqual(await updateCaseFiles(dir), [`${CASE}.log`]);
    const got = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(got), ['case', 'era', 'captured', 'source', 'incidents']);
    assert.equal(got['captured'], 'by hand, 2024');
    const before = JSON.parse(original) as Record<string, unknown>;
    for (const k of ['case', 'era', 'source']) assert.equal(got[k], before[k], k);
    // Results are the current ones: the file is the original again, plus the extra field.
    assert.deepEqual(got['incidents'], before['incidents']);

    const bytes = readFileSync(path, 'utf8');
    const mtime = statSync(path).mtimeMs;
    assert.deepEqual(await updateCaseFiles(dir), [], 'a second run finds nothing to change');
    assert.equal(readFileSync(path, 'utf8'), bytes);
    assert.equal(statSync(path).mtimeMs, mtime, 'an unchanged file is not written');
  }),
);

test(
  'update mode creates a missing expected file only when asked, with provenance to fill in',
  withCopy(async (dir) => {
    rmSync(join(dir, `${CASE}.expected.json`));
    assert.deepEqual(await updateCaseFiles(dir), []);
    assert.deepEqual(await updateCaseFiles(dir, true), [`${CASE}.log`]);
    const got = JSON.parse(readFileSync(join(dir, `${CASE}.expected.json`), 'utf8')) as Record<string, unknown> & { incidents: Array<{ title: string }> };
    assert.equal(got['source'], 'TODO');
    assert.equal(got['era'], 'TODO');
    assert.equal(got.incidents[0]!.title, 'general protection fault in nfsd_file_lru_cb');
  }),
);

test('rewriting the current results of every case gives the file byte for byte', async () => {
  const logs = readdirSync(casesDir)
    .filter((f) => f.endsWith('.log'))
    .sort();
  assert.ok(logs.length >= 40);
  for (const c of logs) {
    const text = readFileSync(join(casesDir, c.replace(/\.log$/, '.expected.json')), 'utf8');
    const got = await analyzeText(renderCase(readFileSync(join(casesDir, c), 'utf8'), GOLDEN_FORMAT), c);
    assert.equal(rewriteExpected(text, got), text, `${c}: run LANTERN_UPDATE=1 npm test -- analyze and review the diff`);
  }
});

test('a rewrite of malformed JSON fails loudly rather than losing the provenance', () => {
  assert.throws(() => rewriteExpected('{"case": "x.log", "source": ', []), SyntaxError);
});
