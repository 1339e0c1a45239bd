#!/usr/bin/env node
// Runs every compiled *.test.js under dist/ with Node's own test runner.
// Usage: node scripts/run-tests.mjs [filter-substring ...]
// Node 20's --test takes no globs, so we list the files ourselves; test files of one
// capability run in one process each (--test spawns a child per file).
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';

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
// Test files that change the machine's global kernel state for a while (hung-task sysctls and a
// frozen file system; the audit subsystem's enabled flag, rules and daemon) run after the others,
// alone: a live-host test beside them (check, baseline) would see that state move under it.
const EXCLUSIVE = ['dist/record/hung/hung.test.js', 'dist/audit/live.test.js'];
const phases = [
  { files: chosen.filter((f) => !EXCLUSIVE.includes(f)), concurrency },
  { files: chosen.filter((f) => EXCLUSIVE.includes(f)), concurrency: '1' },
].filter((p) => p.files.length);
const totals = { pass: 0, fail: 0, skipped: 0 };
// A CI log is often read from its end only: the failures are listed again there, each with the
// first lines of what the runner said about it.
const failures = [];
const FAILURE_LINES = 30;
let status = 0;
for (const phase of phases) {
  const child = spawn(
    process.execPath,
    ['--enable-source-maps', '--test', `--test-concurrency=${phase.concurrency}`, `--test-timeout=${timeoutMs}`, ...(process.stdout.isTTY ? ['--test-reporter=spec'] : []), ...phase.files],
    {
      cwd: root,
      stdio: ['inherit', 'pipe', 'inherit'],
    },
  );
  // Passed through as it comes; the tail is kept for the runner's own summary, and every
  // failure's block (its name and the runner's YAML: error, location, stack) for the closing list.
  let tail = '';
  let pending = '';
  let block = null;
  child.stdout.on('data', (d) => {
    process.stdout.write(d);
    tail = (tail + d.toString()).slice(-4096);
    const lines = (pending + d.toString()).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (/^\s*not ok \d+/.test(line)) {
        block = { lines: [line.trim()] };
        failures.push(block);
      } else if (block && /^\s*(?:ok \d+|# Subtest:|1\.\.\d+)/.test(line)) block = null;
      else if (block && block.lines.length < FAILURE_LINES) block.lines.push(line);
    }
  });
  const code = await new Promise((res) => child.on('close', (c) => res(c)));
  // The summary (TAP "# pass N", spec "ℹ pass N"): added up over the phases.
  for (const k of Object.keys(totals)) {
    const m = new RegExp(`^(?:#|ℹ) ${k} (\\d+)$`, 'm').exec(tail);
    if (m) totals[k] += Number(m[1]);
  }
  if (code !== 0) status = code ?? 1;
}
if (failures.length) {
  console.log(`\n# ${failures.length} failed (a parent test that failed because a subtest did is listed too):`);
  for (const f of failures) console.log(f.lines.map((l) => `#   ${l}`).join('\n'));
}
if (phases.length > 1) console.log(`lantern: ${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped`);
process.exit(status);
