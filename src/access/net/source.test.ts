/**
 * The network AccessSource on the real kernel: a known program binds, listens, connects and accepts
 * on loopback (IPv4 and IPv6), sends UDP, and binds/connects unix datagram sockets (a path and an
 * abstract name, one connect failing with ENOENT); the operation lines are TOMOYO's.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { bpftraceMissing, facilitySkip, tempDir } from '../../common/testenv.js';
import type { AccessEvent } from '../event.js';
import { startNetworkSource } from './source.js';

const skip = facilitySkip(
  bpftraceMissing(['sock:sock_send_length']) ?? (spawnSync('python3', ['-c', '']).status !== 0 ? 'python3 is not installed (binds and connects unix datagram sockets)' : undefined),
);

test('bind/listen/connect/accept, dgram send and unix bind/connect arrive as TOMOYO lines', { skip }, async () => {
  const dir = tempDir('lantern-net-');
  const sockPath = join(dir, 'dgram.sock');
  const events: AccessEvent[] = [];
  const src = await startNetworkSource({}, (e) => events.push(e));
  let pid = 0;
  try {
    assert.equal(src.name, 'network');
    const script = `
const net = require('net'), dgram = require('dgram');
(async () => {
  const srv = net.createServer((c) => { c.end(); });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const port = srv.address().port;
  const c = net.connect(port, '127.0.0.1');
  await new Promise((r) => c.on('connect', r));
  await new Promise((r) => setTimeout(r, 100));
  c.destroy(); srv.close();
  const s6 = net.createServer(); await new Promise((r) => s6.listen(0, '::1', r)); s6.close();
  const u = dgram.createSocket('udp4');
  await new Promise((r) => u.send('x', 40999, '127.0.0.1', r)); u.close();
  process.stdout.write(JSON.stringify({ port, port6: s6.address ? 0 : 0 }));
})();`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    const { port } = JSON.parse(r.stdout) as { port: number };
    // unix datagram sockets through Python (Node has no unix dgram): bind a path, bind an abstract name, connect to both, and to a missing path.
    const py = spawnSync(
      'python3',
      [
        '-c',
        `
import socket, os
print(os.getpid(), flush=True)
a = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); a.bind(${JSON.stringify(sockPath)})
b = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); b.bind('\\0lantern-net-test')
c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); c.connect(${JSON.stringify(sockPath)}); c.connect('\\0lantern-net-test')
try: c.connect(${JSON.stringify(join(dir, 'missing.sock'))})
except FileNotFoundError: pass
t = socket.socket(); t.bind(('127.0.0.1', 0)); t.listen(); busy = t.getsockname()[1]
t2 = socket.socket()
try: t2.bind(('127.0.0.1', busy))
except OSError: pass
t.close()
t3 = socket.socket()
try: t3.connect(('127.0.0.1', busy))
except ConnectionRefusedError: pass
print(busy, flush=True)
`,
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    assert.equal(py.status, 0, py.stderr);
    const [pidText, busyText] = py.stdout.trim().split('\n');
    pid = Number(pidText);
    const busy = Number(busyText);
    await new Promise((res) => setTimeout(res, 1000));
    const ops = (p?: number) => events.filter((e) => p === undefined || e.pid === p).map((e) => e.operation + (e.errno ? ` ${e.errno}` : ''));
    const all = ops();
    for (const want of [`inet stream bind 127.0.0.1 ${port}`, `inet stream listen 127.0.0.1 ${port}`, `inet stream connect 127.0.0.1 ${port}`, 'inet dgram send 127.0.0.1 40999'])
      assert.ok(all.includes(want), `${want} in ${JSON.stringify(all.filter((o) => o.includes('127.0.0.1')))}`);
    assert.ok(
      all.some((o) => new RegExp(`^inet stream accept 127\\.0\\.0\\.1 \\d+$`).test(o)),
      'accept names the peer',
    );
    assert.ok(
      all.some((o) => /^inet stream listen ::1 \d+$/.test(o)),
      'IPv6 listen',
    );
    // Only the sockets the script named: libc may connect to its own services on the way (seen on CI:
    // glibc's `unix stream connect /var/run/nscd/socket ENOENT`), real accesses the test does not control.
    assert.deepEqual(
      ops(pid).filter((o) => o.startsWith('unix') && (o.includes(dir) || o.includes('@lantern-net-test'))),
      [
        `unix dgram bind ${sockPath}`,
        'unix dgram bind @lantern-net-test',
        `unix dgram connect ${sockPath}`,
        'unix dgram connect @lantern-net-test',
        `unix dgram connect ${join(dir, 'missing.sock')} ENOENT`,
      ],
    );
    // Failed operations keep their errno (a blocking connect refused, a bind to a port in use).
    assert.deepEqual(
      ops(pid).filter((o) => o.includes(` ${busy}`)),
      [`inet stream bind 127.0.0.1 ${busy}`, `inet stream listen 127.0.0.1 ${busy}`, `inet stream bind 127.0.0.1 ${busy} EADDRINUSE`, `inet stream connect 127.0.0.1 ${busy} ECONNREFUSED`],
    );
    assert.ok(events.every((e) => e.category === 'network' && e.pid > 0 && e.timeUs > 0));
    // The script's own bind names its program. Not the pid's first event: on a busy machine an earlier
    // process may have had the same pid in this window (seen on CI: a bash's nscd connect).
    const py1 = events.find((e) => e.pid === pid && e.operation === `unix dgram bind ${sockPath}`)!;
    assert.equal(py1.comm, 'python3');
    assert.ok(Math.abs(py1.timeUs / 1000 - Date.now()) < 10_000, 'wall-clock time');
  } finally {
    await src.stop();
  }
  assert.equal(src.lost, 0);
});
