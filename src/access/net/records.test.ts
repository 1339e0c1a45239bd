/** The pure half of the network backend: program text from numbers only, and the record decoder. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { filterCondition, NET_OPS, netProgram } from './program.js';
import { emptyNetCounts, errnoName, exePath, formatIPv6, NetDecoder, nsTextToUs, parseNetCounts, parseSentMap, portFromWire, type NetRecord } from './records.js';
import { networkOperation } from './source.js';

test('addresses and ports are decoded from the words as the kernel stored them', () => {
  const d = new NetDecoder();
  // 127.0.0.1:53 — s_addr 0x0100007f, port bytes 00 35 loaded little-endian = 0x3500.
  const r = d.feed('N send 10 9 1000 1 123456789000 987654321000 2 2 17 16777343 0 0 0 13568 1 dig') as NetRecord;
  assert.equal(r.address, '127.0.0.1');
  assert.equal(r.port, 53);
  assert.equal(r.protocol, 'udp');
  assert.equal(r.sockType, 'dgram');
  assert.equal(r.pid, 9);
  assert.equal(r.tid, 10);
  assert.equal(r.uid, 1000);
  assert.equal(r.pstartUs, 123456789);
  assert.equal(r.monoUs, 987654321);
  assert.equal(r.errno, undefined);
  // ::1 port 5353, as printed by the program on this machine.
  const v6 = d.feed('N connect 5 5 0 1 1 1 10 2 17 0 0 0 16777216 59668 0 python3') as NetRecord;
  assert.equal(v6.address, '::1');
  assert.equal(v6.port, 5353);
  assert.equal(networkOperation(v6), 'inet dgram connect ::1 5353');
});

test('a comm with spaces and digits stays the comm; bad lines are counted, not thrown', () => {
  const d = new NetDecoder();
  const r = d.feed('N send 1 1 0 0 1 1 2 2 17 16777343 0 0 0 13568 -111 a b 1 2') as NetRecord;
  assert.equal(r.comm, 'a b 1 2');
  assert.equal(r.errno, 'ECONNREFUSED');
  assert.equal(d.feed('N send x'), null);
  assert.equal(d.feed('N nosuch 1 1 0 0 1 1 2 2 17 0 0 0 0 0 0 c'), null);
  assert.equal(d.feed(''), null);
  assert.equal(d.counters.malformed, 3);
  assert.equal(d.counters.records, 1);
});

test('unix paths: halves joined, abstract names as @name, a lost path counted', () => {
  const d = new NetDecoder();
  const long = 'y'.repeat(95);
  assert.equal(d.feed(`U 7 0 0 /tmp/${long.slice(0, 55)}`), null);
  assert.equal(d.feed(`U 7 0 1 ${long.slice(55)}`), null);
  const r = d.feed('N connect 7 7 0 1 1 1 1 2 0 0 0 0 0 0 -2 nc') as NetRecord;
  assert.equal(r.path, `/tmp/${long}`);
  assert.equal(r.errno, 'ENOENT');
  assert.equal(networkOperation(r), `unix dgram connect /tmp/${long}`);
  d.feed('U 8 1 0 lantern-sock');
  const a = d.feed('N bind 8 8 0 1 1 1 1 1 0 0 0 0 0 0 0 srv') as NetRecord;
  assert.equal(networkOperation(a), 'unix stream bind @lantern-sock');
  // A short first half: what follows in the second record is not part of the name.
  d.feed('U 9 0 0 /dev/log');
  d.feed('U 9 0 1 garbage');
  assert.equal((d.feed('N bind 9 9 0 1 1 1 1 2 0 0 0 0 0 0 0 rsyslogd') as NetRecord).path, '/dev/log');
  const lost = d.feed('N bind 11 11 0 1 1 1 1 2 0 0 0 0 0 0 0 x') as NetRecord;
  assert.equal(lost.path, '?');
  assert.equal(d.counters.unixWithoutPath, 1);
});

test('exe paths from dentry names: shallow, deep at the root, cut', () => {
  assert.equal(exePath(2, '///', 'usr/bin/cat'), '/usr/bin/cat');
  assert.equal(exePath(1, 'root/.pyenv/versions', '3.11.7/bin/python3.11'), '/root/.pyenv/versions/3.11.7/bin/python3.11');
  assert.equal(exePath(0, 'a/b/c', 'd/e/f'), '…/a/b/c/d/e/f');
  const d = new NetDecoder();
  assert.equal(d.feed('X 5 1000 1 4 usr/bin/cat'), null);
  assert.deepEqual(d.feed('X 5 1000 0 2 /////'), { pid: 5, ppid: 4, pstartUs: 1, path: '/usr/bin/cat' });
});

test('IPv6 text is RFC 5952; ports and errnos', () => {
  const b = (s: string) => Uint8Array.from(Buffer.from(s.replace(/:/g, ''), 'hex'));
  assert.equal(formatIPv6(b('2001:0db8:0000:0000:0001:0000:0000:0001')), '2001:db8::1:0:0:1');
  assert.equal(formatIPv6(b('0000:0000:0000:0000:0000:0000:0000:0000')), '::');
  assert.equal(formatIPv6(b('0000:0000:0000:0000:0000:ffff:7f00:0001')), '::ffff:127.0.0.1');
  assert.equal(formatIPv6(b('fe80:0000:0000:0000:0000:0000:0000:0000')), 'fe80::');
  assert.equal(formatIPv6(b('2001:0db8:0001:0001:0001:0001:0000:0001')), '2001:db8:1:1:1:1:0:1');
  assert.equal(portFromWire(0x3500), 53);
  assert.equal(errnoName(-13), 'EACCES');
  assert.equal(errnoName(9999), 'errno 9999');
  assert.equal(nsTextToUs('123456789012345678901'), 123456789012345678);
});

test('non-blocking connect under way is not a failure; stream sends have no access line', () => {
  const d = new NetDecoder();
  const r = d.feed('N connect 1 1 0 0 1 1 2 1 6 16777343 0 0 0 20480 -115 curl') as NetRecord;
  assert.equal(r.errno, undefined);
  assert.equal(networkOperation(r), 'inet stream connect 127.0.0.1 80');
  const s = d.feed('N send 1 1 0 0 1 1 2 1 6 16777343 0 0 0 20480 10 curl') as NetRecord;
  assert.equal(networkOperation(s), null);
});

test('the program holds only validated numbers from the filter', () => {
  assert.throws(() => filterCondition({ port: 70000 }), /port must be an integer/);
  assert.throws(() => filterCondition({ port: 1.5 }), /port/);
  assert.throws(() => filterCondition({ address: new Uint8Array(5) }), /4 or 16 bytes/);
  assert.throws(() => netProgram({ ops: ['send'], unix: false, dedupe: false, countSends: false, excludePids: [-1] }), /pid/);
  assert.throws(() => netProgram({ ops: ['send; system("x")' as never], unix: false, dedupe: false, countSends: false }), /unknown network operation/);
  const c = filterCondition({ protocol: 'udp', port: 53, address: Uint8Array.of(127, 0, 0, 1) });
  assert.match(c, /\$proto == 17/);
  assert.match(c, /\$port == 13568/);
  assert.match(c, /\$a0 == 16777343/);
  const p = netProgram({ ops: ['send'], unix: false, dedupe: false, countSends: false, filter: { port: 53 } });
  assert.doesNotMatch(p, /sys_enter_connect/);
  assert.match(p, /sock_send_length/);
});

test('the kernel send counter map decodes to counts per process, destination and outcome', () => {
  const { counts, malformed } = parseSentMap({ '@sent': { '9,123456000,2,2,16777343,0,0,0,13568,0': 41, '9,123456000,2,2,16777343,0,0,0,13568,1': 1, 'bad,key': 3 } });
  assert.equal(malformed, 1);
  assert.deepEqual(counts[0], { pid: 9, pstartUs: 123456, sockType: 'dgram', family: 'inet', address: '127.0.0.1', port: 53, failed: false, count: 41 });
  assert.equal(counts[1]!.failed, true);
  assert.deepEqual(parseSentMap(null), { counts: [], malformed: 0 });
});

test('the kernel counter map decodes to counts per operation and outcome; bad keys are counted', () => {
  const r = parseNetCounts({ '@netcount': { '1,0': 2, '1,1': 99998, '4,2': 1, '9,0': 5, 'x,1': 1, '0,0': -1 } })!;
  assert.equal(r.malformed, 3);
  assert.deepEqual(r.counts.connect, { printed: 2, duplicate: 99998, printedMapFull: 0 });
  assert.deepEqual(r.counts.accept, { printed: 0, duplicate: 0, printedMapFull: 1 });
  assert.deepEqual(r.counts.send, emptyNetCounts().send);
  assert.equal(parseNetCounts({ '@sent': {} }), null, 'another map is not the counter map');
  assert.deepEqual(parseNetCounts({ '@netcount': {} }), { counts: emptyNetCounts(), malformed: 0 });
});

test('the access program dedupes in the kernel and skips what has no line; who-sends prints every connect', () => {
  const access = netProgram({ ops: NET_OPS, unix: true, dedupe: true, countSends: false, dgramSendsOnly: true });
  assert.match(access, /@seen\[pid, curtask->start_boottime, \(uint64\)curtask->mm, 1,/, 'connect keyed by process image');
  assert.match(access, /clear\(@seen\)/, 'a full map is emptied');
  assert.match(access, /if \(\$type == 2\)/, 'datagram sends only');
  assert.doesNotMatch(access, /sched_process_exec|@sent/, 'no exec records, no per-send counts');
  assert.match(access, /struct unix_sock/, 'unix listen and accept');
  const who = netProgram({ ops: ['send', 'connect'], unix: false, dedupe: false, countSends: true, exes: true, filter: { protocol: 'tcp', port: 25 } });
  assert.doesNotMatch(who, /@seen/, 'who-sends: no dedupe map');
  assert.match(who, /@sent\[/);
  assert.match(who, /sched_process_exec/);
  assert.match(who, /@netcount\[1, 0\] = count\(\); printf\("N %s/, 'every connect printed and counted');
});
