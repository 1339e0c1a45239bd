import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dmesgLine, IncidentLimiter, kmsgVerdict, matchHungLine, parseInterval, parseKmsgRecord, parseSysrqLetters, statState } from './core.js';

test('kmsg records: header fields, facility, escapes, continuation dictionary', () => {
  const r = parseKmsgRecord('3,913,3773054243,-,caller=T33;INFO: task sh:11248 blocked for more than 3 seconds.\n SUBSYSTEM=x\n');
  assert.deepEqual(r, { seq: 913, tsUs: 3773054243, level: 3, facility: 0, cont: false, text: 'INFO: task sh:11248 blocked for more than 3 seconds.' });
  assert.equal(parseKmsgRecord('12,5,6,-;injected')!.facility, 1);
  assert.equal(parseKmsgRecord('6,1,2,-;a\\x5cb\\x0ac')!.text, 'a\\b\\x0ac', 'printable escapes decoded, control characters kept escaped');
  assert.equal(parseKmsgRecord('garbage'), null);
  assert.equal(parseKmsgRecord('x,1,2,-;t'), null);
});

test('hung line: comm with colons, the pid and seconds; other lines are not reports', () => {
  assert.deepEqual(matchHungLine('INFO: task kworker/1:2:77 blocked for more than 120 seconds.'), { comm: 'kworker/1:2', tid: 77, blockedSecs: 120 });
  assert.deepEqual(matchHungLine('INFO: task sh:11248 blocked for more than 3 seconds.'), { comm: 'sh', tid: 11248, blockedSecs: 3 });
  assert.equal(matchHungLine('"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.'), null);
  assert.equal(matchHungLine('xINFO: task sh:1 blocked for more than 3 seconds.'), null);
});

test('old-record rule: never act twice on a seq of this boot; the backlog only when remembered and young', () => {
  const ctx = (backlog: boolean) => ({ backlog, nowBootUs: 100_000_000, backlogWindowUs: 60_000_000 });
  const mem = { bootId: 'B', lastSeq: 50 };
  assert.equal(kmsgVerdict({ seq: 50, tsUs: 99_000_000 }, mem, 'B', ctx(false)), 'old');
  assert.equal(kmsgVerdict({ seq: 51, tsUs: 99_000_000 }, mem, 'B', ctx(false)), 'new');
  assert.equal(kmsgVerdict({ seq: 51, tsUs: 99_000_000 }, mem, 'B', ctx(true)), 'new', 'arrived while the recorder restarted');
  assert.equal(kmsgVerdict({ seq: 51, tsUs: 10_000_000 }, mem, 'B', ctx(true)), 'old', 'too old to act on');
  assert.equal(kmsgVerdict({ seq: 51, tsUs: 99_000_000 }, null, 'B', ctx(true)), 'old', 'first start: the backlog is not ours');
  assert.equal(kmsgVerdict({ seq: 3, tsUs: 1 }, mem, 'OTHER', ctx(false)), 'new', 'another boot: seqs start again');
});

test('once per incident: reports within min_interval are the same incident', () => {
  let next = 10;
  const lim = new IncidentLimiter(5000);
  assert.deepEqual(
    lim.decide(1000, () => next++),
    { act: true, incident: 10 },
  );
  assert.deepEqual(
    lim.decide(5999, () => next++),
    { act: false, incident: 10 },
  );
  assert.deepEqual(
    lim.decide(6000, () => next++),
    { act: true, incident: 11 },
  );
  const every = new IncidentLimiter(0);
  assert.equal(every.decide(1, () => 1).act, true);
  assert.equal(every.decide(1, () => 2).act, true);
});

test('stat state, dmesg rendering, intervals, SysRq letters', () => {
  assert.equal(statState('11248 (s h) (x)) D 1 11248'), 'D');
  assert.equal(statState('1 (init) S 0'), 'S');
  assert.equal(statState('nonsense'), null);
  assert.equal(dmesgLine({ tsUs: 4904412345, text: 'INFO: task sh:1 blocked' }), '[ 4904.412345] INFO: task sh:1 blocked');
  assert.equal(dmesgLine({ tsUs: 5, text: 'a\nb' }), '[    0.000005] a b');
  assert.equal(parseInterval('5m'), 300_000);
  assert.equal(parseInterval('500ms'), 500);
  assert.equal(parseInterval(30), 30_000);
  assert.equal(parseInterval('1h'), 3_600_000);
  assert.equal(parseInterval(' 30 s '), 30_000);
  assert.equal(parseInterval('90'), 90_000, 'a bare number is seconds here');
  assert.equal(parseInterval('soon'), null);
  assert.equal(parseInterval('5min'), null);
  assert.equal(parseInterval(-1), null);
  assert.deepEqual(parseSysrqLetters(['w', 't', 'w']), ['w', 't']);
  assert.deepEqual(parseSysrqLetters('t,m'), ['t', 'm']);
  assert.match(parseSysrqLetters(['b']) as string, /one of/, 'reboot is never a hung-task action');
});
