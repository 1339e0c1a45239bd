/** Pure parts of forwarding: reading receiver lines back, RFC 5424 framing, Loki bodies, the spool over real files, metrics text. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { facilitySkip, tempDir } from '../common/testenv.js';
import { parseReceiverLine, parseStamp } from './lines.js';
import { octetFrame, syslogMessage } from './syslog.js';
import { lokiBody } from './loki.js';
import { backlogBytes, compareLogNames, readLines, skipToLimit, streamsOf } from './spool.js';
import { exposition, parseMetricsAddress } from '../common/metrics.js';
import { parseDestinationUrl } from './destination.js';
import { appendLines } from './testkit.js';

test('receiver text lines read back into their fields', () => {
  const r = parseReceiverLine('2026-11-26T17:48:34.123456Z 10.0.0.5:6665 <6>#444 [  501.151268] netconsole: network logging started');
  assert.equal(r.kind, 'record');
  assert.equal(r.timeUs, Date.UTC(2026, 10, 26, 17, 48, 34) * 1000 + 123456);
  assert.deepEqual([r.sender, r.host, r.facility, r.level, r.seq, r.ktimeUs, r.text], ['10.0.0.5:6665', '10.0.0.5', 0, 6, 444, 501151268, 'netconsole: network logging started']);
  const legacy = parseReceiverLine('2026-11-26T17:48:34.000001Z [fe80::1]:6665 [   12.345678] e1000e: eth0 NIC Link is Up');
  assert.deepEqual([legacy.kind, legacy.host, legacy.level, legacy.ktimeUs, legacy.text], ['line', 'fe80::1', undefined, 12345678, 'e1000e: eth0 NIC Link is Up']);
  const marker = parseReceiverLine('2026-11-26T17:48:34.000001Z 10.0.0.5:6665 -- lantern: 3 records lost (seq 41..43) --');
  assert.deepEqual([marker.kind, marker.text], ['marker', '3 records lost (seq 41..43)']);
  const note = parseReceiverLine('2026-11-26T17:48:34.000001Z lantern -- receiver started --');
  assert.deepEqual([note.kind, note.text], ['note', 'receiver started']);
  const partial = parseReceiverLine('2026-11-26T17:48:34.000001Z 10.0.0.5:6665 [partial: quiet 10s] half a li');
  assert.deepEqual([partial.tag, partial.text], ['partial: quiet 10s', 'half a li']);
  const zone = parseStamp('2026-11-26T18:48:34.000000+01:00');
  assert.equal(zone, Date.UTC(2026, 10, 26, 17, 48, 34) * 1000);
  const json = parseReceiverLine(
    JSON.stringify({ time: '2026-11-26T17:48:34.000002Z', sender: '10.0.0.5:6665', address: '10.0.0.5', type: 'record', facility: 0, level: 3, seq: 9, ts_usec: 5, text: 'x' }),
  );
  assert.deepEqual([json.kind, json.level, json.seq, json.ktimeUs, json.host], ['record', 3, 9, 5, '10.0.0.5']);
  assert.equal(parseReceiverLine('garbage').kind, 'unparsed');
});

test('RFC 5424 message with escaped structured data and octet-counting frame', () => {
  const l = parseReceiverLine('2026-11-26T17:48:34.123456Z 10.0.0.5:6665 <3>#7 [    1.000000] disk "sda" failed] \\ hard');
  const m = syslogMessage(l, './2026-11-26.log:0');
  assert.equal(
    m,
    '<3>1 2026-11-26T17:48:34.123456Z 10.0.0.5 kernel - netconsole [lantern@32473 sender="10.0.0.5:6665" source="netconsole" seq="7" ktime="1.000000" level="err" id="./2026-11-26.log:0"] disk "sda" failed] \\ hard',
  );
  const f = octetFrame('é');
  assert.equal(f, '2 é', 'length in bytes, not characters');
  const sd = syslogMessage({ timeUs: 0, sender: 'a"]\\b', host: 'h o', text: 't', kind: 'line' }, 'i');
  assert.match(sd, /sender="a\\"\\]\\\\b"/);
  assert.match(sd, /^<6>1 1970-01-01T00:00:00.000000Z h_o kernel /, 'no level: info; spaces in HOSTNAME replaced');
});

test('Loki body: few labels, the rest in the line, streams keep order', () => {
  const a = parseReceiverLine('2026-11-26T17:48:34.000001Z 10.0.0.5:6665 <6>#1 [    1.000000] one');
  const b = parseReceiverLine('2026-11-26T17:48:34.000002Z 10.0.0.6:6665 <3>#2 [    2.000000] two');
  const c = parseReceiverLine('2026-11-26T17:48:34.000003Z 10.0.0.5:6665 <6>#3 [    3.000000] three');
  const body = lokiBody(
    [
      { line: a, id: '1' },
      { line: b, id: '2' },
      { line: c, id: '3' },
    ],
    'netconsole',
    0,
  );
  assert.equal(body.streams.length, 2);
  assert.deepEqual(body.streams[0]!.stream, { host: '10.0.0.5', source: 'netconsole', level: 'info' });
  assert.deepEqual(
    body.streams[0]!.values.map((v) => JSON.parse(v[1]).seq),
    [1, 3],
  );
  assert.equal(body.streams[0]!.values[0]![0], String((Date.UTC(2026, 10, 26, 17, 48, 34) * 1000 + 1) * 1000));
});

test('spool: streams, ordered files, whole lines only, links ignored, the limit skips the oldest', () => {
  const dir = tempDir('lantern-spool-');
  appendLines(join(dir, '10.0.0.5'), 3, 0, '2026-11-26');
  appendLines(join(dir, '10.0.0.5'), 2, 3, '2026-11-26', '2026-11-26.10.log');
  appendLines(join(dir, '10.0.0.5'), 2, 5, '2026-11-26', '2026-11-26.2.log');
  assert.deepEqual(streamsOf(dir), ['10.0.0.5']);
  assert.ok(compareLogNames('2026-11-26.2.log', '2026-11-26.10.log') < 0);
  const all = readLines(dir, '10.0.0.5', null, 1 << 20);
  assert.deepEqual(
    all.map((l) => parseReceiverLine(l.text).seq),
    [0, 1, 2, 5, 6, 3, 4],
    'by day, then index as a number',
  );
  // An unterminated last line of the newest file waits; then it is read once completed.
  appendFileSync(join(dir, '10.0.0.5', '2026-11-26.10.log'), '2026-11-26T17:48:35.000000Z 10.0.0.5:6665 half');
  const after = readLines(dir, '10.0.0.5', all[all.length - 1]!.next, 1 << 20);
  assert.equal(after.length, 0);
  appendFileSync(join(dir, '10.0.0.5', '2026-11-26.10.log'), ' done\n');
  assert.equal(readLines(dir, '10.0.0.5', all[all.length - 1]!.next, 1 << 20)[0]!.text.endsWith('half done'), true);
  // A planted link among the files is not read.
  writeFileSync(join(dir, 'secret'), 'secret\n');
  symlinkSync(join(dir, 'secret'), join(dir, '10.0.0.5', '2026-11-27.log'));
  assert.ok(readLines(dir, '10.0.0.5', null, 1 << 20).every((l) => !l.text.includes('secret')));
  // A combined file makes the directory one stream.
  appendLines(dir, 1, 100);
  assert.deepEqual(streamsOf(dir), ['']);
  // Limit: keep at most ~2 lines' bytes.
  const one = Buffer.byteLength(all[0]!.text) + 1;
  const sk = skipToLimit(dir, '10.0.0.5', null, 2 * one + 20);
  assert.ok(sk.skippedLines >= 5, `skipped ${sk.skippedLines}`);
  assert.ok(backlogBytes(dir, '10.0.0.5', sk.pos) <= 2 * one + 20);
});

test('metrics exposition escapes and names; addresses parse; bad URLs are one clear line', () => {
  const text = exposition([{ name: 'lantern_x_total', help: 'a\\b\nc', type: 'counter', samples: [{ labels: { d: 'q"\n\\' }, value: 3 }] }]);
  assert.equal(text, '# HELP lantern_x_total a\\\\b\\nc\n# TYPE lantern_x_total counter\nlantern_x_total{d="q\\"\\n\\\\"} 3\n');
  assert.deepEqual(parseMetricsAddress('9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseMetricsAddress('[::1]:9'), { host: '::1', port: 9 });
  assert.throws(() => parseMetricsAddress('host:99999'), /--metrics "host:99999": port 99999 is not in 1..65535 \(expected ADDR:PORT/);
  assert.deepEqual(parseDestinationUrl('syslog+tls://[::1]'), { kind: 'syslog-tls', host: '::1', port: 6514, path: '/loki/api/v1/push' });
  assert.throws(() => parseDestinationUrl('udp://x'), /unsupported scheme "udp:"/);
  assert.throws(() => parseDestinationUrl('nonsense'), /not a URL/);
});

const promtool = existsSync('/usr/bin/promtool') ? undefined : 'promtool is not installed (apt install prometheus)';

test('promtool check metrics accepts the forwarder metrics', { skip: facilitySkip(promtool) }, async () => {
  const { forwardMetrics } = await import('./cli.js');
  const { Forwarder } = await import('./forwarder.js');
  const dir = tempDir('lantern-fwd-metrics-');
  mkdirSync(join(dir, 'in'));
  const dest = { name: 'syslog+tcp://127.0.0.1:1', settleMs: 0, onBroken: () => undefined, send: () => Promise.resolve(), close: () => Promise.resolve() };
  const f = new Forwarder(dest, {
    dir: join(dir, 'in'),
    statePath: join(dir, 'state.json'),
    spoolLimit: 1e9,
    batchBytes: 1 << 20,
    batchLines: 100,
    pollMs: 10,
    backoffMinMs: 1,
    backoffMaxMs: 1,
    say: () => undefined,
  });
  const r = spawnSync('promtool', ['check', 'metrics'], { input: exposition(forwardMetrics([f], Date.now())), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
