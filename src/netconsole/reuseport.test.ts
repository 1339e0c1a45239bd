/**
 * Sharding senders across receiver processes on one host with SO_REUSEPORT: the kernel hashes each
 * sender (source address and port) to one receiver, so every sender's lines stay in one place, in
 * order, with no false gap markers; `lantern netconsole stats` sums the receivers.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../common/testenv.js';
import { loadNative } from './native.js';
import { freePort, LANTERN, Rx, send, sender, waitFor } from './test-helpers.js';

const native = loadNative();
const skip = 'mod' in native ? undefined : `native receive path not built: ${native.error}`;

test('two receivers share a port: each sender whole in one of them, in order; stats merged', { skip }, async () => {
  const root = tempDir('lantern-reuse-');
  const port = await freePort();
  const a = new Rx(join(root, 'a'), port);
  const b = new Rx(join(root, 'b'), port);
  await a.start(['--reuse-port', '--receiver', 'native']);
  await b.start(['--reuse-port', '--receiver', 'native']);
  const senders = 64;
  const per = 100;
  const socks = await Promise.all(Array.from({ length: senders }, () => sender()));
  try {
    for (let i = 0; i < per; i++) for (const s of socks) await send(s, port, `6,${i},${1000 * i},-;shard line ${i}\n`);
    const lines = () => [a, b].reduce((n, r) => n + (r.stats().lines ?? 0), 0);
    await waitFor(
      'every line written',
      () => {
        try {
          return [a, b].every((r) => existsSync(join(r.state, 'stats.json'))) && (a.proc.kill('SIGUSR1'), b.proc.kill('SIGUSR1'), lines() === senders * per);
        } catch {
          return false;
        }
      },
      20_000,
    );
  } finally {
    for (const s of socks) s.close();
  }
  const merged = spawnSync(process.execPath, [LANTERN, 'netconsole', 'stats', '--state-dir', a.state, '--state-dir', b.state, '--json'], { encoding: 'utf8' });
  assert.equal(merged.status, 0, merged.stderr);
  const doc = JSON.parse(merged.stdout) as { receivers: unknown[]; total: { counters: Record<string, number> } };
  assert.equal(doc.receivers.length, 2);
  assert.equal(doc.total.counters.datagrams, senders * per);
  assert.equal(doc.total.counters.gaps, 0);
  assert.equal(await a.stop(), 0);
  assert.equal(await b.stop(), 0);
  // Senders here share 127.0.0.1, so they share a per-address directory: group by the sender label (address:port).
  const bySender = (r: Rx) => {
    const m = new Map<string, number[]>();
    const text = existsSync(r.dir)
      ? readdirSync(r.dir)
          .flatMap((d) =>
            readdirSync(join(r.dir, d))
              .sort()
              .map((f) => readFileSync(join(r.dir, d, f), 'utf8')),
          )
          .join('')
      : '';
    assert.doesNotMatch(text, /-- lantern: .*(lost|restart)/, 'no false gap markers');
    for (const x of text.matchAll(/^\S+ (127\.0\.0\.1:\d+) <6>#(\d+) /gm)) {
      const l = m.get(x[1]!) ?? [];
      l.push(Number(x[2]));
      m.set(x[1]!, l);
    }
    return m;
  };
  const sa = bySender(a);
  const sb = bySender(b);
  assert.equal(sa.size + sb.size, senders, 'each sender in exactly one receiver');
  assert.ok(sa.size > 0 && sb.size > 0, `both receivers got senders (${sa.size} / ${sb.size})`);
  for (const [label, seqs] of [...sa, ...sb])
    assert.deepEqual(
      seqs,
      Array.from({ length: per }, (_, i) => i),
      `sender ${label}: all ${per} records, in order`,
    );
});

test('--reuse-port on the dgram path is one clear line (Node 20 dgram cannot set SO_REUSEPORT)', async () => {
  const root = tempDir('lantern-reuse-');
  const r = spawnSync(
    process.execPath,
    [LANTERN, 'netconsole', 'listen', '-l', `127.0.0.1:${await freePort()}`, '-d', join(root, 'o'), '--state-dir', join(root, 's'), '--reuse-port', '--receiver', 'dgram'],
    { encoding: 'utf8', timeout: 30_000 },
  );
  assert.equal(r.status, 69);
  assert.match(r.stderr, /lantern: --reuse-port needs the native receive path \(Node dgram/);
});
