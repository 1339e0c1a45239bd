/** The pure core of the console receiver: telnet stripping, line assembly, configuration. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { TelnetStripper, refusal, IAC, WILL, DO, DONT, WONT, SB, SE } from './telnet.js';
import { LineAssembler, type ConsoleLine } from './lines.js';
import { DEFAULT_DIR, DEFAULT_STATE_DIR, parseConsoleToml, resolveConsoleConfig, parseHostPort, parseFraming } from './config.js';
import { checkEndpointCases } from '../common/endpoint-cases.js';

const b = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

test('telnet: negotiation, subnegotiation and commands removed; IAC IAC is 0xff; CR NUL is CR', () => {
  const seen: Array<[number, number]> = [];
  const t = new TelnetStripper((v, o) => seen.push([v, o]));
  const input = b([IAC, WILL, 1, IAC, DO, 3], 'Linux ', [IAC, SB, 24, 1, IAC, IAC, 0x41, IAC, SE], 'ver', [IAC, 0xf1], 'sion ', [IAC, IAC], ' x\r', [0], 'y');
  assert.equal(t.strip(input).toString('latin1'), 'Linux version \xff x\ry');
  assert.deepEqual(seen, [
    [WILL, 1],
    [DO, 3],
  ]);
  assert.deepEqual(t.counters, { commands: 4, bytes: 6 + 9 + 2 + 1 + 1 });
  assert.deepEqual(refusal(WILL, 1), Buffer.from([IAC, DONT, 1]));
  assert.deepEqual(refusal(DO, 3), Buffer.from([IAC, WONT, 3]));
  assert.equal(refusal(WONT, 3), null, 'a refusal is never answered');
});

test('telnet: split anywhere, the same data comes out (property)', () => {
  const t0 = new TelnetStripper();
  const input = b('a\r', [0], [IAC, WILL, 1], 'b', [IAC, IAC], [IAC, SB, 1, 2, IAC, IAC, IAC, SE], 'c\r\n', [IAC, 0xf9], 'd');
  const whole = t0.strip(input).toString('latin1');
  assert.equal(whole, 'a\rb\xffc\r\nd');
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: input.length - 1 }), { maxLength: 6 }), (cuts) => {
      const t = new TelnetStripper();
      const at = [...new Set(cuts)].sort((x, y) => x - y);
      let out = '';
      let prev = 0;
      for (const c of [...at, input.length]) {
        out += t.strip(input.subarray(prev, c)).toString('latin1');
        prev = c;
      }
      return out === whole && t.counters.bytes === t0.counters.bytes;
    }),
  );
});

function assemble(chunks: Buffer[], max = 65536): { lines: ConsoleLine[]; a: LineAssembler } {
  const lines: ConsoleLine[] = [];
  const a = new LineAssembler((l) => lines.push(l), max);
  chunks.forEach((c, i) => a.push(c, 1000 + i));
  return { lines, a };
}

test('lines: CR LF, LF CR, LF, CR and CR CR LF each end one line; CR LF CR LF is two; stamped when the end arrives', () => {
  const { lines, a } = assemble([b('one\r'), b('\ntwo\n\rthree\nfour\rfive\r\r\n\r\nsix')]);
  assert.deepEqual(
    lines.map((l) => [l.text, l.timeUs, l.partial]),
    [
      ['one', 1000, null],
      ['two', 1001, null],
      ['three', 1001, null],
      ['four', 1001, null],
      ['five', 1001, null],
      ['', 1001, null],
    ],
  );
  a.flush('shutdown');
  assert.deepEqual(lines.at(-1), { text: 'six', timeUs: 1001, partial: 'shutdown' });
  assert.equal(a.counters.lines, 6);
  assert.equal(a.counters.partialLines, 1);
});

test('lines: backspace and DEL erase a character (whole UTF-8), nothing at a line start (counted); controls and bad UTF-8 escaped', () => {
  const { lines, a } = assemble([b('\x08logni\x08\x08in: r\xc3\xa9\x7fe\x08oot\r\n'), b('\x1b[0mok \x00\xff\xc3\r\n')]);
  assert.deepEqual(
    lines.map((l) => l.text),
    ['login: root', '\\x1b[0mok \\x00\\xff\\xc3'],
  );
  assert.equal(a.counters.erasures, 5);
  assert.equal(a.counters.erasuresAtStart, 1);
});

test('lines: a line at max_line is written partial (max-length) and the rest goes on', () => {
  const { lines } = assemble([b('x'.repeat(2500) + '\n')], 1024);
  assert.deepEqual(
    lines.map((l) => [l.text.length, l.partial]),
    [
      [1024, 'max-length'],
      [1024, 'max-length'],
      [452, null],
    ],
  );
});

test('lines: every byte is a line byte, a terminator or an erasure (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 8 }), (chunks) => {
      const { lines, a } = assemble(
        chunks.map((c) => Buffer.from(c)),
        64,
      );
      a.flush('shutdown');
      const total = chunks.reduce((n, c) => n + c.length, 0);
      assert.equal(a.counters.bytes, total);
      for (const l of lines) assert.ok(!l.text.includes('\n') && !l.text.includes('\r'));
      return a.counters.lines + a.counters.partialLines === lines.length;
    }),
  );
});

test('config: [source.NAME] tables, output settings, command-line source; errors name the setting', () => {
  const file = parseConsoleToml(
    `dir = "/tmp/x"\ncombined = true\npartial_timeout = "2s"\n[source.vm1]\ntype = "tcp"\nconnect = "127.0.0.1:4555"\n[source.ttyS1]\ntype = "tty"\npath = "/dev/ttyS1"\nbaud = 9600\nframing = "7E1"\n[source.conv]\ntype = "udp"\nlisten = "7002"\n`,
    'c.toml',
  );
  const cfg = resolveConsoleConfig(file, {});
  assert.equal(cfg.output.dir, '/tmp/x');
  assert.equal(cfg.output.combined, true);
  assert.equal(cfg.output.partialTimeoutMs, 2000);
  assert.equal(cfg.output.stateDir, '/run/lantern-console');
  assert.deepEqual(
    cfg.sources.map((s) => [s.name, s.type, s.telnet]),
    [
      ['vm1', 'tcp', true],
      ['ttyS1', 'tty', false],
      ['conv', 'udp', false],
    ],
  );
  assert.deepEqual(cfg.sources[1]!.framing, { dataBits: 7, parity: 'even', stopBits: 1 });
  assert.deepEqual(cfg.sources[2]!.address, { host: '::', port: 7002 });
  const one = resolveConsoleConfig(file, { source: 'unix:/run/q.sock', name: 'q' });
  assert.deepEqual(
    one.sources.map((s) => [s.name, s.type, s.path]),
    [['q', 'unix', '/run/q.sock']],
  );
  const bad: Array<[() => unknown, RegExp]> = [
    [() => parseConsoleToml('[source.a]\ntype = "tcp"\nconect = "x:1"\n', 'f').sources.map((s) => resolveConsoleConfig({ output: {}, sources: [s] }, {})), /unknown setting "conect"/],
    [() => resolveConsoleConfig({ output: {}, sources: [{ name: '../etc', raw: { type: 'file', path: '/x' } }] }, {}), /source name "\.\.\/etc"/],
    [() => resolveConsoleConfig(null, { source: 'tty:/dev/ttyS0', baud: '12345' }), /baud 12345: not a termios rate/],
    [() => resolveConsoleConfig(null, { source: 'serial:/dev/ttyS0' }), /expected TYPE:WHERE/],
    [() => resolveConsoleConfig(null, {}), /no source/],
    [() => resolveConsoleConfig(null, { source: 'file:relative.log' }), /absolute path/],
    [
      () =>
        resolveConsoleConfig(
          {
            output: {},
            sources: [
              { name: 'a', raw: { type: 'tcp', connect: 'h:1' } },
              { name: 'A', raw: { type: 'tcp', connect: 'h:2' } },
            ],
          },
          {},
        ),
      /two sources named "A"/,
    ],
    [() => parseConsoleToml('listen = "x"', 'f'), /unknown setting "listen"/],
    [() => parseConsoleToml('[source', 'f'), /not valid TOML/],
    [() => parseHostPort('0.0.0.0', 'x', true), /expected HOST:PORT/],
    [() => parseFraming('9N1', 'x'), /framing/],
  ];
  for (const [f, re] of bad) assert.throws(f, re);
});

test('listen and connect: the spellings of the shared ADDRESS:PORT table', () => {
  for (const listening of [true, false]) {
    checkEndpointCases(listening ? 'console listen' : 'console connect', (s) => {
      const h = parseHostPort(s, `source a: ${listening ? 'listen' : 'connect'}`, listening);
      return `${h.host} ${h.port}`;
    });
  }
});

test('docs/console.md: its sample configuration loads, one source of every type', () => {
  const doc = readFileSync(new URL('../../docs/console.md', import.meta.url), 'utf8');
  const m = /```toml\n([\s\S]*?)```/.exec(doc);
  assert.ok(m, 'docs/console.md has a toml block');
  const cfg = resolveConsoleConfig(parseConsoleToml(m[1]!, 'docs/console.md'), {});
  assert.deepEqual(cfg.sources.map((s) => s.type).sort(), ['file', 'tcp', 'tcp-listen', 'tty', 'udp', 'unix', 'unix-listen']);
  assert.equal(cfg.output.dir, '/var/log/console');
  assert.equal(cfg.output.stateDir, '/run/lantern-console');
});

test("packaging/console.toml: the sample the service reads loads, one source of every type, the service's paths", () => {
  const path = new URL('../../packaging/console.toml', import.meta.url);
  const cfg = resolveConsoleConfig(parseConsoleToml(readFileSync(path, 'utf8'), 'packaging/console.toml'), {});
  assert.deepEqual(cfg.sources.map((s) => s.type).sort(), ['file', 'tcp', 'tcp-listen', 'tty', 'udp', 'unix', 'unix-listen']);
  assert.equal(cfg.output.dir, DEFAULT_DIR);
  assert.equal(cfg.output.stateDir, DEFAULT_STATE_DIR);
});
