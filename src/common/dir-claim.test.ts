/**
 * One receiver per directory: the claim file, its takeover after a dead owner, what it leaves alone,
 * and two real `lantern netconsole listen` and `lantern console listen` on one directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Host } from '../host/host.js';
import { parsePidStat } from '../host/proctable.js';
import { claimDirectories, OWNER_FILE } from './dir-claim.js';
import { CliError, EXIT } from './exit.js';
import { procPid } from './proc-pid.js';
import { freeUdpPort, tempDir, waitFor } from './testenv.js';

const LANTERN = new URL('../../bin/lantern.js', import.meta.url).pathname;
const host = new Host();
const myStart = parsePidStat(readFileSync('/proc/self/stat', 'utf8'))!.startTicks;

function collect(): { log: (l: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { log: (l) => lines.push(l), lines };
}

/** A process that has exited: its pid no longer runs (or runs as another process with another start). */
function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(r.stdout.toString().trim());
}

test('dir-claim: the owner file names this process (pid and start time); --dir and --state-dir naming one directory are claimed once; release removes it', () => {
  const root = tempDir('claim-');
  const dir = join(root, 'out');
  const c = collect();
  const release = claimDirectories(
    [
      { dir, option: '--dir', mode: 0o750 },
      { dir: `${dir}/`, option: '--state-dir' },
    ],
    'lantern test',
    c.log,
    host,
  );
  const owner = JSON.parse(readFileSync(join(dir, OWNER_FILE), 'utf8'));
  assert.deepEqual(owner, { pid: procPid(), startTicks: myStart, command: 'lantern test' });
  assert.equal(lstatSync(dir).mode & 0o777, 0o750, 'a missing directory is made with the mode asked for');
  assert.deepEqual(c.lines, []);
  release();
  assert.equal(existsSync(join(dir, OWNER_FILE)), false);
  release(); // twice is harmless
});

test('dir-claim: a directory held by a running receiver is refused with exit 69 naming it, its pid and the option; claims already taken are released', () => {
  const root = tempDir('claim-');
  const free = join(root, 'free');
  const held = join(root, 'held');
  mkdirSync(held);
  // The holder: a live process (pid 1) with its real start time.
  const start1 = parsePidStat(readFileSync('/proc/1/stat', 'utf8'))!.startTicks;
  writeFileSync(join(held, OWNER_FILE), JSON.stringify({ pid: 1, startTicks: start1, command: 'lantern netconsole listen' }));
  const c = collect();
  assert.throws(
    () =>
      claimDirectories(
        [
          { dir: free, option: '--dir' },
          { dir: held, option: '--state-dir' },
        ],
        'lantern test',
        c.log,
        host,
      ),
    (e: unknown) =>
      e instanceof CliError &&
      e.exitCode === EXIT.UNAVAILABLE &&
      e.exitCode === 69 &&
      /in use by another receiver \(lantern netconsole listen, pid 1, .*\); give each receiver its own --state-dir/.test(e.message),
  );
  assert.equal(existsSync(join(free, OWNER_FILE)), false, 'the claim on the first directory was released');
  assert.equal(JSON.parse(readFileSync(join(held, OWNER_FILE), 'utf8')).pid, 1, "the holder's file is untouched");
});

test('dir-claim: a file left by a receiver that no longer runs (dead pid, a pid reused with another start, not JSON) is taken over and said once', () => {
  const root = tempDir('claim-');
  const cases: [string, string][] = [
    ['dead', JSON.stringify({ pid: deadPid(), startTicks: 1, command: 'lantern netconsole listen' })],
    ['reused', JSON.stringify({ pid: 1, startTicks: 1, command: 'lantern netconsole listen' })],
    ['garbage', 'not json\n'],
  ];
  for (const [name, text] of cases) {
    const dir = join(root, name);
    mkdirSync(dir);
    writeFileSync(join(dir, OWNER_FILE), text);
    const c = collect();
    const release = claimDirectories([{ dir, option: '--dir' }], 'lantern test', c.log, host);
    assert.equal(JSON.parse(readFileSync(join(dir, OWNER_FILE), 'utf8')).pid, procPid(), name);
    assert.equal(c.lines.length, 1, name);
    assert.match(c.lines[0]!, name === 'garbage' ? /unreadable or not Lantern's; taken over/ : /no longer runs; taken over/, name);
    release();
  }
});

test('dir-claim: a link, FIFO or directory planted at the owner file is neither followed nor replaced; the receiver starts without that claim and says so', () => {
  const root = tempDir('claim-');
  const target = join(root, 'target');
  writeFileSync(target, 'precious\n');
  const plants: [string, (p: string) => void][] = [
    ['link', (p) => symlinkSync(target, p)],
    ['dangling', (p) => symlinkSync(join(root, 'nowhere'), p)],
    ['fifo', (p) => assert.equal(spawnSync('mkfifo', [p]).status, 0)],
    ['dir', (p) => mkdirSync(p)],
  ];
  for (const [name, plant] of plants) {
    const dir = join(root, name);
    mkdirSync(dir);
    plant(join(dir, OWNER_FILE));
    const c = collect();
    const release = claimDirectories([{ dir, option: '--dir' }], 'lantern test', c.log, host);
    assert.equal(c.lines.length, 1, name);
    assert.match(c.lines[0]!, /not claimed .*stands where the receiver's owner file goes; not touched/, name);
    release();
    assert.equal(lstatSync(join(dir, OWNER_FILE)).isFile(), false, `${name} still stands`);
  }
  assert.equal(readFileSync(target, 'utf8'), 'precious\n');
  assert.equal(existsSync(join(root, 'nowhere')), false, 'a dangling link is not created through');
});

test("dir-claim: release leaves a successor's file alone (this receiver was declared dead and its directory taken over)", () => {
  const root = tempDir('claim-');
  const dir = join(root, 'd');
  const release = claimDirectories([{ dir, option: '--dir' }], 'lantern test', () => {}, host);
  const successor = JSON.stringify({ pid: 1, startTicks: 7, command: 'lantern netconsole listen' });
  writeFileSync(join(dir, OWNER_FILE), successor);
  release();
  assert.equal(readFileSync(join(dir, OWNER_FILE), 'utf8'), successor);
});

/** Start `lantern ARGS`: its exit code and stderr once it ends, stderr so far, and SIGTERM. */
function run(args: string[]): { done: Promise<{ code: number | null; stderr: string }>; stderr: () => string; term: () => void } {
  const p = spawn(process.execPath, [LANTERN, ...args], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr!.on('data', (d) => (stderr += d));
  const killer = setTimeout(() => p.kill('SIGKILL'), 30_000);
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    p.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stderr });
    }),
  );
  return { done, stderr: () => stderr, term: () => p.kill('SIGTERM') };
}

test('netconsole listen: a second receiver on the same --state-dir exits 69 naming the first; the first runs on and releases it at SIGTERM, and a receiver started after a SIGKILLed one takes over', async () => {
  const root = tempDir('claim-nc-');
  const state = join(root, 'state');
  const port = await freeUdpPort();
  const args = (out: string) => ['netconsole', 'listen', '-l', `127.0.0.1:${port}`, '-d', join(root, out), '--state-dir', state];
  const first = run(args('out1'));
  await waitFor('the first receiver to start', () => first.stderr().includes('writing '), 20_000, first.stderr);
  const second = await run(args('out2')).done;
  assert.equal(second.code, 69, second.stderr);
  assert.match(second.stderr, /in use by another receiver \(lantern netconsole listen, pid \d+, .*\.lantern-receiver\); give each receiver its own --state-dir \(state_dir =\)/);
  assert.equal(existsSync(join(root, 'out2', OWNER_FILE)), false, 'the refused receiver released its claim on its own --dir');
  first.term();
  assert.equal((await first.done).code, 0, first.stderr());
  assert.equal(existsSync(join(state, OWNER_FILE)), false, 'released at SIGTERM');
  // A receiver that dies without its exit path leaves the file; the next one takes over.
  const killed = spawn(process.execPath, [LANTERN, ...args('out1')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let kStderr = '';
  killed.stderr!.on('data', (d) => (kStderr += d));
  await waitFor(
    'the receiver to start',
    () => kStderr.includes('writing '),
    20_000,
    () => kStderr,
  );
  killed.kill('SIGKILL');
  await new Promise((r) => killed.on('exit', r));
  assert.equal(existsSync(join(state, OWNER_FILE)), true);
  const next = run(args('out1'));
  await waitFor('the next receiver to start', () => next.stderr().includes('writing '), 20_000, next.stderr);
  assert.match(next.stderr(), new RegExp(`state: the receiver that held it \\(pid ${killed.pid}\\) no longer runs; taken over`));
  next.term();
  assert.equal((await next.done).code, 0, next.stderr());
});

test('console listen: a second receiver on the same output dir exits 69 naming dir =', async () => {
  const root = tempDir('claim-con-');
  const out = join(root, 'out');
  const logFile = join(root, 'console.log');
  writeFileSync(logFile, '');
  const args = (state: string) => ['console', 'listen', '--source', `file:${logFile}`, '-d', out, '--state-dir', join(root, state)];
  const first = run(args('s1'));
  await waitFor('the first console receiver to start', () => first.stderr().includes('writing '), 20_000, first.stderr);
  const second = await run(args('s2')).done;
  assert.equal(second.code, 69, second.stderr);
  assert.match(second.stderr, /in use by another receiver \(lantern console listen, pid \d+, .*\); give each receiver its own --dir \(dir =\)/);
  first.term();
  assert.equal((await first.done).code, 0, first.stderr());
});
