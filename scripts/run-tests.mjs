#!/usr/bin/env node
// Runs every compiled *.test.js under dist/ with Node's own test runner.
// Usage: node scripts/run-tests.mjs [filter-substring ...]
// Node 20's --test takes no globs, so we list the files ourselves; test files of one
// capability run in one process each (--test spawns a child per file).
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(relative(root, p));
  }
})(join(root, 'dist'));
const chosen = files.filter((f) => filters.length === 0 || filters.some((s) => f.includes(s))).sort();
if (chosen.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const concurrency = process.env.LANTERN_TEST_CONCURRENCY ?? '2';
// No test may hang the suite: on Node 20 this bounds each test file (10 min); past it the file fails, named.
const timeoutMs = process.env.LANTERN_TEST_TIMEOUT_MS ?? '600000';
const r = spawnSync(process.execPath, ['--enable-source-maps', '--test', `--test-concurrency=${concurrency}`, `--test-timeout=${timeoutMs}`, ...chosen], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
