/**
 * A tty line left as found after a SIGKILL, on a real pty pair (socat): the settings found are on
 * disk before the line is changed, a receiver killed with the line configured leaves them there,
 * and the next start puts them back before taking the line again (said once on stderr); a clean
 * exit removes the state. The line is read with `stty -F DEV -g` (every flag and control
 * character, not only what the addon's query reports). A link or garbage at the state file's name
 * is never followed nor used.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, constants as fsc, existsSync, lstatSync, mkdirSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { facilitySkip, tempDir } from '../common/testenv.js';
import { loadTermios, type Termios } from './termios.js';
import { parseTtyState, TTY_STATE_FILE } from './tty-state.js';
import { Rx, Socat, noSocat, waitFor } from './test-helpers.js';

const loaded = loadTermios();
const termios: Termios | null = 'mod' in loaded ? loaded.mod : null;
const noTermios = 'error' in loaded ? loaded.error : undefined;

/** Every setting of the line, as stty prints them for `stty DEV SETTINGS` to set again. */
function stty(path: string): string {
  const r = spawnSync('stty', ['-F', path, '-g'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

/** A socat pty pair: the host end raw (our "serial cable"), the guest end as a pty starts (cooked, 38400). */
async function ptyPair(root: string): Promise<{ socat: Socat; host: string; guest: string }> {
  const host = join(root, 'host');
  const guest = join(root, 'guest');
  const socat = new Socat([`pty,raw,echo=0,link=${host}`, `pty,link=${guest}`]);
  await waitFor(
    'the pty pair',
    () => existsSync(guest) && /starting data transfer loop/.test(socat.stderr),
    10_000,
    () => socat.stderr,
  );
  return { socat, host, guest };
}

const stateOf = (rx: Rx) => {
  const p = parseTtyState(readFileSync(join(rx.state, TTY_STATE_FILE), 'utf8'));
  assert.ok(p.ok, JSON.stringify(p));
  return p.doc;
};
const putBackMessages = (stderr: string) => stderr.split('\n').filter((l) => /tty settings left by receiver/.test(l));

/** A start after a SIGKILL: stats.json of the killed one must not pass for the new one's. */
async function restart(rx: Rx, toml: string): Promise<void> {
  rmSync(join(rx.state, 'stats.json'), { force: true });
  rx.stderr = '';
  await rx.start(toml);
}

test(
  'tty state: SIGKILLed with the line configured, the next start puts back the settings found, says so once; a clean exit removes the state',
  { skip: facilitySkip(noSocat ?? noTermios) },
  async () => {
    const root = tempDir('console-ttystate-');
    const { socat, guest } = await ptyPair(root);
    const rx = new Rx(root);
    const ttySource = `[source.ttyS1]\ntype = "tty"\npath = "${guest}"\nbaud = 9600\nframing = "8N2"\n`;
    try {
      const original = stty(guest);
      assert.match(original, /:/);
      await rx.start(ttySource);
      const configured = stty(guest);
      assert.notEqual(configured, original);
      // The settings found are on disk while the line is Lantern's.
      const first = stateOf(rx);
      assert.equal(first.pid, rx.proc.pid);
      assert.deepEqual(
        first.lines.map((l) => [l.source, l.path, l.rdev]),
        [['ttyS1', guest, statSync(guest).rdev]],
      );
      assert.equal(lstatSync(join(rx.state, TTY_STATE_FILE)).mode & 0o777, 0o600);

      rx.proc.kill('SIGKILL');
      assert.deepEqual(await rx.exit, { code: null, signal: 'SIGKILL' });
      assert.equal(stty(guest), configured, 'a SIGKILL leaves the line as Lantern set it');
      assert.equal(stateOf(rx).lines.length, 1, 'and its record of what was there');

      // Started again on the same line: the original goes back first, so what is kept is the
      // original again (not Lantern's own settings), and the line is configured once more.
      await restart(rx, ttySource);
      const msgs = putBackMessages(rx.stderr);
      assert.equal(msgs.length, 1, rx.stderr);
      assert.match(
        msgs[0]!,
        new RegExp(
          `^lantern console: tty settings left by receiver pid ${first.pid}, which stopped without restoring them \\(SIGKILL or crash\\): put back the settings found on ${guest} \\(source ttyS1\\)$`,
        ),
      );
      const second = stateOf(rx);
      assert.equal(second.lines[0]!.termios, first.lines[0]!.termios, 'the original is kept, not what the killed receiver had set');
      assert.equal(stty(guest), configured);
      rx.proc.kill('SIGKILL');
      await rx.exit;

      // Started without the tty source (the configuration changed): the line is still put back.
      const log = join(root, 'guest.log');
      writeFileSync(log, '');
      await restart(rx, `[source.vm3]\ntype = "file"\npath = "${log}"\n`);
      assert.equal(putBackMessages(rx.stderr).length, 1, rx.stderr);
      assert.equal(stty(guest), original, 'the line has its own settings again');
      assert.equal(existsSync(join(rx.state, TTY_STATE_FILE)), false, 'nothing left to undo: no state');
      assert.deepEqual(await rx.stop(), { code: 0, signal: null }, rx.stderr);

      // A clean run on the line: the state is there while it runs, gone after, the line as found.
      await restart(rx, ttySource);
      assert.equal(putBackMessages(rx.stderr).length, 0, rx.stderr);
      assert.ok(existsSync(join(rx.state, TTY_STATE_FILE)));
      assert.deepEqual(await rx.stop(), { code: 0, signal: null }, rx.stderr);
      assert.equal(existsSync(join(rx.state, TTY_STATE_FILE)), false);
      assert.equal(stty(guest), original);
    } finally {
      rx.kill();
      socat.kill();
    }
  },
);

/** A state document for the line with the settings it has at `baud` (made with the addon, then undone). */
function docAt(guest: string, baud: number, rdev = statSync(guest).rdev): string {
  const fd = openSync(guest, fsc.O_RDWR | fsc.O_NOCTTY | fsc.O_NONBLOCK);
  try {
    const before = termios!.configure(fd, baud, 8, 'none', 1);
    const at = termios!.current(fd);
    termios!.restore(fd, before);
    return JSON.stringify({ version: 1, pid: 1, lines: [{ source: 'x', path: guest, rdev, termios: at.toString('hex'), savedAt: new Date().toISOString() }] });
  } finally {
    closeSync(fd);
  }
}

test('tty state: a symbolic link at the state file is not followed, not read, not written through', { skip: facilitySkip(noSocat ?? noTermios) }, async () => {
  const root = tempDir('console-ttystate-link-');
  const { socat, guest } = await ptyPair(root);
  const rx = new Rx(root);
  try {
    const original = stty(guest);
    // The link's target holds a valid document that would put the line at 1200 baud.
    const target = join(root, 'elsewhere.json');
    const planted = docAt(guest, 1200);
    writeFileSync(target, planted);
    mkdirSync(rx.state, { recursive: true });
    const state = join(rx.state, TTY_STATE_FILE);
    symlinkSync(target, state);
    await rx.start(`[source.ttyS1]\ntype = "tty"\npath = "${guest}"\nbaud = 9600\n`);
    assert.match(
      rx.stderr,
      new RegExp(`lantern console: ${state}: is a symbolic link \\(not followed\\): not read nor replaced; no tty settings are restored from it, and none are kept for a crash until it is removed\\n`),
    );
    assert.equal(putBackMessages(rx.stderr).length, 0, 'nothing put back from the link');
    assert.deepEqual(await rx.stop(), { code: 0, signal: null }, rx.stderr);
    assert.ok(lstatSync(state).isSymbolicLink(), 'the link is left as it was');
    assert.equal(readFileSync(target, 'utf8'), planted, 'its target is untouched');
    assert.equal(stty(guest), original, 'the line as found (the link was never used)');
  } finally {
    rx.kill();
    socat.kill();
  }
});

test('tty state: garbage, or an entry whose path names another device, is said and not used; garbage is replaced', { skip: facilitySkip(noSocat ?? noTermios) }, async () => {
  const root = tempDir('console-ttystate-junk-');
  const { socat, guest } = await ptyPair(root);
  const rx = new Rx(root);
  const state = join(rx.state, TTY_STATE_FILE);
  const log = join(root, 'guest.log');
  writeFileSync(log, '');
  try {
    const original = stty(guest);
    mkdirSync(rx.state, { recursive: true });
    writeFileSync(state, '{"version":1,"pid":');
    await rx.start(`[source.ttyS1]\ntype = "tty"\npath = "${guest}"\nbaud = 9600\n`);
    assert.match(rx.stderr, new RegExp(`lantern console: ${state}: not JSON: ignored \\(no tty settings restored from it; it is replaced when a tty line is next configured\\)\\n`));
    assert.equal(stateOf(rx).lines.length, 1, 'replaced by the real record');
    assert.deepEqual(await rx.stop(), { code: 0, signal: null }, rx.stderr);
    assert.equal(existsSync(state), false);
    assert.equal(stty(guest), original);

    // An entry read from another device (its rdev differs): the line is not touched.
    writeFileSync(state, docAt(guest, 1200, statSync(guest).rdev + 1));
    await restart(rx, `[source.vm3]\ntype = "file"\npath = "${log}"\n`);
    assert.match(
      rx.stderr,
      new RegExp(`tty settings left by receiver pid 1, which stopped without restoring them \\(SIGKILL or crash\\): not put back on ${guest} \\(source x\\): names another device now\\n`),
    );
    assert.equal(stty(guest), original);
    assert.equal(existsSync(state), false, 'the entry that cannot be used is dropped');
    assert.deepEqual(await rx.stop(), { code: 0, signal: null }, rx.stderr);
  } finally {
    rx.kill();
    socat.kill();
  }
});

test('tty state: what is not a saved-lines document is refused, with the reason (pure)', () => {
  const line = { source: 's', path: '/dev/ttyS1', rdev: 1089, termios: '00ff', savedAt: '2026-12-03T00:00:00.000Z' };
  assert.deepEqual(parseTtyState(JSON.stringify({ version: 1, pid: 7, lines: [line] })), { ok: true, doc: { version: 1, pid: 7, lines: [line] } });
  assert.deepEqual(parseTtyState('garbage'), { ok: false, reason: 'not JSON' });
  assert.deepEqual(parseTtyState('[]'), { ok: false, reason: 'not a tty settings document (version 1)' });
  assert.deepEqual(parseTtyState(JSON.stringify({ version: 2, pid: 7, lines: [] })), { ok: false, reason: 'not a tty settings document (version 1)' });
  for (const bad of [{ path: 'dev/ttyS1' }, { termios: 'xyz' }, { termios: '0' }, { rdev: -1 }, { source: 3 }]) {
    assert.deepEqual(parseTtyState(JSON.stringify({ version: 1, pid: 7, lines: [line, { ...line, ...bad }] })), {
      ok: false,
      reason: 'entry 2 is not a saved line (source, absolute path, rdev, termios hex, savedAt)',
    });
  }
});
