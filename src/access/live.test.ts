/**
 * Access lists on the real kernel: the recorder with --access (fanotify + the syscalls backend)
 * watches a known static program (test/data/access/acc.c) do known file operations, with
 * relative and absolute paths, after chdir and in a chroot, fail with EACCES as nobody and with
 * ETXTBSY, and flood past the per-domain limit; then `lantern access`, files-of, who-uses and
 * --failed are asserted. A SIGKILLed recorder must leave no bpftrace and no fanotify group behind.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { facilitySkip, tempDir } from '../common/testenv.js';
import { findBpftrace } from '../common/bpftrace.js';
import { exited, liveSkipReason, sleep, uniqueName, waitFor } from '../record/live.testutil.js';
import { loadFanotify } from './fanotify.js';

const BIN = fileURLToPath(new URL('../../bin/lantern.js', import.meta.url));
const SRC = fileURLToPath(new URL('../../test/data/access/acc.c', import.meta.url));

function missing(): string | undefined {
  const live = liveSkipReason();
  if (live) return live;
  const fan = loadFanotify();
  if ('error' in fan) return fan.error;
  const bt = findBpftrace();
  if ('missing' in bt) return bt.missing;
  if (!existsSync('/usr/bin/gcc') && !existsSync('/usr/bin/cc')) return 'gcc is not installed (builds the test program)';
  return undefined;
}
const skip = facilitySkip(missing());

function lantern(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

interface Running {
  child: ChildProcess;
  out: () => string;
  err: () => string;
}

async function startRecorder(store: string, extra: string[], env: NodeJS.ProcessEnv = process.env): Promise<Running> {
  const child = spawn(process.execPath, [BIN, 'record', '--store', store, '--name', uniqueName('acc'), '--no-hung', '--no-slab', '--poll-ms', '100', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  await waitFor(() => /recording into/.test(err) || child.exitCode !== null, 60_000, 'the recorder to start');
  assert.match(err, /recording into/, err);
  return { child, out: () => out, err: () => err };
}

function run(cmd: string, args: string[]): void {
  // A small known environment: its names are the `misc env` lines of the program's domain.
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000, env: { PATH: '/usr/bin:/bin', LANTERN_ACCESS_TEST: '1' } });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

/** Pids holding a fanotify group (an fd on anon_inode:[fanotify]). */
function fanotifyHolders(): Set<number> {
  const out = new Set<number>();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${p}/fd/${fd}`) === 'anon_inode:[fanotify]') out.add(Number(p));
      } catch {
        /* closed meanwhile */
      }
    }
  }
  return out;
}

/** Whether process `pid` runs with `entry` (NAME=value) in its environment (inherited from its ancestors). */
function hasEnv(pid: number, entry: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(entry);
  } catch {
    return false; // gone
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = spawnSync('cat', [`/proc/${p}/stat`], { encoding: 'utf8' }).stdout;
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

test('access lists: known programs, relative/absolute/chroot paths, EACCES and ETXTBSY, a bounded flood; files-of, who-uses, --failed', { skip, timeout: 240_000 }, async () => {
  const dir = tempDir('lantern-access-');
  chmodSync(dir, 0o755); // nobody must reach the mode-000 file's directory
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const acc = join(bin, 'acc');
  run('gcc', ['-static', '-O1', '-o', acc, SRC]);
  const flood = join(bin, 'flood');
  copyFileSync(acc, flood);
  chmodSync(flood, 0o755);
  const work = join(dir, 'work');
  mkdirSync(work);
  const jail = join(dir, 'jail');
  mkdirSync(jail);
  const floodDir = join(dir, 'flood');
  mkdirSync(floodDir);
  const secret = join(dir, 'secret.conf');
  writeFileSync(secret, 'x\n');
  chmodSync(secret, 0o000);
  const cfg = join(dir, 'record.toml');
  writeFileSync(cfg, '[access]\nenabled = true\nper_domain = 40\ngetattr = true\n');
  const store = join(dir, 'r.db');

  const rec = await startRecorder(store, ['--config', cfg, '--access-log']);
  assert.match(rec.err(), /access backend fanotify running/);
  assert.match(rec.err(), /access backend syscalls running/);
  // Its relative paths are resolved against /proc/<pid>/cwd when the recorder reads the line: the
  // program stays until the recorder has logged each of them.
  const ops = spawn(acc, ['ops', work, 'hold'], { stdio: ['pipe', 'ignore', 'pipe'], env: { PATH: '/usr/bin:/bin', LANTERN_ACCESS_TEST: '1' } });
  for (const op of ['chmod', 'rename', 'truncate', 'getattr']) {
    const logged = new RegExp(`\\] ${op} .* by acc\\(${ops.pid}\\)`);
    await waitFor(() => logged.test(rec.out()) || ops.exitCode !== null, 30_000, `the recorder to log the ${op} of acc ops`);
  }
  ops.stdin!.end();
  assert.equal((await exited(ops)).code, 0, 'acc ops');
  run(acc, ['chroot', jail]);
  run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', acc, 'eacces', secret]);
  run(acc, ['etxtbsy', flood]);
  run(flood, ['flood', floodDir, '200']);
  // A shell that execs acc in its own process: the execute is the shell image's. A copy of the shell
  // under this test's own name, so its domain is this test's alone and small (setpriv's, node's and
  // /bin/sh's, shared with every other test's shells, pass the per-domain limit of 40 first).
  const launch = join(bin, 'launch');
  copyFileSync(realpathSync('/bin/sh'), launch);
  chmodSync(launch, 0o755);
  mkdirSync(join(dir, 'none'));
  run(launch, ['-c', `exec ${acc} flood ${join(dir, 'none')} 0`]);
  await sleep(1500);
  rec.child.kill('SIGINT');
  const end = await exited(rec.child);
  assert.equal(end.code, 0, rec.err());
  assert.match(rec.err(), /instance removed/);
  // --access-log: one line per new access in the talk's form, and the per-domain summary at exit.
  assert.match(rec.out(), new RegExp(`^\\[\\w{3} \\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d \\d{4}\\] append ${work}/app by acc\\(\\d+\\) .*${acc}$`, 'm'));
  assert.match(rec.out(), /^domain: <kernel> .*\/acc$/m);
  // ... and the account of what arrived, with each backend's own counters.
  assert.match(rec.out(), /^account: fanotify: running; lost \d+/m);
  assert.match(rec.out(), /^ +\d+ accesses received: \d+ attributed/m);
  assert.match(rec.out(), /fanotify\.records \d+/);

  const lists = JSON.parse(lantern(['access', '--store', store, '--json', `*${acc}`]).out) as Array<{ domain: string; overflow: number; accesses: Array<{ line: string; count: number }> }>;
  const lines = new Set(lists.flatMap((d) => d.accesses.map((a) => a.line)));
  for (const want of [
    `file create ${work}/rel 0640`, // fanotify's create, with the mode the file has when read
    `file write ${work}/rel`,
    `file truncate ${work}/rel`, // O_TRUNC, from the syscalls backend
    `file read ${work}/rel`, // a relative open after chdir, resolved by the kernel
    `file append ${work}/app`, // O_APPEND
    `file chmod ${work}/rel 0600`, // relative chmod, resolved against /proc/<pid>/cwd
    `file rename ${work}/rel ${work}/ren`,
    `file truncate ${work}/ren`,
    `file unlink ${work}/ren`,
    `file mkdir ${work}/sub 0750`,
    `file create ${jail}/inroot 0640`, // inside the chroot: the real path
    `file write ${jail}/rel2`,
    `file getattr ${work}/rel`, // [access] getattr = true: a relative stat after chdir
  ]) {
    assert.ok(lines.has(want), `missing ${want}; have:\n${[...lines].sort().join('\n')}`);
  }
  assert.ok(lines.has('misc env LANTERN_ACCESS_TEST') && lines.has('misc env PATH'), 'env names of the exec');
  // `file execute` is the caller's, as in TOMOYO: the shell's domain executed acc; acc's own lists do not say it.
  assert.ok(!lines.has(`file execute ${acc}`), "the execute is not in the started image's domain");
  const shell = JSON.parse(lantern(['access', '--store', store, '--json', `*${launch}`]).out) as typeof lists;
  assert.ok(
    shell.some((d) => d.accesses.some((a) => a.line === `file execute ${acc}`)),
    `file execute ${acc} in the shell's domains: ${JSON.stringify(shell.map((d) => [d.domain.slice(-80), d.accesses.length, d.overflow]))}`,
  );

  const failed = JSON.parse(lantern(['access', '--store', store, '--json', '--failed', `*${acc}`]).out) as Array<{
    domain: string;
    accesses: Array<{ line: string; errno: string; count: number; first: string; last: string }>;
  }>;
  const f = failed.flatMap((d) => d.accesses.map((a) => `${a.line} ${a.errno}`));
  assert.ok(f.includes(`file read ${secret} EACCES`), f.join('\n'));
  assert.ok(f.includes(`file execute ${flood} ETXTBSY`), f.join('\n'));
  const text = lantern(['access', '--store', store, '--failed', `*setpriv ${acc}`]);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, new RegExp(`^<kernel> .*/setpriv ${acc}\\n\\n +1: file read ${secret} EACCES  \\(1×, first \\d{4}-\\d\\d-\\d\\dT[\\d:]+Z, last `, 'm'));

  // The flood: bounded, and what did not fit is counted.
  const fl = JSON.parse(lantern(['access', '--store', store, '--json', `*${flood}`]).out) as typeof lists;
  const floodDomain = fl.find((d) => d.domain.endsWith(` ${flood}`));
  assert.ok(floodDomain, JSON.stringify(fl.map((d) => d.domain)));
  assert.ok(floodDomain.accesses.length <= 40, `${floodDomain.accesses.length} lines`);
  assert.ok(floodDomain.overflow >= 400 - 40, `overflow ${floodDomain.overflow}`);
  const shown = lantern(['access', '--store', store, `*${flood}`]).out;
  assert.match(shown, /accesses did not fit in the per-domain limit/);

  const filesOf = JSON.parse(lantern(['access', 'files-of', acc, '--store', store, '--json']).out) as { byOp: Record<string, string[]> };
  assert.ok(filesOf.byOp.append?.includes(`${work}/app`), JSON.stringify(filesOf.byOp));
  assert.ok(filesOf.byOp.read?.includes(`${work}/rel`));
  const byName = lantern(['access', 'files-of', 'acc', '--store', store]);
  assert.equal(byName.code, 0);
  assert.match(byName.out, new RegExp(`^append:\\n  ${work}/app$`, 'm'));

  const who = JSON.parse(lantern(['access', 'who-uses', `${work}/rel`, '--store', store, '--json']).out) as Array<{ domain: string; line: string }>;
  assert.ok(
    who.some((r) => r.line === `file read ${work}/rel` && r.domain.endsWith(acc)),
    JSON.stringify(who),
  );
  const glob = JSON.parse(lantern(['access', 'who-uses', `${secret.slice(0, -5)}*`, '--store', store, '--json']).out) as Array<{ errno?: string }>;
  assert.ok(glob.some((r) => r.errno === 'EACCES'));

  const stRun = lantern(['record', 'status', '--store', store, '--json']);
  assert.equal(stRun.code, 0, stRun.err);
  const st = JSON.parse(stRun.out) as { access: { received: number; attributed: number; waiting: number; queueDropped: number; overflow: number } };
  assert.equal(st.access.received, st.access.attributed + st.access.waiting + st.access.queueDropped, 'access counters add up');
  const status = lantern(['record', 'status', '--store', store]).out;
  assert.match(status, /^access {5}fanotify: running; lost 0; cannot see: /m);
});

test('access: a SIGKILLed recorder leaves no bpftrace and no fanotify group; the next start goes on with the lists', { skip, timeout: 180_000 }, async () => {
  const dir = tempDir('lantern-access-kill-');
  const store = join(dir, 'r.db');
  const before = fanotifyHolders();
  // Every process the recorder starts inherits this mark: a fanotify group held by a process
  // without it belongs to another test's recorder running beside this one, not to a leak.
  const mark = `LANTERN_TEST_MARK=${uniqueName('fan')}`;
  const rec = await startRecorder(store, ['--access'], { ...process.env, [mark.split('=')[0]!]: mark.slice(mark.indexOf('=') + 1) });
  await waitFor(() => /access backend syscalls running/.test(rec.err()), 30_000, 'bpftrace');
  const helpers = childrenOf(rec.child.pid!);
  assert.ok(helpers.length >= 1, 'bpftrace runs as a child');
  assert.ok(fanotifyHolders().has(rec.child.pid!), 'the recorder holds a fanotify group');
  writeFileSync(join(dir, 'seen'), 'x');
  await sleep(800);
  rec.child.kill('SIGKILL');
  await exited(rec.child);
  await waitFor(() => helpers.every((p) => !existsSync(`/proc/${p}`)), 10_000, 'bpftrace to die with its parent');
  const after = fanotifyHolders();
  for (const p of after) assert.ok(before.has(p) || !hasEnv(p, mark), `pid ${p}, started by the killed recorder, holds a fanotify group`);
  const instance = /\(instance (\S+),/.exec(rec.err())?.[1];
  assert.ok(instance, rec.err());
  const again = await startRecorder(store, ['--access']);
  try {
    // The killed recorder's tracefs instance is gone (removed by this start, or by another recorder
    // of a test running beside this one: any start removes the instances of dead recorders).
    assert.ok(!existsSync(instance), `${instance} was left behind: ${again.err()}`);
    await sleep(500);
  } finally {
    // Never left running: its fanotify group would go on watching every local filesystem.
    again.child.kill('SIGTERM');
  }
  assert.equal((await exited(again.child)).code, 0, again.err());
  const r = lantern(['access', '--store', store]);
  assert.equal(r.code, 0, r.err);
});
