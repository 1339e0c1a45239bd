/**
 * End to end with real components on loopback: `lantern netconsole listen --combined --metrics`
 * receives datagrams, a real Prometheus (Debian's) scrapes its endpoint, and `lantern forward`
 * sends the receiver's files to a real rsyslogd, every line counted at each step.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { facilitySkip, tempDir } from '../common/testenv.js';
import { freePort as freeUdpPort, Rx, send, sender, waitFor } from '../netconsole/test-helpers.js';
import { freePort, rsyslogMissing, startRsyslog } from './testkit.js';

const BIN = fileURLToPath(new URL('../../bin/lantern.js', import.meta.url));
const PROMETHEUS = '/usr/bin/prometheus';
const skip = facilitySkip(rsyslogMissing() ?? (existsSync(PROMETHEUS) && existsSync('/usr/bin/promtool') ? undefined : 'prometheus is not installed (apt install prometheus)'));

function fetchText(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

test('netconsole listen → Prometheus scrape + lantern forward → rsyslog: every line accounted for', { skip }, async () => {
  const root = tempDir('lantern-fleet-');
  const udp = await freeUdpPort();
  const metricsPort = await freePort();
  const rx = new Rx(root, udp);
  await rx.start(['--combined', '--metrics', `127.0.0.1:${metricsPort}`]);
  let prom: ChildProcess | null = null;
  let fwd: ChildProcess | null = null;
  const rs = await startRsyslog();
  try {
    const s = await sender();
    const total = 2000;
    for (let i = 0; i < total; i++) await send(s, udp, `6,${i},${1000 + i},-;fleet line ${i}\n`);
    s.close();
    // The endpoint: Prometheus text that promtool accepts, with the receiver's counts.
    let scrape = { status: 0, body: '' };
    for (let i = 0; i < 100; i++) {
      scrape = await fetchText(`http://127.0.0.1:${metricsPort}/metrics`);
      if (/^lantern_netconsole_datagrams_total 2000$/m.test(scrape.body)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(scrape.status, 200);
    assert.match(scrape.body, /^# TYPE lantern_netconsole_datagrams_total counter$/m);
    assert.match(scrape.body, /^lantern_netconsole_datagrams_total 2000$/m);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: scrape.body, encoding: 'utf8' });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    // A real Prometheus scrapes it.
    const promPort = await freePort();
    const promDir = join(root, 'prom');
    writeFileSync(join(root, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: lantern\n    static_configs:\n      - targets: ['127.0.0.1:${metricsPort}']\n`);
    prom = spawn(PROMETHEUS, [`--config.file=${join(root, 'prometheus.yml')}`, `--storage.tsdb.path=${promDir}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
    let value = '';
    for (let i = 0; i < 300 && value !== '2000'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        const q = await fetchText(`http://127.0.0.1:${promPort}/api/v1/query?query=lantern_netconsole_datagrams_total`);
        const doc = JSON.parse(q.body) as { data?: { result?: { value: [number, string] }[] } };
        value = doc.data?.result?.[0]?.value[1] ?? '';
      } catch {
        /* not up yet */
      }
    }
    assert.equal(value, '2000', 'Prometheus scraped the receiver');
    // lantern forward sends the combined file to rsyslog.
    fwd = spawn(process.execPath, [BIN, 'forward', rx.dir, '--to', `syslog+tcp://127.0.0.1:${rs.port}`, '--state-dir', join(root, 'fwd'), '--settle', '200ms'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await waitFor('2000 lines at rsyslog', () => rs.lines().filter((l) => l.includes('fleet line')).length >= total, 30_000);
    const lines = rs.lines().filter((l) => l.includes('fleet line'));
    assert.equal(lines.length, total);
    assert.match(
      lines[0]!,
      /^127\.0\.0\.1 kernel 6 \[lantern@32473 sender="127\.0\.0\.1:\d+" source="netconsole" seq="0" ktime="0\.001000" level="info" id="\.\/\d{4}-\d{2}-\d{2}\.log:\d+"\] fleet line 0$/,
    );
  } finally {
    fwd?.kill('SIGTERM');
    prom?.kill('SIGTERM');
    await rx.stop();
    await rs.stop();
    if (prom && prom.exitCode === null) await new Promise((r) => prom!.once('exit', r));
  }
});
