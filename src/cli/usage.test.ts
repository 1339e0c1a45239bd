/**
 * Usage conventions of the real CLI (docs/exit-codes.md): an unknown command is named with 64 even
 * with --help; a command group without its subcommand prints its help on stdout with 0; a command
 * that reads stdin says so when stdin is a terminal (a real pty from util-linux `script`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { facilitySkip } from '../common/testenv.js';

const BIN = fileURLToPath(new URL('../../bin/lantern.js', import.meta.url));

function lantern(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000, input: input ?? '' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('an unknown command is named, with 64, also with --help', () => {
  for (const args of [['nosuch'], ['nosuch', '--help'], ['--help', 'nosuch'], ['nosuch', '-h']]) {
    const r = lantern(args);
    assert.equal(r.code, 64, args.join(' '));
    assert.equal(r.out, '', 'no help on stdout for a typo');
    assert.match(r.err, /^lantern: unknown command 'nosuch' \(commands: check, .*baseline.*; see lantern --help\)\n$/);
  }
  const b = lantern(['baseline', 'nosuch', '--help']);
  assert.equal(b.code, 64);
  assert.match(b.err, /^lantern: unknown command 'nosuch' for 'lantern baseline' \(commands: save, list, prune, show; see lantern baseline --help\)\n$/);
  const n = lantern(['netconsole', 'lisen']);
  assert.equal(n.code, 64);
  assert.match(n.err, /unknown command 'lisen' for 'lantern netconsole' \(commands: listen, stats/);
  const c = lantern(['console', 'lisen']);
  assert.equal(c.code, 64);
  assert.match(c.err, /unknown command 'lisen' for 'lantern console' \(commands: listen, stats; see lantern console --help\)/);
});

test('a group without its subcommand: help on stdout, exit 0 (so `lantern | less` shows it)', () => {
  for (const args of [[], ['baseline'], ['netconsole'], ['console'], ['history']]) {
    const r = lantern(args);
    assert.equal(r.code, 0, args.join(' '));
    assert.equal(r.err, '');
    assert.match(r.out, new RegExp(`^Usage: lantern${args.length ? ' ' + args[0] : ''} \\[options\\] \\[command\\]\\n`));
    assert.match(r.out, /Commands:/);
  }
  // Still as before: --help, help CMD, a real subcommand's --help, a command with an action of its own.
  assert.equal(lantern(['--help']).code, 0);
  assert.match(lantern(['help', 'check']).out, /^Usage: lantern check \[options\]/);
  assert.match(lantern(['baseline', 'save', '--help']).out, /^Usage: lantern baseline save/);
  const opt = lantern(['--bogus']);
  assert.equal(opt.code, 64, 'an unknown option stays a usage error');
});

const noScript = existsSync('/usr/bin/script') ? undefined : 'util-linux script(1) not installed (needed for a real terminal)';

test('analyze with no path on a terminal says that it reads stdin; not when piped or given -', { skip: facilitySkip(noScript) }, () => {
  // script(1) runs lantern on a pty: stdin is a terminal; the Ctrl-D we type ends the input.
  const cmd = `"${process.execPath}" "${BIN}" analyze`;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', input: '\x04', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /lantern analyze: reading kernel log lines from standard input \(end with Ctrl-D\); name files instead, or pipe: journalctl -k -o short-precise \| lantern analyze -\r?\n/);
  assert.match(r.stdout, /no incidents found/, 'then it reads stdin as before');
  const dash = spawnSync('script', ['-qec', `${cmd} -`, '/dev/null'], { encoding: 'utf8', input: '\x04', timeout: 60_000 });
  assert.doesNotMatch(dash.stdout, /reading kernel log lines/, '`-` names stdin on purpose');
  const piped = lantern(['analyze'], '[    1.000000] Linux version 6.1.0\n');
  assert.equal(piped.code, 0);
  assert.equal(piped.err, '', 'no hint when stdin is a pipe');
});

test('access: no store is 66, a store without access lists 65, an unknown backend 64 before anything starts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-usage-'));
  try {
    const missing = lantern(['access', '--store', join(dir, 'none.db')]);
    assert.equal(missing.code, 66);
    assert.match(missing.err, /^lantern: no record store at .*none\.db/);
    assert.equal(lantern(['access', 'who-uses', '/etc/passwd', '--store', join(dir, 'none.db')]).code, 66, 'a subcommand takes --store after its name');
    const bad = lantern(['record', '--store', join(dir, 'r.db'), '--access-backend', 'nosuch']);
    assert.equal(bad.code, 64);
    assert.match(bad.err, /unknown access backend nosuch \(one of: auto, fanotify, syscalls/);
    assert.equal(existsSync(join(dir, 'r.db')), false, 'nothing was created');
    assert.match(lantern(['access', '--help']).out, /^Usage: lantern access \[options\] \[command\] \[domain-pattern\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('diff before any baseline save says what to do (66)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-usage-'));
  try {
    const missing = join(dir, 'baselines');
    const r = lantern(['diff', missing]);
    assert.equal(r.code, 66);
    assert.equal(r.err, `lantern: ${missing}: does not exist: no baseline saved yet? Save one first with: lantern baseline save\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('top-io: listed in lantern --help, its own --help on stdout with 0, a bad --by or --since is 64', () => {
  assert.match(lantern(['--help']).out, /\n  top-io \[options\] +programs \(or domains\) ranked by the disk\s/);
  const h = lantern(['top-io', '--help']);
  assert.equal(h.code, 0);
  assert.match(h.out, /^Usage: lantern top-io \[options\]\n/);
  for (const o of ['--store <path>', '--since <time>', '--until <time>', '--by <what>', '--limit <n>', '--json']) assert.ok(h.out.includes(o), o);
  const by = lantern(['top-io', '--by', 'uid']);
  assert.equal(by.code, 64);
  assert.match(by.err, /bad --by "uid": program or domain/);
  const since = lantern(['top-io', '--since', 'yesterday', '--store', '/nonexistent.db']);
  assert.equal(since.code, 64);
  assert.match(lantern(['record', '--help']).out, /--no-io +turn the I\/O-at-exit detector \(taskstats/);
});

test('who-sends: a bad target is one line and 64 before anything is attached; --help names the forms and codes', () => {
  const bad = lantern(['who-sends', 'udp', '1.2.3:53']);
  assert.equal(bad.code, 64);
  assert.equal(bad.out, '');
  assert.equal(bad.err, 'lantern: who-sends: "1.2.3:53": not an IPv4 or IPv6 address: "1.2.3" (use ADDR:PORT, [V6ADDR]:PORT, an address or a port, e.g. 127.0.0.1:53, [::1]:53, 53)\n');
  assert.equal(lantern(['who-sends', 'udp']).code, 64, 'the target is required');
  const help = lantern(['who-sends', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /^Usage: lantern who-sends \[options\] <protocol> <target>\n/);
  assert.match(help.out, /Exit codes: 0 done .*64 bad/s);
  assert.match(lantern(['--help']).out, /who-sends/);
});
