/**
 * The network source wired into the access lists: `lantern record --access-backend network` keeps a
 * short-lived client's `network inet stream connect 127.0.0.1 PORT` in its domain, next to the file
 * lines, and `lantern access` prints it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { findBpftrace } from '../../common/bpftrace.js';
import { facilitySkip } from '../../common/testenv.js';
import { exited, liveSkipReason, tempDir, uniqueName, waitFor } from '../../record/live.testutil.js';

const BIN = fileURLToPath(new URL('../../../bin/lantern.js', import.meta.url));
const bt = findBpftrace();
const skip = facilitySkip(liveSkipReason() ?? ('missing' in bt ? bt.missing : undefined));

test('record --access-backend network: a client connect lands in its domain list', { skip }, async () => {
  const { dir, cleanup } = tempDir();
  const server = createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const store = join(dir, 'r.db');
  const rec = spawn(process.execPath, [BIN, 'record', '--store', store, '--name', uniqueName('netacc'), '--access-backend', 'network', '--no-hung', '--no-slab'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  rec.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    await waitFor(() => err.includes('recording into'), 60_000, 'the recorder to start');
    assert.match(err, /access backend network running/);
    const c = spawnSync('python3', ['-c', `import socket; s=socket.create_connection(("127.0.0.1", ${port})); s.close()`], { encoding: 'utf8' });
    assert.equal(c.status, 0, c.stderr);
    await new Promise((r) => setTimeout(r, 1500));
  } finally {
    rec.kill('SIGTERM');
    await exited(rec);
    server.close();
  }
  const out = spawnSync(process.execPath, [BIN, 'access', '--store', store, '*python3*'], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  assert.match(out.stdout, new RegExp(`network inet stream connect 127\\.0\\.0\\.1 ${port}`), out.stdout);
  cleanup();
});
