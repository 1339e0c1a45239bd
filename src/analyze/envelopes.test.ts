/**
 * Logs in envelopes the case formats (casegen.ts) do not re-create from a dmesg-layout case, kept
 * as they come (test/data/analyze/envelopes/<name>.log with <name>.expected.json, same layout as
 * the cases, plus the wall time and host of each incident): syslog without a host field, OpenWrt
 * logread from an ARM board, busybox syslogd, a VM/container log collector's lines, and
 * `kubectl logs --timestamps` of a pod that streams the kernel log (an unknown prefix before every
 * kernel message; the detector finds the header after it, the way syzkaller does).
 *
 * `LANTERN_UPDATE=1 npm test -- analyze` rewrites their results part too (golden.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { analyzeText, expectedOf, updateCaseFiles, type ExpectedFile } from './golden.js';

const dir = new URL('../../test/data/analyze/envelopes/', import.meta.url);

if (process.env['LANTERN_UPDATE'] === '1') {
  const changed = await updateCaseFiles(fileURLToPath(dir), true, { envelope: true });
  console.log(`LANTERN_UPDATE: ${changed.length} envelope file(s) rewritten${changed.length ? ': ' + changed.join(', ') : ''}`);
}

const logs = readdirSync(dir)
  .filter((f) => f.endsWith('.log'))
  .sort();

test('the envelope files are all there', () => {
  assert.deepEqual(logs, ['busybox_hung_task.log', 'collector_gpf.log', 'kubectl_timestamps_oops.log', 'logread_arm_oops.log', 'syslog_nohost_mce.log']);
});

for (const f of logs) {
  test(`envelope ${f}`, async () => {
    const exp = JSON.parse(readFileSync(new URL(f.replace(/\.log$/, '.expected.json'), dir), 'utf8')) as ExpectedFile;
    assert.ok(typeof exp['source'] === 'string' && exp['source'] !== 'TODO', `${f}: no source`);
    const got = await analyzeText(readFileSync(new URL(f, dir), 'utf8'), f);
    assert.deepEqual(
      got.map((i) => expectedOf(i, { envelope: true })),
      exp.incidents,
    );
  });
}

test('a header is looked for after a prefix only where no envelope was recognised and the prefix is no device tag', async () => {
  const lines = [
    // A device's tag before a message that quotes a header word (dmesg without stamps): no incident.
    'nouveau 0000:01:00.0: WARNING: fifo: read fault at 0000000000 engine 00 [GR] client 08',
    // A known envelope whose message quotes a header word mid-line: no incident either.
    "[   12.345678] audit: type=1107 audit(1714716000.123:41): pid=1 uid=0 msg='BUG: unit said so'",
    // A line of another program in a collector's format: not a kernel line.
    '2024-05-01T10:00:00.101223+0000 UTC daemon.info containerd[811]: BUG: shim disconnected',
  ];
  const got = await analyzeText(lines.join('\n') + '\n', 'mixed.log');
  assert.deepEqual(
    got.map((i) => i.title),
    [],
  );
});
