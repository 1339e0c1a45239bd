/**
 * docs/check.md follows the code: its CHECKS table lists exactly the ids in `CHECKS` (one row
 * each), its PROFILES table names every check, and the DESCRIPTION's "Runs N checks" is the count.
 * A new check without a docs row, or a row left behind by a removed or renamed check, fails here
 * with the ids named.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CHECKS } from './checks/index.js';

// From dist/check/, this is the source tree's docs/ (not a copy under dist/).
const DOC = readFileSync(new URL('../../docs/check.md', import.meta.url), 'utf8');
const IDS = CHECKS.map((c) => c.id);

/** The lines of the `## NAME` section, up to the next `## ` heading. */
function section(name: string): string[] {
  const lines = DOC.split('\n');
  const start = lines.indexOf(`## ${name}`);
  assert.ok(start >= 0, `docs/check.md has no "## ${name}" section`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => l.startsWith('## '));
  return end < 0 ? rest : rest.slice(0, end);
}

/** The first cells of the body rows of the section's table whose header starts with `| first |`. */
function firstCells(name: string, first: string): string[] {
  const lines = section(name);
  const head = lines.findIndex((l) => l.startsWith(`| ${first} |`));
  assert.ok(head >= 0, `docs/check.md "## ${name}" has no table starting "| ${first} |"`);
  const cells: string[] = [];
  for (const l of lines.slice(head + 2)) {
    if (!l.startsWith('|')) break;
    cells.push(l.split('|')[1]!.trim());
  }
  return cells;
}

/** Every `backticked` name in a cell. */
function ticked(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}

function missingAndExtra(documented: string[], known: string[]): { missing: string[]; extra: string[] } {
  return { missing: known.filter((id) => !documented.includes(id)), extra: documented.filter((id) => !known.includes(id)) };
}

test('docs/check.md: the CHECKS table has one row per check id, and no other', () => {
  const cells = firstCells('CHECKS', 'id');
  for (const c of cells) assert.match(c, /^`[^`]+`$/, `CHECKS row whose first cell is not one \`id\`: ${c}`);
  const documented = cells.map((c) => c.slice(1, -1));
  const twice = documented.filter((id, i) => documented.indexOf(id) !== i);
  const { missing, extra } = missingAndExtra(documented, IDS);
  assert.deepEqual({ missing, extra, twice }, { missing: [], extra: [], twice: [] }, 'docs/check.md CHECKS table vs CHECKS');
});

test('docs/check.md: the PROFILES table names every check id (and otherwise only the waivers pseudo-id)', () => {
  const documented = firstCells('PROFILES', 'check').flatMap(ticked);
  const { missing, extra } = missingAndExtra(documented, [...IDS, 'waivers']);
  assert.deepEqual({ missing: missing.filter((id) => id !== 'waivers'), extra }, { missing: [], extra: [] }, 'docs/check.md PROFILES table vs CHECKS');
});

test('docs/check.md: the DESCRIPTION says how many checks run', () => {
  const m = /Runs (\d+) checks/.exec(section('DESCRIPTION').join('\n'));
  assert.ok(m, 'docs/check.md DESCRIPTION has no "Runs N checks"');
  assert.equal(Number(m[1]), IDS.length);
});
