/** The parsers only `lantern check` uses (the shared file formats are tested in src/host/formats/). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { autoCrashBytes, dmesgCrashLines, dmesgLogBufBytes, iomemCrashBytes, parseAuditctlStatus, parseCrashkernel, parseSize, recommendedCrashBytes } from './parse.js';

const M = 2 ** 20;
const G = 2 ** 30;

test('crashkernel: fixed, ranges chosen by RAM, auto, offsets, malformed', () => {
  assert.deepEqual(parseCrashkernel('256M', null), { kind: 'fixed', bytes: 256 * M, offset: undefined, high: false });
  assert.equal((parseCrashkernel('512M,high', null) as { high: boolean }).high, true);
  assert.equal((parseCrashkernel('128M@16M', null) as { offset: string }).offset, '16M');
  const r = parseCrashkernel('1G-4G:192M,4G-64G:256M,64G-:512M', 32 * G);
  assert.equal(r.kind === 'ranges' && r.bytes, 256 * M);
  const none = parseCrashkernel('1G-4G:192M,4G-64G:256M', 512 * M);
  assert.equal(none.kind === 'ranges' && none.bytes, null);
  assert.equal(parseCrashkernel('384M-:128M', 8 * G).kind === 'ranges' && (parseCrashkernel('384M-:128M', 8 * G) as { bytes: number }).bytes, 128 * M);
  assert.deepEqual(parseCrashkernel('auto', 8 * G), { kind: 'auto' });
  assert.equal(parseCrashkernel('lots', 8 * G).kind, 'invalid');
  assert.equal(parseCrashkernel('1G-x:5', 8 * G).kind, 'invalid');
});

test('crash reservation defaults per release (readiness.md §2.1)', () => {
  assert.equal(recommendedCrashBytes(3 * G), 192 * M);
  assert.equal(recommendedCrashBytes(32 * G), 256 * M);
  assert.equal(recommendedCrashBytes(128 * G), 512 * M);
  assert.equal(autoCrashBytes(6, 1.5 * G), 0, 'RHEL 6 auto reserves nothing below 2 GB');
  assert.equal(autoCrashBytes(7, 16 * G), 161 * M + 64 * M);
  assert.equal(autoCrashBytes(8, 3.7 * G), 160 * M);
  assert.equal(autoCrashBytes(9, 16 * G), null);
});

test('iomem and dmesg crash kernel lines', () => {
  assert.deepEqual(iomemCrashBytes('00100000-bfedffff : System RAM\n  03000000-0b0fffff : Crash kernel\n'), { bytes: 129 * M, zeroed: false });
  assert.deepEqual(iomemCrashBytes('  00000000-00000000 : Crash kernel\n'), { bytes: 0, zeroed: true });
  assert.equal(iomemCrashBytes('00100000-bfedffff : System RAM\n'), null);
  const d = dmesgCrashLines('[    0.000000] crashkernel=auto resulted in zero bytes of reserved memory.\nReserving 129MB of memory at 48MB for crashkernel (System RAM: 16384MB)\n');
  assert.equal(d.failed.length, 1);
  assert.equal(d.reserved.length, 1);
});

test('audit status, printk buffer size, sizes', () => {
  assert.deepEqual(parseAuditctlStatus('AUDIT_STATUS: enabled=1 flag=1 pid=1450 rate_limit=0 backlog_limit=320 lost=0 backlog=0'), { enabled: 1, pid: 1450 });
  assert.deepEqual(parseAuditctlStatus('enabled 1\nfailure 1\npid 712\n'), { enabled: 1, pid: 712 });
  assert.equal(dmesgLogBufBytes('[    0.032524] printk: log buffer data + meta data: 131072 + 458752 = 589824 bytes')!.bytes, 131072);
  assert.equal(dmesgLogBufBytes('[    0.000000] log_buf_len: 4194304 bytes')!.bytes, 4194304);
  assert.equal(parseSize('4M'), 4 * M);
  assert.equal(parseSize('x'), null);
});

test('parsers never throw on arbitrary input', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (s) => {
      parseCrashkernel(s, 8 * G);
      iomemCrashBytes(s);
      dmesgCrashLines(s);
      dmesgLogBufBytes(s);
      parseAuditctlStatus(s);
      return true;
    }),
  );
});
