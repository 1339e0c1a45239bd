/**
 * A recorder keeping access lists must not pin the filesystems it marks: an administrator's umount
 * of a filesystem mounted before `lantern record --access` started works while it runs (an open fd
 * on each marked mount made every such umount fail with EBUSY).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { facilitySkip } from '../common/testenv.js';
import { loadFanotify } from './fanotify.js';
import { exited, liveSkipReason, tempDir, uniqueName, waitFor } from '../record/live.testutil.js';

const BIN = fileURLToPath(new URL('../../bin/lantern.js', import.meta.url));
const fan = loadFanotify();
const skip = facilitySkip(liveSkipReason() ?? ('error' in fan ? fan.error : undefined));

test('record --access: a filesystem it marked can be unmounted while it runs', { skip, timeout: 120_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]).status, 0);
  let mounted = true;
  writeFileSync(join(mnt, 'f'), 'x');
  const rec = spawn(process.execPath, [BIN, 'record', '--store', join(dir, 'r.db'), '--name', uniqueName('umount'), '--access-backend', 'fanotify', '--no-hung', '--no-slab'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  rec.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    await waitFor(() => err.includes('recording into') || rec.exitCode !== null, 60_000, 'the recorder to start');
    assert.match(err, /access backend fanotify running/, err);
    // An access on it is resolved (the lookup opens the mount for a moment), then the umount works.
    spawnSync('cat', [join(mnt, 'f')]);
    await new Promise((r) => setTimeout(r, 500));
    const u = spawnSync('umount', [mnt], { encoding: 'utf8' });
    assert.equal(u.status, 0, `umount while recording: ${u.stderr}`);
    mounted = false;
  } finally {
    rec.kill('SIGTERM');
    await exited(rec);
    if (mounted) spawnSync('umount', ['-l', mnt]);
    cleanup();
  }
});
