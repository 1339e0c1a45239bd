/**
 * TCP sources with real socat converters on loopback: a telnet-speaking converter (socat TCP
 * server) sends a boot log with CRs, IAC negotiation and a SysRq-T burst, drops the connection
 * mid-line and comes back; converters connecting to a tcp-listen source.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { facilitySkip, tempDir } from '../common/testenv.js';
import { Rx, Socat, bodies, dataFile, freeTcpPort, noSocat, read, today, waitFor } from './test-helpers.js';

const lines = (p: string) => readFileSync(p, 'latin1').replace(/\n$/, '').split('\n');
const boot = lines(dataFile('../analyze/real/reboot_01.log')).slice(2);
const sysrq = lines(dataFile('../analyze/cases/sysrq_t_3.10.log'));

test('tcp client: a socat converter sends boot log, telnet negotiation and SysRq-T, drops mid-line, comes back: every line in order, markers, counters', { skip: facilitySkip(noSocat) }, async () => {
  const root = tempDir('console-tcp-');
  const port = await freeTcpPort();
  const rx = new Rx(root);
  const replies1 = join(root, 'replies-1.bin');
  const conv1 = new Socat([`TCP-LISTEN:${port},reuseaddr,bind=127.0.0.1`, `OPEN:${dataFile('converter-1.raw')}!!CREATE:${replies1}`]);
  let conv2: Socat | null = null;
  try {
    await conv1.listening();
    await rx.start(`partial_timeout = "30s"\n[source.vm1]\ntype = "tcp"\nconnect = "127.0.0.1:${port}"\nreconnect_min = "100ms"\nreconnect_max = "1s"\n`);
    const file = rx.file('vm1');
    // The first converter is gone (it sent its part and closed); our reconnects are refused.
    await waitFor(
      'the first failed reconnect',
      () => read(file).includes('cannot connect'),
      10_000,
      () => read(file) + rx.stderr,
    );
    assert.equal(await conv1.exit, 0, conv1.stderr);
    // Our refusals of its negotiation (WILL ECHO, WILL SGA, DO TTYPE), once each; nothing else was sent.
    assert.deepEqual([...readFileSync(replies1)], [0xff, 0xfe, 1, 0xff, 0xfe, 3, 0xff, 0xfc, 24]);
    // The converter comes back and stays connected: the last line, without its end, is written at SIGTERM.
    conv2 = new Socat([`TCP-LISTEN:${port},reuseaddr,bind=127.0.0.1`, `OPEN:${dataFile('converter-2.raw')},ignoreeof!!CREATE:${join(root, 'replies-2.bin')}`]);
    await waitFor(
      'the second part',
      () => read(file).includes('localhost login: root'),
      15_000,
      () => read(file) + rx.stderr,
    );
    await new Promise((r) => setTimeout(r, 200));
    const stopped = await rx.stop();
    assert.deepEqual(stopped, { code: 0, signal: null }, rx.stderr);

    const got = bodies(read(file), 'vm1');
    const cut = boot.findIndex((l) => l.startsWith('Decompressing Linux'));
    const at = boot[cut]!.indexOf('Parsing');
    const target = `127.0.0.1:${port}`;
    const expected = [
      `-- lantern: connected to ${target} --`,
      `\\x1b[2J\\x1b[H${boot[0]}`,
      ...boot.slice(1, cut),
      `[partial: disconnect] ${boot[cut]!.slice(0, at)}`,
      `-- lantern: connection to ${target} lost (closed by the other end); reconnecting in 100 ms --`,
      `-- lantern: cannot connect to ${target} (ECONNREFUSED); retrying, waiting up to 1 s between attempts --`,
      'CONNECTED AFTER FAILURES',
      boot[cut]!.slice(at),
      ...boot.slice(cut + 1, cut + 3),
      'a byte 0xff escaped by telnet: \\xff',
      ...boot.slice(cut + 3),
      ...sysrq,
      'Progress: 10%',
      'Progress: 100%',
      'localhost login: root',
      '[partial: shutdown] Password: ',
    ];
    const reconnected = got.findIndex((l) => l.startsWith(`-- lantern: connected to ${target} after `));
    assert.match(got[reconnected]!, /after \d+ failed attempts? --$/);
    got[reconnected] = 'CONNECTED AFTER FAILURES';
    assert.deepEqual(got, expected);

    const s = rx.stats();
    const c = s.sources[0]!.counters;
    assert.equal(c.bytesReceived, readFileSync(dataFile('converter-1.raw')).length + readFileSync(dataFile('converter-2.raw')).length);
    assert.equal(c.telnetCommands, 2 * 4 + 1, 'three negotiations and a subnegotiation per connection, one NOP');
    assert.equal(c.bytesReceived, c.bytes + c.telnetBytes, 'every byte received is data or telnet');
    assert.equal(c.lines, expected.length - 2 - 4, 'complete lines (all but 2 partial lines and 4 markers)');
    assert.equal(c.partialLines, 2);
    assert.equal(c.connects, 2);
    assert.equal(c.disconnects, 1);
    assert.ok(c.connectFailures >= 1);
    assert.equal(c.erasures, 1);
    assert.equal(s.counters.linesWritten, expected.length);
    assert.equal(s.counters.linesAccepted, s.counters.linesWritten + s.counters.linesLost + s.counters.linesQueued + s.counters.linesUnwritten);
    assert.equal(s.counters.linesLost, 0);
  } finally {
    rx.kill();
    conv1.kill();
    conv2?.kill();
  }
});

test('tcp-listen: two converters connect at once; one stream per connection labelled by peer; connect and close marked; the combined file has both', { skip: facilitySkip(noSocat) }, async () => {
  const root = tempDir('console-tcpl-');
  const port = await freeTcpPort();
  const rx = new Rx(root);
  try {
    await rx.start(`combined = true\npartial_timeout = "30s"\n[source.rack4]\ntype = "tcp-listen"\nlisten = "127.0.0.1:${port}"\nmax_connections = 2\n`);
    const conv = [1, 2].map((n) => new Socat([`OPEN:${dataFile(`converter-${n}.raw`)}!!CREATE:${join(root, `r${n}.bin`)}`, `TCP:127.0.0.1:${port}`]));
    for (const c of conv) assert.equal(await c.exit, 0, c.stderr);
    const file = rx.file('rack4');
    await waitFor(
      'both connections closed',
      () => (read(file).match(/closed \(by the other end\)/g) ?? []).length === 2,
      10_000,
      () => read(file) + rx.stderr,
    );
    assert.deepEqual(await rx.stop(), { code: 0, signal: null }, rx.stderr);
    const text = read(file);
    const peers = [...new Set([...text.matchAll(/^\S+ (rack4\/127\.0\.0\.1:\d+) /gm)].map((m) => m[1]!))];
    assert.equal(peers.length, 2, text);
    const byPeer = peers.map((p) =>
      text
        .split('\n')
        .filter((l) => l.includes(` ${p} `))
        .map((l) => l.slice(l.indexOf(` ${p} `) + p.length + 2)),
    );
    // Each connection is its own stream: its lines in order, its partial line written at its close.
    const first = byPeer.find((b) => b.some((l) => l.startsWith('SeaBIOS') || l.includes('SeaBIOS')))!;
    const second = byPeer.find((b) => b !== first)!;
    assert.match(first[0]!, /^-- lantern: connection from 127\.0\.0\.1:\d+ --$/);
    assert.equal(first.at(-2), '[partial: disconnect] Decompressing Linux... ');
    assert.match(first.at(-1)!, /^-- lantern: connection from 127\.0\.0\.1:\d+ closed \(by the other end\) --$/);
    assert.equal(second[1], 'Parsing ELF... done.');
    assert.ok(second.includes('localhost login: root'));
    assert.equal(second.at(-2), '[partial: disconnect] Password: ');
    const combined = read(join(rx.logs, `${today()}.log`));
    assert.equal(combined, text, 'one source: the combined file holds the same lines');
    const c = rx.stats().sources[0]!.counters;
    assert.equal(c.connects, 2);
    assert.equal(c.disconnects, 2);
    assert.equal(c.partialLines, 2);
  } finally {
    rx.kill();
  }
});

test('back-pressure: a burst far faster than the writer may hold (max_buffer 512k) is paused, not dropped: every line written', { skip: facilitySkip(noSocat) }, async () => {
  const root = tempDir('console-flow-');
  const port = await freeTcpPort();
  const rx = new Rx(root);
  const burst = join(root, 'burst.raw');
  const n = 100_000;
  writeFileSync(burst, Array.from({ length: n }, (_, i) => `[ ${String(i).padStart(6)}.000000] line ${i} of the burst, as long as a kernel line usually is\r\n`).join(''));
  try {
    await rx.start(`max_buffer = "512k"\n[source.b]\ntype = "tcp-listen"\nlisten = "127.0.0.1:${port}"\n`);
    const conv = new Socat(['-u', `OPEN:${burst}`, `TCP:127.0.0.1:${port}`]);
    assert.equal(await conv.exit, 0, conv.stderr);
    await waitFor(
      'the whole burst',
      () => rx.stats().sources[0]!.counters.lines === n,
      60_000,
      () => JSON.stringify(rx.stats().counters),
    );
    assert.deepEqual(await rx.stop(), { code: 0, signal: null }, rx.stderr);
    const s = rx.stats().counters;
    assert.equal(s.linesLost, 0);
    assert.ok(s.flowPauses > 0, `the readers were paused (flowPauses ${s.flowPauses})`);
    const text = read(rx.file('b'));
    const got = text.split('\n').filter((l) => l.includes(' line '));
    assert.equal(got.length, n);
    for (let i = 0; i < n; i += 9973) assert.ok(got[i]!.endsWith(`line ${i} of the burst, as long as a kernel line usually is`), got[i]);
  } finally {
    rx.kill();
  }
});
