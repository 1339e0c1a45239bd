/**
 * The network source wired into the access lists: `lantern record --access-backend network` keeps a
 * short-lived client's `network inet stream connect 127.0.0.1 PORT` in its domain, next to the file
 * lines, and `lantern access` prints it. A client repeating its connects 100 times leaves one line
 * each (deduplicated in the kernel), and `lantern record status` shows the network account adding up.
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
    const c = spawnSync(
      'python3',
      [
        '-c',
        `import socket
for i in range(100):
    s = socket.create_connection(("127.0.0.1", ${port})); s.close()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.connect(("127.0.0.1", ${port + 1})); u.close()`,
      ],
      { encoding: 'utf8' },
    );
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
  const lists = JSON.parse(spawnSync(process.execPath, [BIN, 'access', '--store', store, '--json', '*python3*'], { encoding: 'utf8' }).stdout) as { accesses: { line: string; count: number }[] }[];
  const lines = lists.flatMap((d) => d.accesses.filter((a) => a.line.includes(` ${port}`) || a.line.includes(` ${port + 1}`)));
  assert.deepEqual(
    lines.map((a) => [a.line, a.count]),
    [
      [`network inet dgram connect 127.0.0.1 ${port + 1}`, 1],
      [`network inet stream connect 127.0.0.1 ${port}`, 1],
    ],
    'one line and one arrival per distinct access of the one process',
  );
  const st = JSON.parse(spawnSync(process.execPath, [BIN, 'record', 'status', '--store', store, '--json'], { encoding: 'utf8' }).stdout) as {
    access: { backends: { name: string; lost?: number }[]; detail: Record<string, number> };
  };
  const d = st.access.detail;
  assert.deepEqual(
    st.access.backends.map((b) => [b.name, b.lost]),
    [['network', 0]],
  );
  assert.ok(d['network.duplicates']! >= 198, `the repeats stayed in the kernel: ${JSON.stringify(d)}`);
  assert.equal(d['network.seen'], d['network.printed']! + d['network.duplicates']! + (d['network.printedMapFull'] ?? 0), JSON.stringify(d));
  assert.equal(d['network.printed']! + (d['network.printedMapFull'] ?? 0), d['network.records'], JSON.stringify(d));
  const text = spawnSync(process.execPath, [BIN, 'record', 'status', '--store', store], { encoding: 'utf8' }).stdout;
  assert.match(text, /network\.seen \d+, network\.printed \d+, network\.duplicates \d+/);
  cleanup();
});
