/**
 * Bad input never crashes and never loses what can be kept: truncated, interleaved, corrupted,
 * binary and random logs; memory stays bounded (excerpt, frame and SysRq task caps).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { Detector } from './detect.js';
import { NotTextError, scanStream } from './scan.js';
import type { Incident } from './model.js';

const real = new URL('../../test/data/analyze/real/', import.meta.url);
const cases = new URL('../../test/data/analyze/cases/', import.meta.url);

async function run(data: Buffer | string, chunk = 4096): Promise<{ incs: Incident[]; lines: number }> {
  const incs: Incident[] = [];
  const det = new Detector((i) => incs.push(i));
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += chunk) parts.push(buf.subarray(i, i + chunk));
  const res = await scanStream(Readable.from(parts), det, { name: 't', refYear: 2024, refMonth: 11 });
  det.finish();
  return { incs, lines: res.lines };
}

test('every real log cut at every 7th line: no crash, the cut report is kept and marked partial when it lost its trace', async () => {
  for (const f of readdirSync(real).filter((n) => n.endsWith('.log'))) {
    const lines = readFileSync(new URL(f, real), 'utf8').split('\n');
    for (let cut = 1; cut < lines.length; cut += 7) {
      const { incs } = await run(lines.slice(0, cut).join('\n'));
      for (const i of incs) {
        assert.ok(i.title.length > 0);
        if (i.partial) assert.ok(i.partialReasons.length > 0, `${f}@${cut}: partial without reason`);
      }
    }
  }
});

test('a hung-task report cut before its stack is a partial incident, not a lost one', async () => {
  const { incs } = await run('[ 100.000000] INFO: task kworker/1:2:77 blocked for more than 120 seconds.\n[ 100.000100] "echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.\n');
  assert.equal(incs.length, 1);
  assert.equal(incs[0]!.kind, 'hung_task');
  assert.equal(incs[0]!.partial, true);
  assert.match(incs[0]!.partialReasons.join(), /log ends before the report does/);
});

test('two hosts interleaved on one stream keep one report each', async () => {
  const a = readFileSync(new URL('hung_task_3.10.log', cases), 'utf8').trimEnd().split('\n');
  const b = readFileSync(new URL('soft_lockup_3.10.log', cases), 'utf8').trimEnd().split('\n');
  const out: string[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i]) out.push(`May  3 06:00:0${i % 10} alpha kernel: ${a[i]}`);
    if (b[i]) out.push(`May  3 06:00:0${i % 10} beta kernel: ${b[i]}`);
  }
  const { incs } = await run(out.join('\n') + '\n');
  assert.deepEqual(incs.map((i) => `${i.host} ${i.title}`).sort(), ['alpha INFO: task hung in _xfs_log_force', 'beta BUG: soft lockup in megasas_fault_detect_work']);
});

test('random bytes, random lines and mangled real logs never throw', async () => {
  const corpus = readdirSync(real)
    .filter((n) => n.endsWith('.log'))
    .map((f) => readFileSync(new URL(f, real), 'utf8'));
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 1, max: 600 }), async (bytes, chunk) => {
      // Random bytes are mostly judged binary: a refusal with a reason is the one allowed error.
      await run(Buffer.from(bytes), chunk).catch((e) => {
        if (!(e instanceof NotTextError)) throw e;
      });
    }),
    { numRuns: 150 },
  );
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: corpus.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.constantFrom('drop', 'dup', 'swap', 'garble', 'cr', 'nul')), { maxLength: 12 }),
      async (idx, edits) => {
        const lines = corpus[idx]!.split('\n');
        for (const [n, op] of edits) {
          const i = n % Math.max(1, lines.length);
          if (op === 'drop') lines.splice(i, 1);
          else if (op === 'dup') lines.splice(i, 0, lines[i] ?? '');
          else if (op === 'swap' && i + 1 < lines.length) [lines[i], lines[i + 1]] = [lines[i + 1]!, lines[i]!];
          else if (op === 'garble') lines[i] = (lines[i] ?? '').slice(0, (n % 40) + 1) + '\ufffd\x1b[31m';
          else if (op === 'cr') lines[i] = (lines[i] ?? '') + '\r';
          else if (op === 'nul') lines[i] = '\0' + (lines[i] ?? '');
        }
        const { incs } = await run(lines.join('\n'), 257);
        for (const i of incs) assert.equal(typeof i.title, 'string');
      },
    ),
    { numRuns: 200 },
  );
});

test('line numbers count every line, including the skipped ones', async () => {
  const noise = Array.from({ length: 5000 }, (_, i) => `May  3 06:00:00 h sshd[${i}]: noise ${i}`).join('\n');
  const { incs, lines } = await run(`${noise}\nMay  3 06:00:01 h kernel: Kernel panic - not syncing: Fatal exception\nlast line without newline`, 1000);
  assert.equal(lines, 5002);
  assert.equal(incs[0]!.lineNo, 5001);
});

test('memory stays bounded: excerpts, frames and SysRq task lists are capped but counted', async () => {
  const head = '[ 10.000000] SysRq : Show State\n';
  const tasks: string[] = [];
  for (let i = 0; i < 5000; i++) {
    tasks.push(`[ 10.${String(i).padStart(6, '0')}] worker${i % 100}      D ffff8b1a3fc13680     0 ${1000 + i}      2 0x00000000`);
    tasks.push(`[ 10.${String(i).padStart(6, '0')}] Call Trace:`);
    for (let f = 0; f < 40; f++) tasks.push(`[ 10.${String(i).padStart(6, '0')}]  [<ffffffff8f167c49>] fn_${i % 3}_${f}+0x29/0x70`);
  }
  const { incs } = await run(head + tasks.join('\n') + '\n', 1 << 16);
  assert.equal(incs.length, 1);
  const s = incs[0]!.sysrq!;
  assert.equal(s.tasks, 5000);
  assert.equal(s.byState['D'], 5000);
  assert.ok(s.kept.length <= 200);
  assert.equal(s.blockedGroups.length, 3);
  assert.equal(
    s.blockedGroups.reduce((n, g) => n + g.count, 0),
    5000,
  );
  assert.ok(incs[0]!.excerpt.length <= 102);
  assert.ok(incs[0]!.excerptOmitted > 200000);
  assert.ok(incs[0]!.frames.length <= 32);
});

test('an overlong line is cut and counted, not held', async () => {
  const incs: Incident[] = [];
  const det = new Detector((i) => incs.push(i));
  const long = 'x'.repeat(3 << 20);
  const res = await scanStream(Readable.from([Buffer.from(`[ 1.000000] BUG: soft lockup - CPU#0 stuck for 22s! [a:1]${long}\n`)]), det, {
    name: 't',
    refYear: 2024,
    refMonth: 0,
    maxLineChars: 1 << 16,
  });
  det.finish();
  assert.equal(res.overlongLines, 1);
  assert.equal(incs[0]!.kind, 'soft_lockup');
});

test('invalid UTF-8 is counted and replaced, valid UTF-8 kept', async () => {
  const incs: Incident[] = [];
  const det = new Detector((i) => incs.push(i));
  const bytes = Buffer.concat([Buffer.from('[ 1.000000] Kernel panic - not syncing: caf\u00e9 '), Buffer.from([0xff, 0xfe]), Buffer.from('\n')]);
  const res = await scanStream(Readable.from([bytes]), det, { name: 't', refYear: 2024, refMonth: 0 });
  det.finish();
  assert.equal(res.invalidUtf8Lines, 1);
  assert.match(incs[0]!.headline, /café \ufffd\ufffd$/);
});

test('a boot-relative log gets wall-clock times from the RTC line of its boot', async () => {
  const { incs } = await run(
    '[    0.000000] Linux version 5.14.0-70.el9.x86_64 (mockbuild@x86-vm-07) (gcc 11) #1 SMP\n' +
      '[    1.402233] rtc_cmos 00:00: setting system clock to 2024-05-03T06:00:01 UTC (1714716001)\n' +
      '[  100.500000] BUG: soft lockup - CPU#0 stuck for 22s! [a:1]\n[  100.500001]  foo_bar+0x1/0x2\n' +
      '[    0.000000] Linux version 5.14.0-70.el9.x86_64 (mockbuild@x86-vm-07) (gcc 11) #1 SMP\n' +
      '[  100.500000] BUG: soft lockup - CPU#0 stuck for 22s! [a:1]\n[  100.500001]  foo_bar+0x1/0x2\n',
  );
  const lockups = incs.filter((i) => i.kind === 'soft_lockup');
  assert.equal(lockups[0]!.wall?.iso, '2024-05-03T06:01:40.098Z');
  assert.equal(lockups[1]!.wall, undefined, 'a new boot forgets the old boot time');
  assert.equal(lockups[1]!.boot, 2);
});

test('timeline: an undated incident keeps its place among the dated ones of its input', async () => {
  const { Collector } = await import('./group.js');
  const { incs } = await run(
    '[    0.000000] Linux version 5.14.0-70.el9.x86_64 (mockbuild@x86-vm-07) (gcc 11) #1 SMP\n' +
      '[    1.402233] rtc_cmos 00:00: setting system clock to 2024-05-03T06:00:01 UTC (1714716001)\n' +
      '[  100.500000] BUG: soft lockup - CPU#0 stuck for 22s! [a:1]\n[  100.500001]  foo_bar+0x1/0x2\n',
  );
  const c = new Collector();
  for (const i of incs) c.add(i);
  assert.deepEqual(
    c.sortedTimeline().map((e) => e.kind),
    ['boot', 'soft_lockup'],
  );
});

test('a panic right after an oops names it', async () => {
  const { incs } = await run(readFileSync(new URL('gpf_02.log', real)));
  const panic = incs.find((i) => i.kind === 'panic')!;
  assert.equal(panic.facts['after'], 'general protection fault in dup_mm');
});

test('sanitizer titles follow syzkaller (bug type and access, no `BUG: `) and drop run details', async () => {
  const { incs } = await run(
    '[ 1.0] BUG: KASAN: use-after-free in tcp_retransmit_timer+0x2a/0x50\n[ 1.1] Read of size 8 at addr ffff8880 by task swapper/0/0\n[ 1.2] Call Trace:\n' +
      '[ 1.3]  dump_stack+0x1/0x2\n[ 1.4]  kasan_report+0x1/0x2\n[ 1.5]  tcp_retransmit_timer+0x2a/0x50\n[ 1.6]  tcp_write_timer_handler+0x1/0x2\n' +
      '[ 2.0] BUG: scheduling while atomic: swapper/0/0/0x00000100\n[ 2.1] Call Trace:\n[ 2.2]  dump_stack+0x1/0x2\n[ 2.3]  __schedule_bug+0x1/0x2\n[ 2.4]  acme_poll+0x1/0x2 [acme]\n',
  );
  assert.deepEqual(
    incs.map((i) => i.title),
    ['KASAN: use-after-free Read in tcp_retransmit_timer', 'BUG: scheduling while atomic in acme_poll'],
  );
});

test('a report of a host that went quiet is closed after 5000 lines of other hosts', async () => {
  const lines = [
    'May  3 06:00:00 alpha kernel: INFO: task df:77 blocked for more than 120 seconds.',
    'May  3 06:00:00 alpha kernel: Call Trace:',
    'May  3 06:00:00 alpha kernel:  fuse_simple_request+0x1/0x2',
  ];
  for (let i = 0; i < 7000; i++) lines.push(`May  3 06:00:01 beta kernel: e1000e: eth0 link up ${i}`);
  const incs: Incident[] = [];
  const det = new Detector((i) => incs.push(i));
  await scanStream(Readable.from([Buffer.from(lines.join('\n') + '\n')]), det, { name: 't', refYear: 2024, refMonth: 11 });
  assert.equal(incs.length, 1, 'closed before the end of the input');
  assert.equal(incs[0]!.title, 'INFO: task hung in fuse_simple_request');
  assert.equal(det.hasOpen(), false);
  det.finish();
});

test('adversarial long lines full of header words finish quickly', async () => {
  const t0 = Date.now();
  const evil = 'INFO: task '.repeat(6000) + ' BUG: soft lockup - CPU#'.repeat(2000) + ' invoked oom-killer: ' + '['.repeat(5000);
  await run(`[ 1.0] ${evil}\n`.repeat(20), 1 << 16);
  // Generous bound for a loaded machine; without the cap this takes minutes.
  assert.ok(Date.now() - t0 < 20000, `took ${Date.now() - t0} ms`);
});

test('sanitizer and debug headers with arbitrary tails never throw and give titles without addresses', async () => {
  const heads = ['BUG: KASAN: ', 'BUG: KFENCE: ', 'BUG: KMSAN: ', 'BUG: KCSAN: ', 'UBSAN: ', 'ODEBUG: ', 'usercopy: '];
  const word = fc.constantFrom(
    'use-after-free',
    'in',
    'on address',
    'read',
    'write',
    'invalid free',
    'acme_fn+0x1/0x2',
    '0xffffffffc0123456',
    'ffff888012345678',
    'x.c:12:3',
    '[acme]',
    '',
    ' ',
    ':',
    '(offset 4, size 8)!',
  );
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...heads), fc.array(word, { maxLength: 6 }), fc.boolean(), async (head, words, withTrace) => {
      const lines = [`[ 1.000000] ${head}${words.join(' ')}`, '[ 1.000001] Read of size 8 at addr ffff888012345678 by task a/1'];
      if (withTrace) lines.push('[ 1.000002] Call Trace:', '[ 1.000003]  acme_caller+0x1/0x2 [acme]', '[ 1.000004] ======================================================');
      const { incs } = await run(lines.join('\n') + '\n');
      for (const i of incs) assert.doesNotMatch(i.title, /[0-9a-f]{6,}|0x[0-9a-f]+|\+0x/, `${head}${words.join(' ')} -> ${i.title}`);
    }),
    { numRuns: 300 },
  );
});
