import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { Decoder, DEFAULT_DECODER_OPTIONS, type RxEvent } from './decoder.js';
import { parseExtended } from './extended.js';
import { safeText, unescapeKernel, kernelText } from './text.js';
import { Formatter, kernelTs } from './format.js';
import { dataFile, kernelEscape, loadExtendedDatagrams } from './test-helpers.js';

const T0 = 1_780_000_000_000_000;

function collect(opts = DEFAULT_DECODER_OPTIONS) {
  const events: RxEvent[] = [];
  const dec = new Decoder((e) => events.push(e), opts);
  return { dec, events };
}

test('text: printable ASCII passes, control bytes and invalid UTF-8 become \\xNN, valid UTF-8 kept', () => {
  assert.equal(safeText(Buffer.from('plain line\twith tab')), 'plain line\twith tab');
  assert.equal(safeText(Buffer.from([0x61, 0x00, 0x62, 0x1b, 0x7f])), 'a\\x00b\\x1b\\x7f');
  assert.equal(safeText(Buffer.from('café ✓')), 'café ✓');
  assert.equal(safeText(Buffer.from([0x61, 0xc3, 0x28, 0xff, 0xe2, 0x82])), 'a\\xc3(\\xff\\xe2\\x82');
  assert.equal(safeText(Buffer.from([0xed, 0xa0, 0x80])), '\\xed\\xa0\\x80'); // UTF-16 surrogate: invalid
  assert.equal(unescapeKernel(Buffer.from('a\\x5cb\\x0a\\xzz\\x4')).toString('latin1'), 'a\\b\n\\xzz\\x4');
  assert.equal(kernelText(Buffer.from('caf\\xc3\\xa9 nl\\x0a')), 'café nl\\x0a');
});

test('extended: header fields, release, caller and unknown fields, ncfrag', () => {
  const dg = loadExtendedDatagrams();
  const p0 = parseExtended(dg[0]!);
  assert.equal(p0.kind, 'extended');
  if (p0.kind !== 'extended') return;
  assert.deepEqual(p0.header, { release: null, facility: 0, level: 6, seq: 444, tsUsec: 501151268, flag: '-', frag: null });
  const p1 = parseExtended(dg[1]!);
  assert.ok(p1.kind === 'extended' && p1.header.release === '6.4.0' && p1.header.seq === 445);
  const p2 = parseExtended(dg[2]!);
  assert.ok(p2.kind === 'extended' && p2.header.level === 4 && p2.header.seq === 446);
  const p4 = parseExtended(dg[4]!);
  assert.ok(p4.kind === 'extended' && p4.header.flag === '+');
  const p6 = parseExtended(dg[6]!);
  assert.ok(p6.kind === 'extended' && p6.header.frag?.offset === 0 && p6.header.frag.total === 32);
  const p12 = parseExtended(Buffer.from('12,7,100,-;user message\n'));
  assert.ok(p12.kind === 'extended' && p12.header.facility === 1 && p12.header.level === 4);
});

test('extended vs legacy vs malformed classification', () => {
  const kind = (s: string) => parseExtended(Buffer.from(s)).kind;
  assert.equal(kind('[   12.345678] e1000e: eth0 NIC Link is Up\n'), 'legacy');
  assert.equal(kind('hello, world, foo, bar; baz\n'), 'legacy');
  assert.equal(kind('no semicolon at all, 1, 2, 3\n'), 'legacy');
  assert.equal(kind('6,12x,100,-;bad seq\n'), 'malformed');
  assert.equal(kind('6,1,99999999999999999999,-;bad ts\n'), 'malformed');
  assert.equal(kind('300,1,2,-;prefix too big\n'), 'malformed');
  assert.equal(kind('6,1,2,--;bad flag\n'), 'malformed');
  assert.equal(kind('6,1,2,-,ncfrag=10/5;x\n'), 'malformed');
  assert.equal(kind('6,1,2,-,ncfrag=0/3;longer than total\n'), 'malformed');
  assert.equal(kind('6,1,2;too few\n'), 'legacy');
  assert.equal(kind('6,1,2,-;ok\n'), 'extended');
});

test('legacy: the real console log cut at arbitrary byte boundaries comes back line for line', () => {
  const console = readFileSync(dataFile('hung-task-console.log'));
  const expected = console.toString('utf8').replace(/\n$/, '').split('\n');
  for (const chunk of [1, 7, 100, 1000]) {
    const { dec, events } = collect();
    for (let off = 0, i = 0; off < console.length; off += chunk, i++) dec.datagram('10.0.0.5', 6665, console.subarray(off, off + chunk), T0 + i);
    dec.flushAll();
    const lines = events.map((e) => (e.type === 'line' ? e.text : '?'));
    assert.deepEqual(lines, expected, `chunk ${chunk}`);
    assert.ok(events.every((e) => e.type === 'line' && e.partial === null));
    assert.equal(dec.counters.lines, expected.length);
  }
});

test('legacy: several lines in one datagram, the time of a line is the time of its first byte', () => {
  const { dec, events } = collect();
  dec.datagram('10.0.0.5', 6665, Buffer.from('one\ntwo\nthr'), T0);
  dec.datagram('10.0.0.5', 6665, Buffer.from('ee\n'), T0 + 500);
  assert.deepEqual(
    events.map((e) => [e.type === 'line' && e.text, e.timeUs]),
    [
      ['one', T0],
      ['two', T0],
      ['three', T0],
    ],
  );
});

test('legacy: senders (address and port) never interleave inside a line', () => {
  const { dec, events } = collect();
  dec.datagram('10.0.0.5', 6665, Buffer.from('AAA-'), T0);
  dec.datagram('10.0.0.6', 6665, Buffer.from('BBB-'), T0 + 1);
  dec.datagram('10.0.0.5', 6666, Buffer.from('CCC-'), T0 + 2);
  dec.datagram('10.0.0.6', 6665, Buffer.from('bbb\n'), T0 + 3);
  dec.datagram('10.0.0.5', 6665, Buffer.from('aaa\n'), T0 + 4);
  dec.datagram('10.0.0.5', 6666, Buffer.from('ccc\n'), T0 + 5);
  assert.deepEqual(
    events.map((e) => e.type === 'line' && `${e.sender.label} ${e.text}`),
    ['10.0.0.6:6665 BBB-bbb', '10.0.0.5:6665 AAA-aaa', '10.0.0.5:6666 CCC-ccc'],
  );
});

test('legacy: partial line flushed after the quiet time, at the maximum length, and at shutdown', () => {
  const opts = { ...DEFAULT_DECODER_OPTIONS, partialQuietUs: 2_000_000, maxLineBytes: 10 };
  const { dec, events } = collect(opts);
  dec.datagram('::1', 5000, Buffer.from('no newline'.slice(0, 5)), T0);
  dec.tick(T0 + 1_000_000);
  assert.equal(events.length, 0);
  dec.tick(T0 + 2_000_000);
  assert.deepEqual(
    events.map((e) => e.type === 'line' && [e.text, e.partial, e.sender.label]),
    [['no ne', 'timeout', '[::1]:5000']],
  );
  dec.datagram('::1', 5000, Buffer.from('0123456789abc'), T0 + 3_000_000);
  assert.deepEqual(
    events.slice(1).map((e) => e.type === 'line' && [e.text, e.partial]),
    [['0123456789', 'max-length']],
  );
  dec.flushAll();
  assert.deepEqual(
    events.slice(2).map((e) => e.type === 'line' && [e.text, e.partial]),
    [['abc', 'shutdown']],
  );
  assert.equal(dec.counters.partialLines, 3);
});

test('extended: records, dictionary lines, escapes and fragments from the data file', () => {
  const { dec, events } = collect();
  loadExtendedDatagrams().forEach((d, i) => dec.datagram('192.0.2.7', 6665, d, T0 + i));
  const recs = events.filter((e) => e.type === 'record');
  assert.equal(recs.length, 8);
  const texts = recs.map((e) => e.type === 'record' && e.text);
  assert.equal(texts[0], 'netconsole: network logging started');
  assert.equal(texts[6], 'the first chunk, the 2nd chunk.');
  assert.equal(texts[7], 'café back\\slash tab\tend');
  const dictRec = recs[5]!;
  assert.ok(dictRec.type === 'record');
  assert.deepEqual(dictRec.dict, ['SUBSYSTEM=acpi', 'DEVICE=+acpi:PNP0A03:00']);
  // seq 444..451 without holes except the sender-side jump 449 -> 450 (none): no gap markers expected
  assert.equal(events.filter((e) => e.type === 'marker' && e.kind === 'gap').length, 0);
  assert.equal(dec.counters.fragments, 2);
});

test('extended: out-of-order fragments reassemble; fragments that never complete expire with what arrived', () => {
  const opts = { ...DEFAULT_DECODER_OPTIONS, fragTimeoutUs: 1_000_000 };
  const { dec, events } = collect(opts);
  const body = 'A'.repeat(900) + 'B'.repeat(900) + 'C'.repeat(300) + '\n SUBSYSTEM=net\n';
  const total = Buffer.byteLength(body);
  const frag = (off: number, len: number, seq = 10) => Buffer.from(`6,${seq},5000,-,ncfrag=${off}/${total};` + body.slice(off, off + len));
  dec.datagram('10.1.1.1', 6665, frag(1800, total - 1800), T0);
  dec.datagram('10.1.1.1', 6665, frag(0, 900), T0 + 1);
  assert.equal(events.length, 0);
  dec.datagram('10.1.1.1', 6665, frag(900, 900), T0 + 2);
  assert.equal(events.length, 1);
  const r = events[0]!;
  assert.ok(r.type === 'record' && r.text.length === 2100 && r.dict[0] === 'SUBSYSTEM=net' && r.incomplete === null);
  // seq 11 loses its middle fragment
  dec.datagram('10.1.1.1', 6665, frag(0, 900, 11), T0 + 10);
  dec.datagram('10.1.1.1', 6665, frag(1800, total - 1800, 11), T0 + 11);
  dec.tick(T0 + 500_000);
  assert.equal(events.length, 1);
  dec.tick(T0 + 2_000_000);
  const inc = events[1]!;
  assert.ok(inc.type === 'record' && inc.incomplete !== null && /got \d+ of \d+ bytes/.test(inc.incomplete));
  assert.ok(inc.type === 'record' && inc.text.startsWith('AAAA') && inc.text.includes(' [...] CCC'));
  assert.equal(dec.counters.fragmentsExpired, 1);
});

test('extended: fragment state is bounded per sender', () => {
  const opts = { ...DEFAULT_DECODER_OPTIONS, maxFragsPerSender: 4 };
  const { dec, events } = collect(opts);
  for (let seq = 0; seq < 100; seq++) dec.datagram('10.1.1.1', 6665, Buffer.from(`6,${seq},1,-,ncfrag=0/100;half`), T0 + seq);
  assert.equal(events.filter((e) => e.type === 'record').length, 96); // all but the last 4 forced out, none lost
  dec.flushAll();
  assert.equal(events.filter((e) => e.type === 'record').length, 100);
});

test('extended: fragment memory follows the bytes received, within a global budget; the oldest incomplete message is evicted and counted', () => {
  const budget = 64 * 1024;
  const opts = { ...DEFAULT_DECODER_OPTIONS, maxFragBytes: budget };
  const { dec, events } = collect(opts);
  // 5000 fake fragments (40 bytes each announcing 128 KiB) from 500 senders: a total-sized
  // buffer each would be 640 MiB; what is held is charged by the bytes that arrived.
  let peak = 0;
  for (let i = 0; i < 5000; i++) {
    dec.datagram(`10.9.${i % 250}.${1 + (i % 2)}`, 6665, Buffer.from(`6,${i},1,-,ncfrag=0/131072;${'f'.repeat(40)}`), T0 + i);
    peak = Math.max(peak, dec.counters.fragmentBytes);
  }
  assert.ok(peak <= budget, `held ${peak} bytes, budget ${budget}`);
  assert.ok(dec.counters.fragmentsEvicted > 4000, String(dec.counters.fragmentsEvicted));
  // Every evicted message was written once, with what arrived and why it is incomplete.
  const records = events.filter((e) => e.type === 'record');
  assert.equal(records.length, dec.counters.fragmentsExpired);
  assert.ok(records.every((r) => r.type === 'record' && r.incomplete === 'fragments incomplete: got 40 of 131072 bytes' && r.text === `${'f'.repeat(40)} [...]`));
  dec.flushAll();
  assert.equal(dec.counters.fragmentsExpired, 5000);
  assert.equal(events.filter((e) => e.type === 'record').length, 5000);
  assert.equal(dec.counters.fragmentBytes, 0);

  // Repeated and overlapping fragments add only what is new; a real message still reassembles.
  const body = Array.from({ length: 3000 }, (_, i) => String.fromCharCode(65 + (i % 26))).join('') + '\n';
  const total = body.length;
  const frag = (off: number, len: number) => Buffer.from(`6,9000,5,-,ncfrag=${off}/${total};` + body.slice(off, off + len));
  const before = events.length;
  for (let k = 0; k < 50; k++) dec.datagram('10.8.0.1', 6665, frag(0, 1000), T0 + 20_000 + k);
  assert.equal(dec.counters.fragmentBytes, 512 + 96 + 1000);
  dec.datagram('10.8.0.1', 6665, frag(500, 1500), T0 + 20_100);
  dec.datagram('10.8.0.1', 6665, frag(1900, total - 1900), T0 + 20_200);
  assert.equal(events.length, before + 1);
  const whole = events[before]!;
  assert.ok(whole.type === 'record' && whole.incomplete === null && whole.text === body.slice(0, -1));
  assert.equal(dec.counters.fragmentBytes, 0);
});

test('extended: gaps are counted and marked; a restart (seq and boot time go back) is marked', () => {
  const { dec, events } = collect();
  const send = (seq: number, ts: number) => dec.datagram('10.0.0.9', 6665, Buffer.from(`6,${seq},${ts},-;m${seq}\n`), T0 + seq);
  send(100, 1000);
  send(101, 1001);
  send(105, 1005);
  send(106, 1006);
  send(3, 50); // rebooted
  send(4, 51);
  send(2, 49); // late: a little older than the last
  const markers = events.filter((e) => e.type === 'marker');
  assert.deepEqual(
    markers.map((m) => m.type === 'marker' && [m.kind, m.count]),
    [
      ['gap', 3],
      ['restart', 1],
      ['late', 1],
    ],
  );
  assert.ok(markers[0]!.type === 'marker' && markers[0]!.text === 'gap: 3 messages lost (seq 102..104)');
  assert.equal(dec.counters.lostMessages, 3);
  assert.equal(dec.counters.restarts, 1);
  assert.equal(events.filter((e) => e.type === 'record').length, 7);
  // A new boot whose first seq seen is above the old last one: boot time going back gives it away.
  send(500, 9_000_000);
  send(900, 1_000);
  assert.equal(dec.counters.restarts, 2);
  assert.equal(dec.counters.gaps, 2); // 4 -> 500 was a gap
});

test('malformed input never throws, is counted, and its bytes are kept', () => {
  const { dec, events } = collect();
  dec.datagram('10.0.0.1', 1, Buffer.from('6,abc,1,-;broken seq\n'), T0);
  dec.datagram('10.0.0.1', 1, Buffer.alloc(65507, 0xff), T0 + 1);
  dec.datagram('10.0.0.1', 1, Buffer.from([0, 0, 0, 0x0a]), T0 + 2);
  dec.datagram('10.0.0.1', 1, Buffer.alloc(0), T0 + 3);
  assert.equal(dec.counters.malformed, 1);
  const first = events[0]!;
  assert.ok(first.type === 'line' && first.malformed === 'bad sequence number' && first.text === '6,abc,1,-;broken seq');
  // the 64 KiB garbage datagram had no newline: it joined the NUL datagram's line, every byte escaped
  const big = events[1]!;
  assert.ok(big.type === 'line' && big.text === '\\xff'.repeat(65507) + '\\x00\\x00\\x00');
  assert.equal(events.length, 2);
});

test('sender table is bounded: the least recently active sender is evicted, its partial line flushed', () => {
  const opts = { ...DEFAULT_DECODER_OPTIONS, maxSenders: 10 };
  const { dec, events } = collect(opts);
  for (let i = 0; i < 50; i++) dec.datagram(`10.0.0.${i}`, 6665, Buffer.from(`partial ${i}`), T0 + i);
  assert.equal(dec.trackedSenders, 10);
  assert.equal(dec.counters.sendersEvicted, 40);
  assert.equal(events.filter((e) => e.type === 'line' && e.partial === 'evicted').length, 40);
  // idle senders are forgotten
  dec.flushAll();
  dec.tick(T0 + opts.senderIdleUs + 1000);
  assert.equal(dec.trackedSenders, 0);
});

test('format: text, json and udplogger lines', () => {
  const { dec, events } = collect();
  dec.datagram('10.0.0.5', 6665, Buffer.from('[   12.345678] e1000e: eth0 NIC Link is Up\n'), 1_780_000_000_123_456);
  dec.datagram('::1', 6665, Buffer.from('6.4.0,6,444,501151268,-;netconsole: network logging started\n SUBSYSTEM=net\n'), 1_780_000_000_123_457);
  const text = new Formatter('text', true);
  assert.equal(text.event(events[0]!).text, '2026-05-28T20:26:40.123456Z 10.0.0.5:6665 [   12.345678] e1000e: eth0 NIC Link is Up\n');
  assert.equal(
    text.event(events[1]!).text,
    '2026-05-28T20:26:40.123457Z [::1]:6665 <6>#444 [  501.151268] netconsole: network logging started\n' + '2026-05-28T20:26:40.123457Z [::1]:6665 <6>#444 [  501.151268]  SUBSYSTEM=net\n',
  );
  assert.equal(text.event(events[0]!).day, '2026-05-28');
  const json = JSON.parse(new Formatter('json', true).event(events[1]!).text);
  assert.equal(json.seq, 444);
  assert.equal(json.release, '6.4.0');
  assert.deepEqual(json.dict, ['SUBSYSTEM=net']);
  const udpl = new Formatter('udplogger', true);
  assert.equal(udpl.event(events[0]!).text, '2026-05-28 20:26:40 10.0.0.5:6665 [   12.345678] e1000e: eth0 NIC Link is Up\n');
  assert.match(udpl.event(events[1]!).text, /^2026-05-28 20:26:40 \[::1\]:6665 6\.4\.0,6,444,501151268,-;netconsole/);
  assert.equal(kernelTs(5), '[    0.000005]');
  assert.equal(kernelTs(123456_000001), '[123456.000001]');
});

test('fuzz: the decoder never throws, keeps every newline-terminated legacy byte, and stays bounded', () => {
  const datagram = fc.oneof(
    fc.uint8Array({ maxLength: 1200 }),
    fc
      .tuple(fc.nat(300), fc.nat(2 ** 40), fc.nat(2 ** 40), fc.constantFrom('-', 'c', '+', 'x'), fc.string({ maxLength: 80 }), fc.option(fc.tuple(fc.nat(3000), fc.nat(3000))))
      .map(([p, s, t, f, txt, frag]) => Buffer.from(`${p},${s},${t},${f}${frag ? `,ncfrag=${frag[0]}/${frag[1]}` : ''};${txt}\n`)),
    fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)),
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(3), datagram), { maxLength: 60 }), (items) => {
      const opts = { ...DEFAULT_DECODER_OPTIONS, maxSenders: 3, maxFragsPerSender: 2, maxLineBytes: 512 };
      const { dec, events } = collect(opts);
      items.forEach(([who, d], i) => dec.datagram(`10.0.0.${who}`, 6665, Buffer.from(d), T0 + i * 1000));
      dec.tick(T0 + 1e12);
      dec.flushAll();
      assert.ok(dec.trackedSenders <= 3);
      for (const e of events) {
        const s = e.type === 'marker' ? e.text : e.text;
        assert.ok(!s.includes('\n') && !s.includes('\r') && !s.includes('\0'), 'output text is one line');
      }
      const f = new Formatter('text', true);
      for (const e of events) assert.ok(f.event(e).text.endsWith('\n'));
    }),
    { numRuns: 300 },
  );
});

test('fuzz: extended round trip of any text through the kernel escaping', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(1e9), (bytes, seq) => {
      const text = Buffer.from(bytes);
      const { dec, events } = collect();
      dec.datagram('10.0.0.1', 6665, Buffer.from(`6,${seq},1,-;${kernelEscape(text)}\n`), T0);
      assert.equal(events.length, 1);
      const e = events[0]!;
      assert.ok(e.type === 'record' && e.header.seq === seq);
      assert.equal(e.text, safeText(text));
    }),
    { numRuns: 300 },
  );
});

test('format: encodeText (the direct byte path) writes exactly what event().text holds, in UTF-8', () => {
  const datagram = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([Buffer.from(b), Buffer.from('\n')])),
    fc
      .tuple(fc.nat(300), fc.nat(2 ** 40), fc.oneof(fc.nat(2 ** 40), fc.nat(99_999_999)), fc.constantFrom('-', 'c', '+'), fc.string({ maxLength: 80 }), fc.option(fc.constantFrom('6.4.0', 'x')))
      .map(([p, s, t, f, txt, rel]) => Buffer.from(`${rel ? rel + ',' : ''}${p},${s},${t},${f};${txt}\n`)),
    fc.string({ maxLength: 120, unit: 'grapheme' }).map((s) => Buffer.from(s + '\n')),
  );
  const addresses = ['10.0.0.1', '::1', 'fe80::1%eth0', '2001:db8::42'];
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(3), datagram, fc.nat(2 ** 45)), { maxLength: 20 }), fc.boolean(), (items, utc) => {
      const { dec, events } = collect();
      for (const [who, d, t] of items) dec.datagram(addresses[who]!, 6665, d, T0 + t);
      const f = new Formatter('text', utc);
      let encoded = 0;
      for (const e of events) {
        const want = Buffer.from(f.event(e).text);
        const out = Buffer.alloc(Formatter.encodedMax(e) + 8, 0xee);
        const end = f.encodeText(e, out, 3);
        if (!f.encodable(e)) {
          assert.equal(end, -1);
          continue;
        }
        encoded++;
        assert.ok(end - 3 <= Formatter.encodedMax(e));
        assert.equal(out.toString('utf8', 3, end), want.toString('utf8'));
        assert.ok(out.subarray(3, end).equals(want));
      }
      assert.ok(encoded <= events.length);
    }),
    { numRuns: 400 },
  );
  // kernel timestamps of every width, fraction 0 and large sequence numbers
  const { dec, events } = collect();
  [0, 5, 9_999_999, 10_000_000, 99_999_000_001, 123456_000001].forEach((ts, i) => dec.datagram('10.0.0.9', 1, Buffer.from(`14,${2 ** 40 + i},${ts},-;x\n`), 1_780_000_000_000_000));
  const f = new Formatter('text', true);
  assert.equal(events.length, 6);
  for (const e of events) {
    assert.ok(f.encodable(e));
    const out = Buffer.alloc(Formatter.encodedMax(e));
    assert.equal(out.toString('utf8', 0, f.encodeText(e, out, 0)), f.event(e).text);
  }
});

test('decoder: the plain-line sink gets exactly the lines whose text is their bytes, and the output is unchanged', () => {
  const datagram = fc.oneof(
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.concat([Buffer.from(b), Buffer.from('\n')])),
    fc.string({ maxLength: 100 }).map((s) => Buffer.from(`[ 1.000001] ${s}\nsecond ${s}\n`)),
    fc
      .tuple(fc.nat(200), fc.nat(2 ** 40), fc.nat(2 ** 40), fc.constantFrom('-', 'c'), fc.string({ maxLength: 80 }), fc.boolean())
      .map(([p, s, t, f, txt, dict]) => Buffer.from(`${p},${s},${t},${f};${txt}\n${dict ? ' KEY=v\n' : ''}`)),
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(2), datagram), { maxLength: 20 }), (items) => {
      const f = new Formatter('text', true);
      const viaEvents: string[] = [];
      const ref = new Decoder((e) => viaEvents.push(f.event(e).text));
      const mixed: string[] = [];
      const g = new Formatter('text', true);
      const put = (sender: RxEvent['sender'], timeUs: number, h: Parameters<Formatter['encodeHead']>[2], buf: Buffer, s: number, e: number) => {
        const out = Buffer.alloc(200 + sender.label.length * 3 + (e - s));
        const p = g.encodeHead(sender, timeUs, h, out, 0);
        mixed.push(out.toString('utf8', 0, p) + buf.toString('utf8', s, e) + '\n');
        return true;
      };
      const dec = new Decoder((e) => mixed.push(g.event(e).text), DEFAULT_DECODER_OPTIONS, {
        line: (sender, t, buf, s, e) => put(sender, t, null, buf, s, e),
        record: (sender, t, h, buf, s, e) => put(sender, t, h, buf, s, e),
      });
      items.forEach(([who, d], i) => {
        ref.datagram(`10.0.0.${who}`, 6665, d, T0 + i * 1001);
        dec.datagram(`10.0.0.${who}`, 6665, d, T0 + i * 1001);
      });
      ref.flushAll();
      dec.flushAll();
      assert.deepEqual(mixed, viaEvents);
      assert.deepEqual(dec.counters, ref.counters);
    }),
    { numRuns: 300 },
  );
});
