/**
 * The Loki client against the push API's contract (see startLokiStandIn for why a stand-in):
 * labels bounded, facts in the line, 429/500 retried with backoff, 400 counted as rejected and
 * passed over, Loki down and back with every line delivered once.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir, waitFor } from '../common/testenv.js';
import { createDestination } from './destination.js';
import { DEFAULT_FORWARDER, Forwarder } from './forwarder.js';
import { appendLines, startLokiStandIn } from './testkit.js';

function forwarder(dir: string, port: number, notes: string[]): Forwarder {
  const dest = createDestination({ url: `loki+http://127.0.0.1:${port}`, source: 'netconsole', timeoutMs: 2000, settleMs: 0 });
  return new Forwarder(dest, { ...DEFAULT_FORWARDER, dir, statePath: join(dir, '..', 'state.json'), batchLines: 500, pollMs: 20, backoffMinMs: 20, backoffMaxMs: 200, say: (l) => notes.push(l) });
}

test('Loki: one stream per host and level, facts in the line; 429 and 500 retried; 400 rejected and counted', async () => {
  const loki = await startLokiStandIn();
  const dir = join(tempDir('lantern-loki-'), 'in');
  appendLines(dir, 1200);
  const notes: string[] = [];
  const f = forwarder(dir, loki.port, notes);
  loki.answers.push(429, 500);
  const run = f.run();
  try {
    await waitFor('1200 delivered', () => f.counters.delivered === 1200, 20_000);
  } finally {
    await f.stop();
    await run;
  }
  assert.deepEqual([...loki.streams.keys()], [JSON.stringify({ host: '10.0.0.5', source: 'netconsole', level: 'info' })]);
  const values = [...loki.streams.values()][0]!;
  assert.equal(values.length, 1200);
  assert.deepEqual(JSON.parse(values[0]![1]), { sender: '10.0.0.5:6665', seq: 0, ktime: '501.000000', facility: 0, id: './2026-11-26.log:0', text: 'line 0: e1000e: eth0 NIC Link is Up' });
  assert.equal(f.counters.sendErrors, 2);
  assert.match(notes.join('\n'), /HTTP 429: Ingestion rate limit exceeded; the lines wait in the local files, retrying/);
  // A batch Loki refuses for good is counted and passed over, never retried forever.
  appendLines(dir, 100, 1200);
  loki.answers.push(400);
  const g = forwarder(dir, loki.port, notes);
  for (let i = 0; i < 5; i++) await g.step();
  await g.stop();
  assert.equal(g.counters.rejected, 100);
  assert.equal(g.counters.delivered, 1200, 'carried over from the state file');
  assert.match(notes.join('\n'), /refused 100 lines for good \(loki\+http:\/\/127\.0\.0\.1:\d+: HTTP 400: entry for stream has timestamp too old\)/);
  await loki.close();
});

test('Loki down mid-burst and back on the same port: every line delivered exactly once, in order', async () => {
  let loki = await startLokiStandIn();
  const port = loki.port;
  const dir = join(tempDir('lantern-loki-'), 'in');
  const notes: string[] = [];
  const f = forwarder(dir, port, notes);
  const run = f.run();
  const stored: [string, string][] = [];
  try {
    for (let i = 0; i < 20; i++) {
      appendLines(dir, 500, i * 500);
      if (i === 5) {
        await waitFor('some delivered', () => f.counters.delivered > 0, 20_000);
        for (const v of loki.streams.values()) stored.push(...v);
        await loki.close();
      }
      if (i === 12) loki = await startLokiStandIn(port);
      await new Promise((r) => setTimeout(r, 30));
    }
    await waitFor('10000 delivered', () => f.counters.delivered === 10_000, 30_000);
  } finally {
    await f.stop();
    await run;
  }
  for (const v of loki.streams.values()) stored.push(...v);
  await loki.close();
  const seqs = stored.map((v) => JSON.parse(v[1]).seq as number);
  assert.equal(seqs.length, 10_000, 'no line lost, none twice');
  assert.deepEqual(
    seqs,
    [...seqs].sort((a, b) => a - b),
  );
  assert.ok(f.counters.sendErrors >= 1);
});
