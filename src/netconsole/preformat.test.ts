/**
 * The native receive thread's preformatting (native/netconsole-recv) against the JavaScript
 * decoder and formatter it mirrors:
 *  - one datagram: whenever the addon preformats, its bytes are exactly what Decoder + PlainSink
 *    + Formatter.encodeHead write for it, and its kind/lines/seq/boot time are the decoder's;
 *    the usual lines of a burst are preformatted (the fast path is really taken);
 *  - whole streams: a Pipeline fed batches with preformatted runs writes the same files and
 *    counts the same as one decoding every datagram itself, whatever the sender's state
 *    (partial lines waiting, sequence gaps, restarts, late and duplicate records).
 * On CI the addon must be built (a missing build fails there instead of skipping).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dgram from 'node:dgram';
import fc from 'fast-check';
import { Decoder, DEFAULT_DECODER_OPTIONS, senderLabel, type PlainSink } from './decoder.js';
import { Formatter } from './format.js';
import { ENTRY_BYTES, PF_KIND, encodeNativeBatch, ipv6Text, type Preformatted } from './native-batch.js';
import { loadNative, type NativeRecv } from './native.js';
import { Pipeline } from './pipeline.js';
import { resolveConfig } from './config.js';
import { facilitySkip } from '../common/testenv.js';

const loaded = loadNative();
const mod: NativeRecv | null = 'mod' in loaded ? loaded.mod : null;
const skip = facilitySkip(mod ? undefined : `native receive path not built: ${'error' in loaded ? loaded.error : ''}`);

type Family = 4 | 6;
interface Peer {
  family: Family;
  address: Uint8Array;
  port: number;
}

/** Address text as the pipeline's SenderTable writes it (IPv4-mapped IPv6 as IPv4). */
function addressText(p: Peer): string {
  const a = p.address;
  if (p.family === 4) return `${a[0]}.${a[1]}.${a[2]}.${a[3]}`;
  if (a.subarray(0, 10).every((b) => b === 0) && a[10] === 0xff && a[11] === 0xff) return `${a[12]}.${a[13]}.${a[14]}.${a[15]}`;
  return ipv6Text(a);
}

/** What the JavaScript side writes for one datagram from a fresh sender: the plain-sink bytes, or null when it builds events. */
function reference(payload: Buffer, peer: Peer, timeUs: number): { text: Buffer; lines: number; header: { seq: number; tsUsec: number } | null } | null {
  const f = new Formatter('text', true);
  const out = Buffer.alloc(payload.length * 4 + 4096);
  let pos = 0;
  let lines = 0;
  let header: { seq: number; tsUsec: number } | null = null;
  const plain: PlainSink = {
    line: (s, t, buf, a, b) => {
      pos = f.encodeHead(s, t, null, out, pos);
      pos += buf.copy(out, pos, a, b);
      out[pos++] = 0x0a;
      lines++;
      return true;
    },
    record: (s, t, h, buf, a, b) => {
      pos = f.encodeHead(s, t, h, out, pos);
      pos += buf.copy(out, pos, a, b);
      out[pos++] = 0x0a;
      lines++;
      header = { seq: h.seq, tsUsec: h.tsUsec };
      return true;
    },
  };
  let events = 0;
  const d = new Decoder(() => events++, DEFAULT_DECODER_OPTIONS, plain);
  d.datagram(addressText(peer), peer.port, payload, timeUs);
  d.flushAll();
  if (events > 0 || lines === 0) return null;
  return { text: out.subarray(0, pos), lines, header };
}

const printable = fc.integer({ min: 0x20, max: 0x7e });
/** Text bytes: mostly printable, now and then a tab, backslash, newline, NUL, DEL or high byte. */
const textBytes = fc.array(fc.oneof({ weight: 30, arbitrary: printable }, { weight: 1, arbitrary: fc.constantFrom(0x09, 0x5c, 0x0a, 0x00, 0x7f, 0x80, 0xc3, 0xff, 0x3b, 0x2c) }), { maxLength: 120 });
const digits = (max: number) => fc.oneof(fc.nat({ max }).map(String), fc.stringMatching(/^[0-9]{0,18}$/), fc.constantFrom('', 'x', '-1', '9007199254740991', '9007199254740992', '0007'));
const extendedPayload = fc
  .record({
    release: fc.option(fc.constantFrom('6.1.0-13-amd64', '5.14.0-362.el9.x86_64', '4 .1', ''), { nil: null }),
    prefix: fc.oneof({ weight: 5, arbitrary: fc.constantFrom('6', '4', '12', '255') }, { weight: 1, arbitrary: digits(999) }),
    seq: fc.oneof({ weight: 5, arbitrary: fc.nat({ max: 1e7 }).map(String) }, { weight: 1, arbitrary: digits(1e9) }),
    ts: fc.oneof({ weight: 5, arbitrary: fc.nat({ max: 2 ** 40 }).map(String) }, { weight: 1, arbitrary: digits(2 ** 52) }),
    flag: fc.oneof({ weight: 5, arbitrary: fc.constant('-') }, { weight: 1, arbitrary: fc.constantFrom('c', '+', '', '--', ' ') }),
    extra: fc.array(fc.constantFrom('caller=T123', 'caller=C0', 'ncfrag=0/10', 'ncfrag=x', 'foo=bar', ''), { maxLength: 2 }),
    body: textBytes,
    dict: fc.option(fc.constantFrom('\n SUBSYSTEM=pci\n DEVICE=+pci:0000:00:1f.2', '\n', '\n\n'), { nil: null }),
    newline: fc.boolean(),
  })
  .map((r) => {
    const head = [...(r.release !== null ? [r.release] : []), r.prefix, r.seq, r.ts, r.flag, ...r.extra].join(',') + ';';
    return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(r.body), Buffer.from(r.dict ?? '', 'latin1'), Buffer.from(r.newline ? '\n' : '')]);
  });
const legacyPayload = fc
  .record({ lines: fc.array(textBytes, { minLength: 1, maxLength: 4 }), end: fc.constantFrom('\n', '\n', '') })
  .map((r) =>
    Buffer.concat([...r.lines.map((l, i) => Buffer.concat([Buffer.from(`[${String(i).padStart(5)}.000001] `), Buffer.from(l), Buffer.from(i < r.lines.length - 1 ? '\n' : '')])), Buffer.from(r.end)]),
  );
const anyPayload = fc.oneof(
  extendedPayload,
  legacyPayload,
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
);
const peer: fc.Arbitrary<Peer> = fc.oneof(
  fc.record({ family: fc.constant<Family>(4), address: fc.uint8Array({ minLength: 4, maxLength: 4 }), port: fc.integer({ min: 0, max: 65535 }) }),
  fc.record({ family: fc.constant<Family>(6), address: fc.uint8Array({ minLength: 16, maxLength: 16 }), port: fc.integer({ min: 0, max: 65535 }) }),
  fc.record({
    family: fc.constant<Family>(6),
    address: fc.uint8Array({ minLength: 4, maxLength: 4 }).map((v4) => Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4])),
    port: fc.integer({ min: 0, max: 65535 }),
  }),
  fc.constantFrom<Peer>(
    { family: 6, address: Buffer.from('00000000000000000000000000000001', 'hex'), port: 6665 },
    { family: 6, address: Buffer.from('20010db8000000000000000000000000', 'hex'), port: 1 },
  ),
);
// Receive times from 1970 to 2200, and the odd second and day boundary.
const time = fc.oneof(fc.integer({ min: 0, max: 7_258_118_400_000_000 }), fc.constantFrom(1_764_201_599_999_999, 1_764_201_600_000_000, 951_782_400_000_000));

test('preformat: the addon writes exactly what the JavaScript decoder and formatter write, or leaves the datagram to them', { skip }, () => {
  const m = mod!;
  fc.assert(
    fc.property(anyPayload, peer, time, (payload, p, t) => {
      const got = m.preformat(payload, p.family, Buffer.from(p.address), p.port, t);
      if (got === null) return;
      const want = reference(payload, p, t);
      assert.ok(want, `addon preformatted a datagram the decoder does not write as plain lines: ${JSON.stringify(payload.toString('latin1'))}`);
      assert.equal(got.text.toString('latin1'), want.text.toString('latin1'));
      assert.ok(got.text.length <= got.reserved, 'the room set aside is enough');
      assert.equal(got.lines, want.lines);
      assert.equal(got.kind, want.header ? 2 : 1);
      if (want.header) assert.deepEqual({ seq: got.seq, tsUsec: got.tsUsec }, want.header);
    }),
    { numRuns: 20000 },
  );
});

/** What Formatter.event() writes for one datagram from a fresh sender, or null when the decoder makes markers or nothing. */
function eventReference(payload: Buffer, peer: Peer, timeUs: number, format: 'text' | 'udplogger' | 'json', utc: boolean): { text: string; lines: number } | null {
  const f = new Formatter(format, utc);
  let text = '';
  let lines = 0;
  let other = false;
  const d = new Decoder(
    (ev) => {
      if (ev.type === 'marker') other = true;
      const out = f.event(ev);
      text += out.text;
      lines += out.lines;
    },
    DEFAULT_DECODER_OPTIONS,
    null,
  );
  d.datagram(addressText(peer), peer.port, payload, timeUs);
  d.flushAll();
  return other || lines === 0 ? null : { text: Buffer.from(text, 'utf8').toString('latin1'), lines };
}

for (const [format, code] of [
  ['text', 1],
  ['udplogger', 2],
  ['json', 3],
] as const)
  test(`preformat --format ${format}, UTC and local time in zones of whole, half and quarter hours: exactly what Formatter.event() writes`, { skip }, () => {
    const m = mod!;
    const before = process.env.TZ;
    try {
      for (const zone of ['UTC', 'Europe/Berlin', 'America/St_Johns', 'Asia/Kathmandu', 'Australia/Lord_Howe']) {
        process.env.TZ = zone;
        let taken = 0;
        fc.assert(
          fc.property(anyPayload, peer, time, fc.boolean(), (payload, p, t, utc) => {
            const got = m.preformat(payload, p.family, Buffer.from(p.address), p.port, t, { preformat: code, localTime: utc ? 0 : 1 });
            if (got === null) return;
            taken++;
            const want = eventReference(payload, p, t, format, utc);
            assert.ok(want, `addon preformatted a datagram the decoder does not write as plain lines: ${JSON.stringify(payload.toString('latin1'))}`);
            assert.equal(got.text.toString('latin1'), want.text);
            assert.ok(got.text.length <= got.reserved, 'the room set aside is enough');
            assert.equal(got.lines, want.lines);
            const minutes = new Formatter(format, utc).clock.offsetMinutes(t);
            assert.ok(got.zoneQuarters * 15 === minutes, `the zone offset it carries (${got.zoneQuarters} quarter hours) is the one it wrote (${minutes} minutes)`);
          }),
          { numRuns: 3000 },
        );
        assert.ok(taken > 300, `the fast path was exercised in ${zone} (${taken})`);
      }
    } finally {
      if (before === undefined) delete process.env.TZ;
      else process.env.TZ = before;
    }
  });

test('preformat --json: every byte value in a line and in a record, and every flag byte, parses back with JSON.parse to what the decoder read', { skip }, () => {
  const m = mod!;
  const p: Peer = { family: 6, address: Buffer.from('20010db8000000000000000000000007', 'hex'), port: 6665 };
  let taken = 0;
  for (let b = 0; b < 256; b++) {
    const payloads = [Buffer.from([0x61, b, 0x22, b, 0x5c, 0x62, 0x0a]), Buffer.concat([Buffer.from('6,1,2,-;a'), Buffer.from([b, 0x22, b]), Buffer.from('b\n')])];
    if (b > 0x20 && b < 0x7f && b !== 0x2c && b !== 0x3b) payloads.push(Buffer.from(`6,1,2,${String.fromCharCode(b)};flag\n`));
    for (const payload of payloads) {
      const got = m.preformat(payload, p.family, Buffer.from(p.address), p.port, 1_764_178_114_123_456, { preformat: 3 });
      const want = eventReference(payload, p, 1_764_178_114_123_456, 'json', true);
      if (got === null) {
        assert.ok(!((b >= 0x20 && b < 0x7f && b !== 0x5c) || b === 0x09) || payload.includes(0x5c, 8), `byte ${b} is plain: preformatted`);
        continue;
      }
      taken++;
      const text = got.text.toString('latin1');
      assert.equal(text, want!.text, `byte ${b}`);
      // (A newline byte makes two lines, each one object.)
      const parsed = text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { text: string; flag?: string })
        .map((o) => o.text + (o.flag ?? ''));
      const decoded: string[] = [];
      new Decoder((ev) => decoded.push(ev.type === 'marker' ? '' : ev.text + (ev.type === 'record' ? ev.header.flag : '')), DEFAULT_DECODER_OPTIONS, null).datagram('2001:db8::7', 6665, payload, 1);
      assert.deepEqual(parsed, decoded, `byte ${b}`);
    }
  }
  assert.ok(taken >= 2 * 94, `the printable bytes and tab took the fast path (${taken})`);
});

test('preformat: the usual lines of a burst take the fast path (v4, v6, mapped senders)', { skip }, () => {
  const m = mod!;
  const peers: Peer[] = [
    { family: 4, address: Uint8Array.from([10, 0, 0, 5]), port: 6665 },
    { family: 6, address: Buffer.from('20010db8000000000000000000000005', 'hex'), port: 6665 },
    { family: 6, address: Buffer.from('00000000000000000000ffff0a000005', 'hex'), port: 6665 },
  ];
  const samples = [
    '[ 4711.123456] task:kworker/u8:2  state:D stack:0     pid:1234  ppid:2      flags:0x00004000\n',
    '[ 4711.123460]  __schedule+0x3c5/0x1020\n[ 4711.123461]  schedule+0x5d/0xd0\n',
    '6,1044,4711123456,-;task:kworker/u8:2  state:D stack:0     pid:1234\n',
    '4,1045,4711123460,c;\tcontinuation with tab\n',
    '6,1046,4711123470,-,caller=T1234;sysrq: Show Blocked State\n',
    '6,1047,4711123480,-;no trailing newline',
  ];
  for (const p of peers) {
    for (const s of samples) {
      const got = m.preformat(Buffer.from(s), p.family, Buffer.from(p.address), p.port, 1_764_178_114_123_456);
      assert.ok(got, `not preformatted: ${JSON.stringify(s)}`);
      assert.equal(got.text.toString('latin1'), reference(Buffer.from(s), p, 1_764_178_114_123_456)!.text.toString('latin1'));
    }
  }
  const v4 = m.preformat(Buffer.from(samples[2]!), 4, Buffer.from([10, 0, 0, 5]), 6665, 1_764_178_114_123_456)!;
  assert.equal(v4.text.toString(), '2025-11-26T17:28:34.123456Z 10.0.0.5:6665 <6>#1044 [ 4711.123456] task:kworker/u8:2  state:D stack:0     pid:1234\n');
  // Left to JavaScript: partial lines, escapes, dictionaries, fragments, release prefixes, bad headers.
  for (const s of ['[ 1.0] no newline yet', '6,1,2,-;caf\\xc3\\xa9\n', '6,1,2,-;text\n SUBSYSTEM=pci\n', '6,1,2,-,ncfrag=0/20;0123456789', '6.1.0-13-amd64,6,1,2,-;x\n', '6,x,2,-;x\n', 'caf\xe9\n']) {
    assert.equal(m.preformat(Buffer.from(s, 'latin1'), 4, Buffer.from([10, 0, 0, 5]), 6665, 1e15), null, s);
  }
});

interface Datagram {
  peer: number;
  payload: Buffer;
  timeUs: number;
}

/** Runs as the receive thread forms them: same sender, kind and UTC day, records with seq + 1 and boot time not going back. */
type Item = Parameters<typeof encodeNativeBatch>[0][number] & { run: number; peer: number; pre: Preformatted | null };

function withRuns(m: NativeRecv, peers: Peer[], dgs: Datagram[]): Item[] {
  const items = dgs.map((d): Item => {
    const p = peers[d.peer]!;
    const pre = m.preformat(d.payload, p.family, Buffer.from(p.address), p.port, d.timeUs);
    return { family: p.family, address: p.address, port: p.port, timeUs: d.timeUs, payload: d.payload, pre: pre as Preformatted | null, run: 0, peer: d.peer };
  });
  let first = -1;
  items.forEach((it, i) => {
    const prev = i > 0 ? items[i - 1]! : null;
    const pre = it.pre;
    if (!pre) {
      first = -1;
      return;
    }
    const goesOn =
      first >= 0 &&
      prev!.pre !== null &&
      prev!.peer === it.peer &&
      prev!.pre.kind === pre.kind &&
      Math.floor(prev!.timeUs / 86_400e6) === Math.floor(it.timeUs / 86_400e6) &&
      (pre.kind === 1 || (pre.seq === prev!.pre.seq + 1 && pre.tsUsec >= prev!.pre.tsUsec));
    if (goesOn) items[first]!.run++;
    else {
      first = i;
      it.run = 1;
    }
  });
  return items;
}

function readTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out[p.slice(dir.length)] = readFileSync(p, 'latin1');
    }
  };
  walk(dir);
  return out;
}

async function runPipeline(batches: Buffer[], counts: number[], combined: boolean): Promise<{ files: Record<string, string>; counters: Record<string, number> }> {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-nc-pre-'));
  const cfg = resolveConfig({ dir, combined, partialTimeout: '1h' });
  const p = new Pipeline(cfg, () => 1_764_178_200_000_000);
  batches.forEach((b, i) => p.ingestNative(b, counts[i]!));
  const stopped = await p.stop();
  assert.equal(stopped.unwritten, 0);
  const files = readTree(dir);
  rmSync(dir, { recursive: true, force: true });
  return { files, counters: p.counters() };
}

test('preformat: a pipeline taking preformatted runs writes and counts exactly what one decoding every datagram does', { skip }, async () => {
  const m = mod!;
  const peers: Peer[] = [
    { family: 4, address: Uint8Array.from([10, 0, 0, 5]), port: 6665 },
    { family: 4, address: Uint8Array.from([10, 0, 0, 5]), port: 6666 },
    { family: 6, address: Buffer.from('20010db8000000000000000000000007', 'hex'), port: 6665 },
  ];
  // Per sender a stream of records whose seqs mostly follow, now and then jump, repeat, go back or restart.
  const step = fc.record({
    peer: fc.nat({ max: 2 }),
    legacy: fc.boolean(),
    seqStep: fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constantFrom(0, -1, -3, 2, 7, -100) }),
    tsStep: fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 0, max: 50 }) }, { weight: 1, arbitrary: fc.constantFrom(-1, -3_000_000) }),
    text: fc.oneof({ weight: 8, arbitrary: fc.stringMatching(/^[ -~]{0,40}$/) }, { weight: 1, arbitrary: fc.constantFrom('caf\\xc3\\xa9', 'tab\there', 'ü') }),
    split: fc.oneof({ weight: 6, arbitrary: fc.constant('whole' as const) }, { weight: 1, arbitrary: fc.constantFrom('open' as const, 'two' as const) }),
    gapUs: fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 0, max: 30 }) }, { weight: 1, arbitrary: fc.constant(86_400_000_000) }),
    cut: fc.nat({ max: 20 }),
  });
  let longRuns = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 120 }), fc.boolean(), async (steps, combined) => {
      const seq = [100, 5000, 0];
      const ts = [4_711_000_000, 9_000_000, 1];
      let t = 1_764_201_599_990_000;
      const dgs: Datagram[] = steps.map((s) => {
        t += s.gapUs;
        const i = s.peer;
        seq[i] = Math.max(0, seq[i]! + s.seqStep);
        ts[i] = Math.max(0, ts[i]! + s.tsStep);
        let text: string;
        if (s.legacy) text = s.split === 'open' ? `[ 1.0] ${s.text}` : s.split === 'two' ? `a ${s.text}\nb ${s.text}\n` : `[ 1.0] ${s.text}\n`;
        else text = `6,${seq[i]},${ts[i]},-;${s.text}\n`;
        return { peer: i, payload: Buffer.from(text), timeUs: t };
      });
      const items = withRuns(m, peers, dgs);
      // Cut into batches somewhere: runs never cross a batch.
      const cut = steps[0]!.cut % (items.length + 1);
      const parts = [items.slice(0, cut), items.slice(cut)].filter((x) => x.length);
      const fixRuns = (part: typeof items) => {
        const copy: Item[] = part.map((x) => ({ ...x }));
        let open = -1;
        copy.forEach((x, i) => {
          if (x.run > 0) open = i;
          else if (x.pre && open < 0) {
            x.run = 1;
            open = i;
          }
          if (!x.pre) open = -1;
        });
        // A run cut short at the batch end counts only what is in this batch.
        copy.forEach((x, i) => {
          if (x.run > 0) x.run = Math.min(x.run, copy.length - i);
        });
        return copy;
      };
      const fast = parts.map(fixRuns);
      for (const part of fast) for (const x of part) if (x.run > 1) longRuns++;
      const slow = parts.map((part) => part.map((x) => ({ ...x, pre: null, run: 0 })));
      const a = await runPipeline(
        fast.map((b) => encodeNativeBatch(b)),
        fast.map((b) => b.length),
        combined,
      );
      const b = await runPipeline(
        slow.map((x) => encodeNativeBatch(x)),
        slow.map((x) => x.length),
        combined,
      );
      assert.deepEqual(a.files, b.files);
      assert.deepEqual(a.counters, b.counters);
    }),
    { numRuns: 150 },
  );
  assert.ok(longRuns > 20, `runs of several datagrams were exercised (${longRuns})`);
});

test('preformat: runs that start late, after a gap, after a restart or behind a partial line', { skip }, async () => {
  const m = mod!;
  const peers: Peer[] = [{ family: 4, address: Uint8Array.from([10, 0, 0, 5]), port: 6665 }];
  const rec = (seq: number, ts: number) => `6,${seq},${ts},-;record ${seq}\n`;
  const cases: Record<string, string[]> = {
    'late first': [rec(100, 1000), rec(99, 1001), rec(100, 1002), rec(101, 1003)],
    'duplicate first': [rec(100, 1000), rec(100, 1000), rec(101, 1001)],
    'gap first': [rec(100, 1000), rec(105, 1001), rec(106, 1002)],
    'restart first': [rec(100, 9_000_000), rec(0, 10), rec(1, 11), rec(2, 12)],
    'partial before lines': ['[ 1.0] open', ' end\n', 'next\n', 'and next\n'],
  };
  for (const [name, payloads] of Object.entries(cases)) {
    const dgs = payloads.map((p, i) => ({ peer: 0, payload: Buffer.from(p), timeUs: 1_764_178_200_000_000 + i }));
    const fast = withRuns(m, peers, dgs);
    assert.ok(
      fast.some((x) => x.run > 1),
      `${name}: a run formed`,
    );
    const slow = fast.map((x) => ({ ...x, pre: null, run: 0 }));
    const a = await runPipeline([encodeNativeBatch(fast)], [fast.length], false);
    const b = await runPipeline([encodeNativeBatch(slow)], [slow.length], false);
    assert.deepEqual(a.files, b.files, name);
    assert.deepEqual(a.counters, b.counters, name);
  }
});

test('preformat: real batches from the addon (runs formed by the receive path) give the same files as decoding every datagram', { skip }, async () => {
  const m = mod!;
  const s4 = m.openSocket(4, '127.0.0.1', 0, 8 << 20);
  const batches: Array<{ buf: Buffer; count: number }> = [];
  let ended!: () => void;
  const end = new Promise<void>((r) => (ended = r));
  const handle = m.start([s4.fd], { preformat: 1, vlen: 4 }, (ab, count, bytes, length) => {
    if (ab === null) return ended();
    assert.ok(bytes >= length && bytes === ab.byteLength, 'a batch counts what JavaScript holds');
    batches.push({ buf: Buffer.from(Buffer.from(ab, 0, length)), count });
    m.ack(handle, bytes, ab); // the copy above is kept, the buffer goes back
  });
  // Two senders, each: a run of records, a gap, a late one, legacy lines with a partial one, a dictionary record.
  const streams = [0, 1].map((k) => [
    ...Array.from({ length: 40 }, (_, i) => `6,${10 + i},${1_000_000 + i},-;sender ${k} record ${i}\n`),
    `6,60,2000000,-;after a gap\n`,
    `6,55,2000001,-;late\n`,
    `6,61,2000002,-;text\n SUBSYSTEM=pci\n`,
    ...Array.from({ length: 20 }, (_, i) => `[ 12.${String(i).padStart(6, '0')}] legacy ${k} line ${i}\n`),
    '[ 13.000000] this line goes on',
    ' in the next datagram\n',
    'and one more\n',
  ]);
  const socks = await Promise.all(
    [0, 1].map(
      () =>
        new Promise<dgram.Socket>((resolve) => {
          const c = dgram.createSocket('udp4');
          c.bind(0, '127.0.0.1', () => resolve(c));
        }),
    ),
  );
  let sent = 0;
  for (let i = 0; i < streams[0]!.length; i++) {
    for (let k = 0; k < 2; k++) {
      await new Promise<void>((r, j) => socks[k]!.send(Buffer.from(streams[k]![i]!), s4.port, '127.0.0.1', (e) => (e ? j(e) : r())));
      sent++;
    }
  }
  for (const c of socks) c.close();
  const got = () => batches.reduce((n, b) => n + b.count, 0);
  for (let i = 0; i < 300 && got() < sent; i++) await new Promise((r) => setTimeout(r, 10));
  m.stop(handle);
  await end;
  m.closeFd(s4.fd);
  assert.equal(got(), sent);
  const preformatted = batches.reduce((n, b) => n + Array.from({ length: b.count }, (_, i) => b.buf[i * ENTRY_BYTES + PF_KIND]).filter((k) => k !== 0).length, 0);
  assert.ok(preformatted >= 100, `most datagrams were preformatted (${preformatted} of ${sent})`);
  // The same batches with the preformatting taken out: the JavaScript decoder does everything.
  const plain = batches.map((b) => {
    const c = Buffer.from(b.buf);
    for (let i = 0; i < b.count; i++) c[i * ENTRY_BYTES + PF_KIND] = 0;
    return c;
  });
  const a = await runPipeline(
    batches.map((b) => b.buf),
    batches.map((b) => b.count),
    true,
  );
  const b = await runPipeline(
    plain,
    batches.map((x) => x.count),
    true,
  );
  assert.deepEqual(a.files, b.files);
  assert.deepEqual(a.counters, b.counters);
  assert.ok(Object.values(a.files).join('').includes('-- lantern: gap: 10 messages lost (seq 50..59) --'));
});

test('preformat: a run from a sender outside the allow-list is dropped whole and counted per datagram', { skip }, async () => {
  const m = mod!;
  const peers: Peer[] = [
    { family: 4, address: Uint8Array.from([10, 0, 0, 5]), port: 6665 },
    { family: 4, address: Uint8Array.from([192, 0, 2, 9]), port: 6665 },
  ];
  const dgs = [0, 0, 0, 1, 1, 1, 1, 0].map((peer, i) => ({ peer, payload: Buffer.from(`6,${i},${1000 + i},-;line ${i}\n`), timeUs: 1_764_178_200_000_000 + i }));
  const items = withRuns(m, peers, dgs);
  assert.ok(
    items.some((x) => x.peer === 1 && x.run === 4),
    'the disallowed sender sent a run',
  );
  const dir = mkdtempSync(join(tmpdir(), 'lantern-nc-pre-'));
  const p = new Pipeline(resolveConfig({ dir, allow: ['10.0.0.0/8'] }), () => 1_764_178_200_000_000);
  p.ingestNative(encodeNativeBatch(items), items.length);
  await p.stop();
  const files = readTree(dir);
  rmSync(dir, { recursive: true, force: true });
  const c = p.counters();
  assert.equal(c.disallowed, 4);
  assert.equal(c.received, 4);
  assert.equal(c.linesWritten, 5); // its 4 records and a gap marker (seqs 3..6 are in the other sender's datagrams)
  assert.deepEqual(
    Object.keys(files).map((f) => f.split('/')[1]),
    ['10.0.0.5'],
  );
});

test('preformat: an IPv6 sender label matches the decoder label', () => {
  assert.equal(senderLabel(ipv6Text(Buffer.from('20010db8000000000000000000000007', 'hex')), 6665), '[2001:db8::7]:6665');
});
