/**
 * A reader that closes the pipe early (`lantern check | true`, `lantern analyze … | head -1`): every
 * one-shot command stops quietly with 141 (docs/exit-codes.md), never a Node stack trace or exit 1.
 * The real compiled CLI, in real shell pipelines (bash, PIPESTATUS), and on a socket pair closed by
 * the parent (what node's child_process gives).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

const BIN = fileURLToPath(new URL('../../bin/lantern.js', import.meta.url));
const DATA = fileURLToPath(new URL('../../test/data/', import.meta.url));
const RHEL9 = join(DATA, 'check/rhel9');

const dir = mkdtempSync(join(tmpdir(), 'lantern-pipe-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A pipe whose reader is gone before lantern starts: `lantern ARGS | true` races `true`'s exit
 * against the first write (a loaded machine ran `true` late, the write fitted the pipe: exit 0).
 */
const CLOSED_PIPE = `import os, subprocess, sys
r, w = os.pipe(); os.close(r)
with open(os.environ['ERR'], 'w') as e: c = subprocess.call(sys.argv[1:], stdout=w, stderr=e)
print('rc=%d' % (128 - c if c < 0 else c))`;

/** Run `lantern ARGS | READER` in bash (READER `true`: a pipe already closed); the lantern side's exit status, its stderr, the reader's output. */
function piped(args: string[], reader: string): { code: number; err: string; out: string } {
  const errFile = join(dir, `err-${Math.random().toString(36).slice(2)}`);
  const script = reader === 'true' ? `exec python3 -c "$CLOSED_PIPE" "$NODE" "$BIN" "$@"` : `"$NODE" "$BIN" "$@" 2>"$ERR" | ${reader}; echo "rc=\${PIPESTATUS[0]}"`;
  const r = spawnSync('bash', ['-c', script, 'bash', ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', NODE: process.execPath, BIN, ERR: errFile, CLOSED_PIPE },
    timeout: 120_000,
  });
  const m = /rc=(\d+)\n$/.exec(r.stdout);
  assert.ok(m, `no exit status from bash: ${r.stdout} ${r.stderr}`);
  return { code: Number(m[1]), err: readFileSync(errFile, 'utf8'), out: r.stdout.slice(0, m.index) };
}

function assertQuietStop(r: { code: number; err: string }): void {
  assert.equal(r.err, '', 'nothing on stderr');
  assert.equal(r.code, 141);
}

test('--help and --version into a closed pipe: 141, no stack trace', () => {
  assertQuietStop(piped(['--help'], 'true'));
  assertQuietStop(piped(['--version'], 'true'));
  assertQuietStop(piped(['baseline', '--help'], 'true'));
});

test('check into a closed pipe: 141, not 1 (which would mean "warn")', () => {
  assertQuietStop(piped(['check', '--root', RHEL9], 'true'));
  assertQuietStop(piped(['check', '--root', RHEL9, '--json'], 'true'));
  assertQuietStop(piped(['check', '--no-commands'], 'true'));
});

test('analyze of a large log | head -1: the first line arrives, then 141', () => {
  const cases = join(DATA, 'analyze/cases');
  const logs = ['gpf_6.x.log', 'hung_task_6.x.log', 'kernel_bug_5.14.log', 'hard_lockup_4.18.log'].map((n) => readFileSync(join(cases, n), 'utf8')).join('');
  const big = join(dir, 'big.log');
  writeFileSync(big, logs.repeat(300));
  const r = piped(['analyze', big], 'head -1');
  assertQuietStop(r);
  assert.match(r.out, /^lantern analyze: 1 input, /);
  assertQuietStop(piped(['analyze', '--json', big], 'head -c1 >/dev/null'));
});

test('baseline list, show, diff and report into a closed pipe: 141', () => {
  const snap = join(dir, 'app02.json');
  assert.equal(spawnSync(process.execPath, [BIN, 'baseline', 'save', '--root', RHEL9, '--out', snap]).status, 0);
  assertQuietStop(piped(['baseline', 'list', '--dir', dir], 'true'));
  assertQuietStop(piped(['baseline', 'show', snap], 'true'));
  assertQuietStop(piped(['diff', snap, snap, '--json'], 'true'));
  assertQuietStop(piped(['report', '--snapshot', snap], 'true'));
  // The same through --out /dev/stdout (written to the descriptor itself, not through process.stdout).
  assertQuietStop(piped(['report', '--snapshot', snap, '--out', '/dev/stdout'], 'true'));
});

test('stdout a socket that the parent closes at once (node child_process): 141, nothing on stderr', async () => {
  const child = spawn(process.execPath, [BIN, 'check', '--root', RHEL9], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.destroy();
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  assert.equal(err, '');
  assert.equal(code, 141);
});

test('stdout on a full disk is not a closed pipe: one line and 74', () => {
  const r = spawnSync('bash', ['-c', '"$NODE" "$BIN" --help > /dev/full', 'bash'], { encoding: 'utf8', env: { ...process.env, NODE: process.execPath, BIN } });
  assert.equal(r.stderr, 'lantern: cannot write to stdout (ENOSPC)\n');
  assert.equal(r.status, 74);
});

test("a reader that takes everything: the command's own exit status is kept", () => {
  const r = piped(['check', '--root', RHEL9], 'cat >/dev/null');
  assert.equal(r.err, '');
  assert.notEqual(r.code, 141);
  assert.ok([0, 1, 2].includes(r.code));
});
