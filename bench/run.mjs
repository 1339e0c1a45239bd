#!/usr/bin/env node
// `npm run bench [name ...]`: runs each benchmark under bench/<name>/run.mjs in turn.
// Benchmarks print figures side by side with a real alternative; they assert nothing.
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const here = new URL('.', import.meta.url).pathname;
const wanted = process.argv.slice(2);
const all = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(here, d.name, 'run.mjs')))
  .map((d) => d.name)
  .sort();
const chosen = wanted.length ? all.filter((n) => wanted.includes(n)) : all;
if (chosen.length === 0) {
  console.log(`no benchmarks${wanted.length ? ' named ' + wanted.join(', ') : ''}; available: ${all.join(', ') || '(none yet)'}`);
  process.exit(wanted.length ? 64 : 0);
}
let failed = 0;
for (const name of chosen) {
  console.log(`\n=== bench/${name} ===`);
  const r = spawnSync(process.execPath, [join(here, name, 'run.mjs')], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
