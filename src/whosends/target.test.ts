/** Pure: who-sends targets and the report lines. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CliError } from '../common/exit.js';
import { checkEndpointCases } from '../common/endpoint-cases.js';
import type { NetRecord } from '../access/net/records.js';
import { eventJson, eventLine, Senders, summaryText } from './report.js';
import { ipv6Bytes, parseTarget, targetText } from './target.js';

test('targets: address and port, IPv6 in brackets, a whole address, a port', () => {
  const t = parseTarget('udp', '127.0.0.1:53');
  assert.deepEqual([...t.address!], [127, 0, 0, 1]);
  assert.equal(t.port, 53);
  assert.equal(targetText(t), '127.0.0.1:53');
  const v6 = parseTarget('udp', '[::1]:53');
  assert.equal(v6.addressText, '::1');
  assert.equal(v6.address!.length, 16);
  assert.equal(v6.address![15], 1);
  assert.equal(targetText(v6), '[::1]:53');
  assert.equal(targetText(parseTarget('tcp', '::1')), '[::1]:*');
  assert.equal(targetText(parseTarget('tcp', '[2001:DB8::0:1]')), '[2001:db8::1]:*');
  assert.equal(targetText(parseTarget('tcp', '10.0.0.1')), '10.0.0.1:*');
  assert.equal(targetText(parseTarget('tcp', '53')), '*:53');
  assert.equal(targetText(parseTarget('tcp', ':53')), '*:53');
  assert.deepEqual([...ipv6Bytes('::ffff:127.0.0.1')].slice(10), [0xff, 0xff, 127, 0, 0, 1]);
  assert.deepEqual([...ipv6Bytes('fe80::1:2')], [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2]);
});

test('targets: the spellings of the shared ADDRESS:PORT table', () => {
  checkEndpointCases('who-sends', (s) => targetText(parseTarget('udp', s)));
});

test('bad targets are usage errors (64) that say what is wrong', () => {
  for (const [p, s, why] of [
    ['udp', '1.2.3:53', /not an IPv4 or IPv6 address/],
    ['udp', '127.0.0.1:0', /port 0 is not in 1\.\.65535/],
    ['udp', '127.0.0.1:65536', /not in 1\.\.65535/],
    ['udp', '127.0.0.1:5x', /not a port/],
    ['udp', '[::1]:', /no port/],
    ['udp', '', /empty/],
    ['udp', 'host.example:53', /not an IPv4 or IPv6 address/],
    ['udp', '[fe80::1%eth0]:53', /not an IPv4 or IPv6 address/],
    ['sctp', '53', /protocol must be udp or tcp/],
  ] as const) {
    assert.throws(
      () => parseTarget(p, s),
      (e: unknown) => e instanceof CliError && e.exitCode === 64 && why.test(e.message) && !e.message.includes('\n'),
      `${p} ${s}`,
    );
  }
});

const rec = (over: Partial<NetRecord> = {}): NetRecord => ({
  op: 'send',
  tid: 7,
  pid: 7,
  uid: 1000,
  ppid: 1,
  pstartUs: 5,
  monoUs: 0,
  family: 'inet',
  sockType: 'dgram',
  protocol: 'udp',
  address: '127.0.0.1',
  port: 53,
  ret: 7,
  comm: 'dig',
  ...over,
});

test('event lines and the summary', () => {
  const lineage = { program: '/usr/bin/dig', domain: '<kernel> /sbin/init /usr/bin/bash /usr/bin/dig', source: 'proc' as const };
  const e = { timeUs: Date.UTC(2026, 11, 3, 11, 52, 1) * 1000 + 123456, record: rec(), lineage };
  assert.equal(
    eventLine(e),
    '2026-12-03T11:52:01.123456Z pid=7 uid=1000 program=/usr/bin/dig comm=dig udp send 127.0.0.1:53 domain="<kernel> /sbin/init /usr/bin/bash /usr/bin/dig" (domain from /proc)',
  );
  const odd = eventLine({ ...e, record: rec({ comm: 'a b"c', family: 'inet6', address: '::1', errno: 'ECONNREFUSED' }) });
  assert.match(odd, /comm="a b\\"c" udp send \[::1\]:53 ECONNREFUSED /);
  const j = JSON.parse(eventJson(e));
  assert.equal(j.type, 'send');
  assert.equal(j.domain_source, 'proc');
  const s = new Senders();
  s.add(e);
  s.add({ ...e, timeUs: e.timeUs + 1000, record: rec({ op: 'connect' }) });
  s.add({ ...e, record: rec({ pid: 8, pstartUs: 9 }) });
  assert.equal(s.list.length, 2);
  assert.equal(s.list[0]!.sends, 1);
  assert.equal(s.list[0]!.connects, 1);
  const text = summaryText(s, { target: 'udp 127.0.0.1:53', seconds: 2, lost: 0, malformed: 0 });
  assert.match(text, /^who-sends udp 127\.0\.0\.1:53: 2 senders, 3 events in 2\.0 s, 2 sends; 0 lost in the kernel\n/);
  assert.match(text, /\n7 +1000 +1 +1 +0 +11:52:01\.123 +\/usr\/bin\/dig +127\.0\.0\.1:53 +<kernel> \/sbin\/init/);
});
