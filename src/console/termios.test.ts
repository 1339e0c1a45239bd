/**
 * The termios addon (native/termios) on a real pty: raw mode, speed and stop bits set, the old
 * settings put back; errors carry their errno code. On CI the addon must be built: a missing
 * build fails here instead of skipping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, constants as fsc, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { facilitySkip, tempDir } from '../common/testenv.js';
import { loadTermios, type Termios } from './termios.js';

const loaded = loadTermios();
const mod: Termios | null = 'mod' in loaded ? loaded.mod : null;
const missing = 'error' in loaded ? `termios addon not built: ${loaded.error}` : undefined;

test('termios addon: configure a pty (raw, 57600, 8N2), query it, restore what was there; current() is what configure found', { skip: facilitySkip(missing) }, () => {
  assert.ok(mod, missing);
  // A fresh pty from /dev/ptmx: its slave end is the "serial line".
  const master = openSync('/dev/ptmx', fsc.O_RDWR | fsc.O_NOCTTY);
  try {
    // (The master end carries the pair's termios: enough for the addon's calls, no unlockpt needed.)
    const before = mod.query(master);
    const found = mod.current(master);
    const saved = mod.configure(master, 57600, 8, 'none', 2);
    // What current() gives (kept on disk before a change) is what configure() found, byte for byte.
    assert.deepEqual(saved, found);
    assert.notDeepEqual(mod.current(master), found);
    assert.deepEqual(mod.query(master), { baud: 57600, dataBits: 8, parity: 'none', stopBits: 2, raw: true });
    mod.restore(master, saved);
    assert.deepEqual(mod.query(master), before);
    assert.throws(
      () => mod.configure(master, 12345, 8, 'none', 1),
      (e: NodeJS.ErrnoException) => e.code === 'EINVAL',
    );
  } finally {
    closeSync(master);
  }
  const f = join(tempDir('termios-'), 'plain');
  writeFileSync(f, '');
  const fd = openSync(f, 'r');
  try {
    assert.throws(
      () => mod.configure(fd, 9600, 8, 'none', 1),
      (e: NodeJS.ErrnoException) => e.code === 'ENOTTY' && /tcgetattr/.test(e.message),
    );
  } finally {
    closeSync(fd);
  }
});
