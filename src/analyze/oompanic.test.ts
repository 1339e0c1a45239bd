/**
 * panic_on_oom: the panic line follows the OOM task table. The largest task of that table is
 * the panic's most useful fact, whether the table belongs to a full OOM report or the log
 * starts mid table (test/data/analyze/real/oom_panic_01.log, abrt/abrt kernel_panic_oom.test).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { Detector } from './detect.js';
import { scanStream } from './scan.js';
import type { Incident } from './model.js';

const realLog = readFileSync(new URL('../../test/data/analyze/real/oom_panic_01.log', import.meta.url), 'utf8');
const LARGEST = { pid: 39971, comm: 'webservice', rssPages: 542742 };

async function run(text: string, chunk = 1 << 20): Promise<Incident[]> {
  const incs: Incident[] = [];
  const det = new Detector((i) => incs.push(i));
  const buf = Buffer.from(text);
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += chunk) parts.push(buf.subarray(i, i + chunk));
  await scanStream(Readable.from(parts), det, { name: 't', refYear: 2024, refMonth: 11 });
  det.finish();
  return incs;
}

const panicOf = (incs: Incident[]) => incs.find((i) => i.kind === 'panic' && i.subkind === 'panic_on_oom');

test('a log that starts mid task table: the panic gets the largest task', async () => {
  const p = panicOf(await run(realLog));
  assert.deepEqual(p?.oom, { taskTableRows: 5, largestRssTask: LARGEST });
});

test('the same in a syslog envelope, after unrelated lines', async () => {
  const noise = 'Jun  1 10:00:00 db01 kernel: [890500.000000] e1000: eth0 NIC Link is Up 1000 Mbps Full Duplex\nJun  1 10:00:01 db01 sshd[99]: Accepted publickey for root\n';
  const syslog = realLog
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => `Jun  1 10:01:02 db01 kernel: ${l}`)
    .join('\n');
  const p = panicOf(await run(noise + syslog + '\n'));
  assert.deepEqual(p?.oom?.largestRssTask, LARGEST);
  assert.equal(p?.host, 'db01');
});

test('rows separated from the panic by another kernel line are not taken', async () => {
  const lines = realLog.split('\n');
  lines.splice(5, 0, '[890563.635408] e1000: eth0 NIC Link is Down');
  const p = panicOf(await run(lines.join('\n')));
  assert.ok(p);
  assert.equal(p.oom, undefined);
});

test('a full OOM report (header, table) ended by the panic: the panic gets its largest task', async () => {
  const head = [
    '[890563.600000] webservice invoked oom-killer: gfp_mask=0x201da, order=0, oom_score_adj=0',
    '[890563.600001] webservice cpuset=/ mems_allowed=0',
    '[890563.600002] CPU: 0 PID: 35943 Comm: webservice Not tainted 3.10.0-327.28.2.el7.x86_64 #1',
    '[890563.635390] [ pid ]   uid  tgid total_vm      rss nr_ptes swapents oom_score_adj name',
  ];
  const incs = await run(head.join('\n') + '\n' + realLog);
  const p = panicOf(incs);
  assert.deepEqual(p?.oom, { taskTableRows: 5, largestRssTask: LARGEST });
  // The OOM report itself is kept, partial (no victim: the panic came instead).
  assert.ok(incs.some((i) => i.kind === 'oom_kill' && i.partial));
});
