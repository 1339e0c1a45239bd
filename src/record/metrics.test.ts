/** `lantern record --metrics`: a running recorder's status scraped in the Prometheus text format (promtool accepts it). */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { facilitySkip, freeTcpPort as freePort } from '../common/testenv.js';
import { exited, liveSkipReason, tempDir, uniqueName, waitFor } from './live.testutil.js';

const BIN = fileURLToPath(new URL('../../bin/lantern.js', import.meta.url));
const skip = facilitySkip(liveSkipReason() ?? (existsSync('/usr/bin/promtool') ? undefined : 'promtool is not installed (apt install prometheus)'));

function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get(`http://127.0.0.1:${port}/metrics`, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (b += d));
      res.on('end', () => resolve(b));
    }).on('error', reject);
  });
}

test('lantern record --metrics serves its counters; promtool accepts them', { skip }, async () => {
  const { dir, cleanup } = tempDir();
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'record', '--store', join(dir, 'r.db'), '--name', uniqueName('metrics'), '--metrics', `127.0.0.1:${port}`, '--duration', '60'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    await waitFor(() => err.includes('recording into'), 30_000, 'the recorder to start');
    spawnSync('/bin/true');
    let body = '';
    await waitFor(() => false, 1500, 'a poll').catch(() => undefined);
    body = await scrape(port);
    assert.match(body, /^# TYPE lantern_record_events_total counter$/m);
    assert.match(body, /^lantern_record_events_total \d+$/m);
    assert.match(body, /^lantern_record_lost_events_total 0$/m);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    assert.equal(check.status, 0, check.stdout + check.stderr);
  } finally {
    child.kill('SIGTERM');
    await exited(child);
    cleanup();
  }
  const bad = spawnSync(process.execPath, [BIN, 'record', '--metrics', 'nonsense'], { encoding: 'utf8' });
  assert.equal(bad.status, 64);
  assert.match(bad.stderr, /^lantern: --metrics "[^"]*": .*\(expected ADDR:PORT or PORT/);
});
