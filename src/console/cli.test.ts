/** `lantern console` as a user meets it: help, bad input with one line and its exit code, a port in use, max_connections. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../common/testenv.js';
import { LANTERN, Rx, freeTcpPort, read, waitFor } from './test-helpers.js';

function lantern(args: string[]) {
  const r = spawnSync(process.execPath, [LANTERN, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('help: the group, listen and stats; exit codes named', () => {
  const g = lantern(['console']);
  assert.equal(g.code, 0);
  assert.match(g.out, /^Usage: lantern console \[options\] \[command\]\n/);
  assert.match(g.out, /listen .*\n.*stats/s);
  const l = lantern(['console', 'listen', '--help']);
  assert.equal(l.code, 0);
  assert.match(l.out, /--source <spec>/);
  assert.match(l.out, /Exit codes: 0 stopped cleanly, 64 bad option or source, 65 bad config file/);
});

test('bad input: one line, its exit code, no stack trace', () => {
  const root = tempDir('console-cli-');
  const bad = join(root, 'bad.toml');
  writeFileSync(bad, '[source.a\n');
  const unknown = join(root, 'unknown.toml');
  writeFileSync(unknown, '[source.a]\ntype = "tcp"\nconnect = "h:1"\nbaud = 9600\n');
  const cases: Array<[string[], number, RegExp]> = [
    [['console', 'listen', '-c', bad], 65, /^lantern: .*bad\.toml: not valid TOML: /],
    [['console', 'listen', '-c', join(root, 'missing.toml')], 66, /missing\.toml: cannot read \(ENOENT\)/],
    [['console', 'listen', '-c', unknown], 64, /source a: baud is for tty sources, not tcp/],
    [['console', 'listen', '-s', 'tcp:nohost'], 64, /expected HOST:PORT/],
    [['console', 'listen', '-s', 'tty:/dev/ttyS0', '--baud', '31337'], 64, /baud 31337: not a termios rate/],
    [['console', 'listen', '--name', 'x'], 64, /--name, --baud, --framing and --telnet go with --source/],
    [['console', 'listen', '-s', 'file:/x', '-n', '../up'], 64, /source name "\.\.\/up"/],
    [['console', 'stats', '--state-dir', join(root, 'none')], 66, /no stats at .*: is the console receiver running\?/],
  ];
  for (const [args, code, re] of cases) {
    const r = lantern(args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re);
    assert.equal(r.err.split('\n').length, 2, `one line: ${r.err}`);
  }
});

test('a port in use: 69 with the reason; max_connections: the extra connection is refused and counted', async () => {
  const root = tempDir('console-port-');
  const port = await freeTcpPort();
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(port, '127.0.0.1', () => r()));
  const r = lantern(['console', 'listen', '-s', `tcp-listen:127.0.0.1:${port}`, '-d', join(root, 'l'), '--state-dir', join(root, 's')]);
  assert.equal(r.code, 69, r.err);
  assert.match(r.err, new RegExp(`^lantern: source console: cannot listen on tcp 127\\.0\\.0\\.1:${port}: EADDRINUSE \\(another receiver is running\\?\\)\\n$`));
  await new Promise<void>((res) => holder.close(() => res()));

  const rx = new Rx(root);
  try {
    await rx.start(`[source.one]\ntype = "tcp-listen"\nlisten = "127.0.0.1:${port}"\nmax_connections = 1\ntelnet = false\n`);
    const a = net.connect(port, '127.0.0.1');
    await new Promise((res) => a.once('connect', res));
    a.write('kept\n');
    await waitFor('the first connection', () => read(rx.file('one')).includes('kept'));
    const b = net.connect(port, '127.0.0.1');
    await new Promise((res) => b.once('close', res));
    await waitFor('the refusal counted', () => rx.stats().sources[0]!.counters.refused === 1);
    a.destroy();
    assert.deepEqual(await rx.stop(), { code: 0, signal: null });
    assert.match(rx.stderr, /one: refused a connection from 127\.0\.0\.1:\d+: max_connections \(1\) reached/);
  } finally {
    rx.kill();
  }
});
