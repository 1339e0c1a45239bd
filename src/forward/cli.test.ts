/** lantern forward's options: --spool-limit reads sizes as every other size option does. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { tempDir } from '../common/testenv.js';

const BIN = fileURLToPath(new URL('../../bin/lantern.js', import.meta.url));

test('--spool-limit: the common size grammar (1.5G, 64KiB); not a size or 0 is one line and 64', () => {
  const base = tempDir('lantern-fwd-cli-');
  const dir = join(base, 'log');
  mkdirSync(dir);
  // Nothing to send: --once ends at once, whatever the (closed) destination.
  const run = (limit: string) =>
    spawnSync(process.execPath, [BIN, 'forward', dir, '--to', 'syslog+tcp://127.0.0.1:9', '--state-dir', join(base, 'state'), '--once', '--timeout', '1s', '--spool-limit', limit], {
      encoding: 'utf8',
      timeout: 30_000,
    });
  for (const ok of ['1.5G', '64KiB', '256M', '1048576']) {
    const r = run(ok);
    assert.equal(r.status, 0, `${ok}: ${r.stderr}`);
  }
  const lots = run('lots');
  assert.equal(lots.status, 64);
  assert.equal(lots.stderr, 'lantern: --spool-limit: not a size: "lots" (use e.g. 65536, 64k, 32M, 1G)\n');
  const zero = run('0');
  assert.equal(zero.status, 64);
  assert.equal(zero.stderr, 'lantern: --spool-limit: must be at least 1 byte (use e.g. 256M, 4G)\n');
});
