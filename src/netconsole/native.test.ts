/**
 * The native receive path: the pure batch reader (sender addresses, lengths, truncation) and
 * the real addon over loopback (v4 and v6 senders, truncated datagrams, backpressure, shutdown).
 * On CI (process.env.CI) the addon must be built: a missing build fails instead of skipping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ENTRY_BYTES, SenderTable, encodeNativeBatch, forEachNativeDatagram, ipv6Text } from './native-batch.js';
import { loadNative, type NativeRecv } from './native.js';
import { freePort } from './test-helpers.js';

const LANTERN = new URL('../../bin/lantern.js', import.meta.url).pathname;
const loaded = loadNative();
const mod: NativeRecv | null = 'mod' in loaded ? loaded.mod : null;
const missing = 'error' in loaded ? `native receive path not built: ${loaded.error}` : '';

test('native batch: v4, v6 and v4-mapped senders, lengths, times and truncation flags read back', () => {
  const v6 = Buffer.from('20010db8000000000001000000000001', 'hex');
  const mapped = Buffer.from('00000000000000000000ffff0a000005', 'hex');
  const batch = encodeNativeBatch([
    { family: 4, address: Buffer.from([127, 0, 0, 1]), port: 6665, timeUs: 1.7e15, payload: Buffer.from('hello\n') },
    { family: 6, address: v6, port: 1, timeUs: 1.7e15 + 1, payload: Buffer.from('6,1,2,-;x\n') },
    { family: 6, address: mapped, port: 65535, timeUs: 1.7e15 + 2, payload: Buffer.alloc(0) },
    { family: 4, address: Buffer.from([10, 1, 2, 3]), port: 7, timeUs: 1.7e15 + 3, payload: Buffer.alloc(1024, 0x41), wireLength: 70000 },
  ]);
  const got: unknown[] = [];
  forEachNativeDatagram(batch, 4, new SenderTable(), (s, t, p, truncated, wire) => got.push([s.address, s.port, t, p.toString('latin1').slice(0, 12), p.length, truncated, wire]));
  assert.deepEqual(got, [
    ['127.0.0.1', 6665, 1.7e15, 'hello\n', 6, false, 6],
    ['2001:db8::1:0:0:1', 1, 1.7e15 + 1, '6,1,2,-;x\n', 10, false, 10],
    ['10.0.0.5', 65535, 1.7e15 + 2, '', 0, false, 0],
    ['10.1.2.3', 7, 1.7e15 + 3, 'AAAAAAAAAAAA', 1024, true, 70000],
  ]);
  // A batch cut short (never produced by the addon) is read up to the last whole datagram, not past it.
  const cut: number[] = [];
  forEachNativeDatagram(batch.subarray(0, 4 * ENTRY_BYTES + 10), 4, new SenderTable(), (_s, _t, p) => cut.push(p.length));
  assert.deepEqual(cut, [6]);
  // The cache returns the same sender object for the same (address, port).
  const table = new SenderTable();
  assert.equal(table.lookup(batch, 0), table.lookup(batch, 0));
});

test('native batch: IPv6 text is exactly what Node writes for the same address', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 3 }), (bytes, zeroRuns) => {
      const b = Buffer.from(bytes);
      // Favour zero runs: they are where the compression rules matter.
      for (let i = 0; i < zeroRuns; i++) {
        const start = (bytes[i]! % 8) * 2;
        b.fill(0, start, Math.min(16, start + 2 * (1 + (bytes[i + 4]! % 4))));
      }
      const full = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16)).join(':');
      assert.equal(ipv6Text(b), new net.SocketAddress({ address: full, family: 'ipv6' }).address);
    }),
    { numRuns: 2000 },
  );
});

test('native receive path is built on CI', { skip: !process.env.CI && mod === null ? `${missing} (CI requires it)` : false }, () => {
  assert.ok(mod, `CI must build native/netconsole-recv (npm ci runs scripts/build-native.mjs): ${missing}`);
});

function sendFrom(type: 'udp4' | 'udp6', bindAddr: string, to: string, port: number, payloads: Buffer[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket(type);
    const sendAll = async (): Promise<void> => {
      for (const p of payloads) await new Promise<void>((r, j) => s.send(p, port, to, (e) => (e ? j(e) : r())));
    };
    s.bind(0, bindAddr, () => {
      const myPort = s.address().port;
      // sendAll rejects only with the Error a send reported.
      void sendAll()
        .catch((e: Error) => reject(e))
        .finally(() => {
          s.close();
          resolve(myPort);
        });
    });
  });
}

test('native receiver: v4 and v6 datagrams in batches with sender, length and truncation; stop ends the stream', { skip: mod ? false : missing }, async () => {
  const m = mod!;
  const s4 = m.openSocket(4, '127.0.0.1', 0, 1 << 20);
  const s6 = m.openSocket(6, '::1', 0, 1 << 20);
  assert.ok(s4.rcvbuf >= 4096 && s4.port > 0);
  const got: Array<[string, number, number, number, boolean]> = [];
  const senders = new SenderTable();
  let batches = 0;
  let ended!: () => void;
  const end = new Promise<void>((r) => (ended = r));
  const handle = m.start([s4.fd, s6.fd], { slotBytes: 1024, vlen: 8 }, (ab, count, _bytes, length) => {
    if (ab === null) return ended();
    const buf = Buffer.from(ab, 0, length);
    batches++;
    forEachNativeDatagram(buf, count, senders, (s, t, p, truncated, wire) => {
      assert.ok(Math.abs(t / 1000 - Date.now()) < 60_000, 'receive time is the wall clock in µs');
      got.push([`${s.address}|${p.toString('latin1', 0, Math.min(p.length, 5))}`, s.port, p.length, wire, truncated]);
    });
    m.ack(handle, buf.length);
  });
  const small = Array.from({ length: 20 }, (_, i) => Buffer.from(`m${String(i).padStart(3, '0')}\n`));
  const p4 = await sendFrom('udp4', '127.0.0.1', '127.0.0.1', s4.port, [...small, Buffer.alloc(2000, 0x42), Buffer.alloc(0)]);
  const p6 = await sendFrom('udp6', '::1', '::1', s6.port, [Buffer.from('six\n')]);
  for (let i = 0; i < 200 && got.length < 23; i++) await new Promise((r) => setTimeout(r, 10));
  m.stop(handle);
  await end;
  m.closeFd(s4.fd);
  m.closeFd(s6.fd);
  assert.equal(got.length, 23, JSON.stringify(got));
  assert.deepEqual(
    got.filter((g) => g[0].startsWith('127.0.0.1|m')).map((g) => g[0].slice(10, 14)),
    small.map((b) => b.toString().slice(0, 4)),
  );
  assert.ok(got.every((g) => (g[0].startsWith('::1|') ? g[1] === p6 : g[1] === p4)));
  assert.deepEqual(
    got.find((g) => g[0] === '127.0.0.1|BBBBB'),
    ['127.0.0.1|BBBBB', p4, 1024, 2000, true],
  );
  assert.deepEqual(
    got.find((g) => g[0] === '127.0.0.1|'),
    ['127.0.0.1|', p4, 0, 0, false],
  );
  assert.deepEqual(
    got.find((g) => g[0].startsWith('::1|')),
    ['::1|six\n', p6, 4, 4, false],
  );
  assert.ok(batches >= 1 && batches <= 23);
  assert.equal(m.stats(handle).lostBatches, 0);
});

test('native receiver: stops reading while too much waits for JS, reads on after ack, loses nothing', { skip: mod ? false : missing }, async () => {
  const m = mod!;
  const s4 = m.openSocket(4, '127.0.0.1', 0, 4 << 20);
  const held: number[] = [];
  let received = 0;
  let ended!: () => void;
  const end = new Promise<void>((r) => (ended = r));
  // 2 KiB of batches at most in flight: with no ack the thread must wait.
  const handle = m.start([s4.fd], { vlen: 4, maxQueuedBytes: 2048, batchBytes: 1024, slotBytes: 1024 }, (ab, count, bytes) => {
    if (ab === null) return ended();
    held.push(bytes);
    received += count;
  });
  const payloads = Array.from({ length: 300 }, (_, i) => Buffer.from(`line ${i} ${'x'.repeat(40)}\n`));
  await sendFrom('udp4', '127.0.0.1', '127.0.0.1', s4.port, payloads);
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(received < 300, `reading paused (got ${received} of 300 before any ack)`);
  assert.ok(m.stats(handle).waits > 0);
  for (let i = 0; i < 500 && received < 300; i++) {
    while (held.length) m.ack(handle, held.shift()!);
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(received, 300);
  assert.equal(m.stats(handle).lostBatches, 0);
  m.stop(handle);
  await end;
  m.closeFd(s4.fd);
});

test('native receiver: a batch buffer given back with ack() carries a later batch; one not given back is not reused', { skip: mod ? false : missing }, async () => {
  const m = mod!;
  const s4 = m.openSocket(4, '127.0.0.1', 0, 1 << 20);
  const got: Array<{ ab: ArrayBuffer; text: string }> = [];
  let ended!: () => void;
  const end = new Promise<void>((r) => (ended = r));
  let giveBack = true;
  const handle = m.start([s4.fd], {}, (ab, _count, bytes, length) => {
    if (ab === null) return ended();
    const buf = Buffer.from(ab, 0, length);
    got.push({ ab, text: buf.toString('latin1', 80, length) });
    m.ack(handle, bytes, giveBack ? ab : undefined);
  });
  const c = dgram.createSocket('udp4');
  const send = async (text: string) => {
    const n = got.length;
    await new Promise<void>((r, j) => c.send(Buffer.from(text), s4.port, '127.0.0.1', (e) => (e ? j(e) : r())));
    for (let i = 0; i < 300 && got.length === n; i++) await new Promise((r) => setTimeout(r, 5));
  };
  await send('one\n');
  await send('two\n');
  giveBack = false;
  await send('three\n');
  await send('four\n');
  c.close();
  m.stop(handle);
  await end;
  m.closeFd(s4.fd);
  assert.deepEqual(
    got.map((g) => g.text),
    ['one\n', 'two\n', 'three\n', 'four\n'],
  );
  assert.equal(got[1]!.ab, got[0]!.ab, 'the buffer given back carried the next batch');
  assert.equal(got[2]!.ab, got[0]!.ab);
  assert.notEqual(got[3]!.ab, got[2]!.ab, 'a buffer kept by JavaScript is never written again');
});

test('native receiver: stop wakes an idle receive thread at once; bind errors carry the errno code', { skip: mod ? false : missing }, async () => {
  const m = mod!;
  const s4 = m.openSocket(4, '127.0.0.1', 0, 65536);
  assert.throws(
    () => m.openSocket(4, '127.0.0.1', s4.port, 65536),
    (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE',
  );
  assert.throws(
    () => m.openSocket(4, 'not-an-address', 1, 65536),
    (e: NodeJS.ErrnoException) => e.code === 'EINVAL',
  );
  let ended!: () => void;
  const end = new Promise<void>((r) => (ended = r));
  const handle = m.start([s4.fd], {}, (ab) => ab === null && ended());
  const t0 = Date.now();
  m.stop(handle);
  await end;
  assert.ok(Date.now() - t0 < 2000);
  m.closeFd(s4.fd);
});

async function runListen(env: Record<string, string>, extra: string[] = []): Promise<{ code: number | null; stderr: string }> {
  const root = mkdtempSync(join(tmpdir(), 'lantern-nc-native-'));
  const port = await freePort();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [LANTERN, 'netconsole', 'listen', '-l', `127.0.0.1:${port}`, '-d', join(root, 'out'), '--state-dir', join(root, 'state'), ...extra], {
      env: { ...process.env, ...env, NO_COLOR: '1' },
    });
    let stderr = '';
    p.stderr.on('data', (d) => {
      stderr += d;
      // The signal handlers are in place just after the start-up report.
      if (stderr.includes('writing ')) setTimeout(() => p.kill('SIGTERM'), 500);
    });
    p.on('exit', (code) => {
      rmSync(root, { recursive: true, force: true });
      resolve({ code, stderr });
    });
  });
}

test('listen: says which receive path it uses; native by default when built, dgram on request; SIGTERM exits 0', async () => {
  const auto = await runListen({ LANTERN_NETCONSOLE_RECV: '' });
  assert.equal(auto.code, 0, auto.stderr);
  if (mod || process.env.CI) assert.match(auto.stderr, /receive path: native recvmmsg/);
  else assert.match(auto.stderr, /receive path: Node dgram \(native receive path unavailable: /);
  const dg = await runListen({ LANTERN_NETCONSOLE_RECV: 'dgram' });
  assert.equal(dg.code, 0, dg.stderr);
  assert.match(dg.stderr, /receive path: Node dgram \(--receiver dgram\)/);
  const bad = await runListen({}, ['--receiver', 'fast']);
  assert.equal(bad.code, 64, bad.stderr);
  assert.match(bad.stderr, /--receiver: expected auto, native or dgram/);
});
