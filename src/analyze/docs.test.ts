/**
 * docs/analyze.md follows the code: its Incidents table (`| kind | starts at | title … |`) has a
 * row for every kind in INCIDENT_KINDS and names no kind the analyser does not know. A new kind
 * without a docs row, or a row left behind by a renamed kind, fails here with the kinds named.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { INCIDENT_KINDS } from './model.js';

// From dist/analyze/, this is the source tree's docs/ (not a copy under dist/).
const DOC = readFileSync(new URL('../../docs/analyze.md', import.meta.url), 'utf8');

/**
 * The kinds each row of the Incidents table names: the `backticked` names of its first cell
 * before any parenthesis (`` `oops`/`warning` (usercopy) `` names oops and warning).
 */
function documentedKinds(): string[] {
  const lines = DOC.split('\n');
  const section = lines.indexOf('### Incidents');
  assert.ok(section >= 0, 'docs/analyze.md has no "### Incidents" section');
  const head = lines.findIndex((l, i) => i > section && l.startsWith('| kind |'));
  assert.ok(head >= 0, 'docs/analyze.md "### Incidents" has no table starting "| kind |"');
  const kinds: string[] = [];
  for (const l of lines.slice(head + 2)) {
    if (!l.startsWith('|')) break;
    const cell = l.split('|')[1]!.split('(')[0]!;
    const named = [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    assert.ok(named.length > 0, `Incidents row naming no \`kind\`: ${l.slice(0, 80)}`);
    kinds.push(...named);
  }
  return kinds;
}

test('docs/analyze.md: the Incidents table has a row for every incident kind, and names no other', () => {
  const documented = documentedKinds();
  const known: readonly string[] = INCIDENT_KINDS;
  const missing = known.filter((k) => !documented.includes(k));
  const extra = [...new Set(documented.filter((k) => !known.includes(k)))];
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, 'docs/analyze.md Incidents table vs INCIDENT_KINDS');
});
