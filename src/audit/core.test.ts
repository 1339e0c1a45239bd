import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAuditRecord, withField } from './record.js';
import { escapeComm, formatHistory, PROCESS_HISTORY_FIELD } from './history.js';
import { Enricher, stripHistory, summaryLine } from './enrich.js';
import type { Resolution, Resolver } from './resolve.js';

const data = (f: string) => readFileSync(new URL(`../../test/data/audit/${f}`, import.meta.url), 'latin1');
const at = (iso: string) => Date.parse(iso) * 1000;

test("parses time, serial and the top-level pid; ppid and pids inside msg='…' do not count", () => {
  const sys = parseAuditRecord('type=SYSCALL msg=audit(1796291526.599:4): arch=c000003e ppid=1823 pid=1824 comm="a pid=9" key=(null)')!;
  assert.deepEqual([sys.type, sys.timeMs, sys.serial, sys.pid], ['SYSCALL', 1796291526599, 4, 1824]);
  const user = parseAuditRecord(data('user-msg.log').trimEnd())!;
  assert.equal(user.pid, 4242);
  const inner = parseAuditRecord('type=USER_CMD msg=audit(1.000:1): uid=0 msg=\'cwd="/" pid=77 res=success\'')!;
  assert.equal(inner.pid, null);
  assert.equal(parseAuditRecord('type=PATH msg=audit(1.5:1): item=0')?.pid ?? 'not a record', 'not a record', 'ms must have 3 digits');
  assert.equal(parseAuditRecord('Dec  3 09:50:01 host sshd[1]: pid=3'), null);
  assert.equal(parseAuditRecord('type=DAEMON_START msg=audit(1.000:1): op=start pid=?')!.pid, null);
});

test('ENRICHED records: the field goes before the interpreted part, the rest stays byte for byte', () => {
  const line = data('enriched-format.log').trimEnd();
  const rec = parseAuditRecord(line)!;
  const out = withField(line, rec, PROCESS_HISTORY_FIELD, '"a(2026/12/03-09:52:06)"');
  assert.match(out, / key="lantern-test" proc_history="a\(2026\/12\/03-09:52:06\)"\x1dARCH=x86_64 /);
  assert.equal(stripHistory(out), line);
});

test('history in TaskTracker form: =>, UTC exec times, \\ooo escaping, oldest steps dropped with a leading =>', () => {
  const steps = [
    { comm: 'init', timeUs: at('2014-05-04T01:04:33Z') },
    { comm: 'sh', timeUs: at('2014-05-04T01:07:03.999Z') },
    { comm: 'login', timeUs: at('2014-05-04T01:07:04Z') },
  ];
  assert.equal(formatHistory(steps), '"init(2014/05/04-01:04:33)=>sh(2014/05/04-01:07:03)=>login(2014/05/04-01:07:04)"');
  assert.equal(escapeComm('memfd:x y"=é'), 'memfd\\072x\\040y\\042\\075\\303\\251');
  assert.equal(formatHistory([]), '?');
  const long = Array.from({ length: 100 }, (_, i) => ({ comm: `p${i}`, timeUs: at('2026-12-03T09:00:00Z') }));
  const v = formatHistory(long);
  assert.ok(v.length <= 1000, `bounded: ${v.length}`);
  assert.ok(v.startsWith('"=>p'), 'a cut history starts with =>');
  assert.ok(v.endsWith('=>p99(2026/12/03-09:00:00)"'), 'the newest steps are kept');
  assert.ok(!/[ =][a-z_]+=/.test(v.replace(/=>/g, '')), 'no name= inside the value');
});

class FixedResolver implements Resolver {
  seen: Array<[number, number]> = [];
  constructor(private readonly by: Record<number, Resolution>) {}
  resolve(pid: number, atUs: number): Resolution {
    this.seen.push([pid, atUs]);
    return this.by[pid] ?? { source: 'unknown', why: 'test' };
  }
}

test('enricher: every line comes back, records with a pid gain one field, counters add up', async () => {
  const r = new FixedResolver({
    10: { source: 'store', steps: [{ comm: 'bash', timeUs: at('2026-12-03T09:00:00Z') }] },
    11: { source: 'proc', steps: [{ comm: 'sshd', timeUs: at('2026-12-03T08:00:00Z') }] },
  });
  const e = new Enricher({ resolver: r, settleMs: 0 });
  const input = [
    'type=SYSCALL msg=audit(1796291526.599:4): arch=c000003e pid=10 key=(null)',
    'type=CWD msg=audit(1796291526.599:4): cwd="/root"',
    'garbage \xff\xfe not a record',
    "type=USER_LOGIN msg=audit(1796291527.000:5): pid=11 uid=0 msg='op=login res=success'",
    'type=SYSCALL msg=audit(1796291528.000:6): pid=12 key=(null)',
    'type=SYSCALL msg=audit(1796291529.000:7): pid=10 no newline at the end',
  ].join('\n');
  // Fed in awkward pieces: lines split across chunks.
  let out = '';
  for (let i = 0; i < input.length; i += 7) out += await e.push(input.slice(i, i + 7));
  out += await e.end();
  const lines = out.split('\n');
  assert.equal(lines.length, 6);
  assert.equal(lines[0], 'type=SYSCALL msg=audit(1796291526.599:4): arch=c000003e pid=10 key=(null) proc_history="bash(2026/12/03-09:00:00)"');
  assert.equal(lines[2], 'garbage \xff\xfe not a record');
  assert.match(lines[3]!, /res=success' proc_history="sshd\(2026\/12\/03-08:00:00\)"$/);
  assert.match(lines[4]!, /pid=12 key=\(null\) proc_history=\?$/);
  assert.equal(lines.map(stripHistory).join('\n'), input, 'stripping the field gives back the input');
  assert.deepEqual(r.seen[0], [10, 1796291526599000]);
  const c = e.counts;
  assert.deepEqual(c, { lines: 6, records: 5, fromStore: 2, fromProc: 1, unknownPid: 1, noPid: 1, alreadyEnriched: 0, otherNode: 0, passedThrough: 1 });
  assert.equal(c.records, c.fromStore + c.fromProc + c.unknownPid + c.noPid);
  assert.equal(c.lines, c.records + c.passedThrough);
  assert.match(summaryLine(c), /6 lines read: 5 audit records \(3 enriched: 2 from the store, 1 from \/proc; 1 unknown pid; 1 without pid, unchanged\), 1 other lines passed through/);
});

test('enricher: a line over the limit passes through unchanged, counted once; a future record waits at most settle-ms', async () => {
  const sleeps: number[] = [];
  const e = new Enricher({
    resolver: new FixedResolver({}),
    settleMs: 1500,
    nowMs: () => 1_000_000,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
  });
  const big = 'x'.repeat((1 << 20) + 10);
  let out = await e.push(big.slice(0, 600_000));
  out += await e.push(big.slice(600_000) + '\ntype=SYSCALL msg=audit(999999999.000:1): pid=5\n');
  assert.equal(out, `${big}\ntype=SYSCALL msg=audit(999999999.000:1): pid=5 proc_history=?\n`);
  assert.equal(e.counts.passedThrough, 1);
  assert.deepEqual(sleeps, [1500]);
});

test('a file ending without newline is not glued to the next file: a newline is added only between inputs', async () => {
  const e = new Enricher({ resolver: new FixedResolver({}), settleMs: 0 });
  let out = await e.push('first\nno newline');
  out += await e.end(true);
  out += await e.push('type=CWD msg=audit(1.000:1): cwd="/"');
  out += await e.end();
  assert.equal(out, 'first\nno newline\ntype=CWD msg=audit(1.000:1): cwd="/"');
  assert.equal(e.counts.lines, 3);
});

test('an enriched log enriched again comes out unchanged, counted as already enriched', async () => {
  const r = new FixedResolver({ 10: { source: 'store', steps: [{ comm: 'bash', timeUs: at('2026-12-03T09:00:00Z') }] } });
  const once = new Enricher({ resolver: r, settleMs: 0 });
  const input = 'type=SYSCALL msg=audit(1796291526.599:4): arch=c000003e pid=10 key=(null)\n';
  const first = (await once.push(input)) + (await once.end());
  const twice = new Enricher({ resolver: r, settleMs: 0 });
  assert.equal((await twice.push(first)) + (await twice.end()), first);
  assert.equal(twice.counts.alreadyEnriched, 1);
  assert.match(summaryLine(twice.counts), /1 already enriched, unchanged/);
});

test('node= prefixed records: this host is enriched, another host passes unchanged, counted', async () => {
  const r = new FixedResolver({ 10: { source: 'store', steps: [{ comm: 'bash', timeUs: at('2026-12-03T09:00:00Z') }] } });
  const e = new Enricher({ resolver: r, settleMs: 0, localNodes: ['here'] });
  const ours = 'node=here type=SYSCALL msg=audit(1796291526.599:4): pid=10 key=(null)';
  const theirs = 'node=there type=SYSCALL msg=audit(1796291526.599:4): pid=10 key=(null)';
  const out = (await e.push(`${ours}\n${theirs}\n`)) + (await e.end());
  assert.equal(out, `${ours} proc_history="bash(2026/12/03-09:00:00)"\n${theirs}\n`);
  assert.equal(e.counts.otherNode, 1);
  assert.equal(parseAuditRecord(theirs)!.node, 'there');
  assert.match(summaryLine(e.counts), /1 from other hosts \(node=\), unchanged/);
});
