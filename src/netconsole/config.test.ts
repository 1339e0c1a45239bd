/** netconsole configuration: sizes, durations, listen addresses, the allow-list, the TOML file under the command line. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildAllowList, isAllowed, parseConfigToml, parseListen, resolveConfig } from './config.js';
import { parseDuration } from '../common/duration.js';
import { parseSizeOption as parseSize } from '../common/size.js';
import { CliError } from '../common/exit.js';
import { checkEndpointCases } from '../common/endpoint-cases.js';

test('--listen: the spellings of the shared ADDRESS:PORT table', () => {
  checkEndpointCases('netconsole --listen', (s) => {
    const l = parseListen(s);
    return `${l.family} ${l.address} ${l.port}`;
  });
});

test('config: sizes, durations, listen addresses, allow-list', () => {
  assert.equal(parseSize('32M', 'x'), 32 * 1024 * 1024);
  assert.equal(parseSize('64k', 'x'), 65536);
  assert.equal(parseSize(4096, 'x'), 4096);
  assert.throws(() => parseSize('lots', 'x'), CliError);
  assert.equal(parseDuration('10s', 'x'), 10_000);
  assert.equal(parseDuration('500ms', 'x'), 500);
  assert.equal(parseDuration('5m', 'x'), 300_000);
  assert.deepEqual(parseListen('6666'), { address: '::', port: 6666, family: 'udp6' });
  assert.deepEqual(parseListen('0.0.0.0:7000'), { address: '0.0.0.0', port: 7000, family: 'udp4' });
  assert.deepEqual(parseListen('[::1]:7001'), { address: '::1', port: 7001, family: 'udp6' });
  assert.deepEqual(parseListen('fd00::1'), { address: 'fd00::1', port: 6666, family: 'udp6' });
  assert.throws(() => parseListen('example.com:6666'), /not an IPv4 or IPv6 address/);
  assert.throws(() => parseListen('1.2.3.4:70000'), /port 70000 is not in 1\.\.65535/);
  const allow = buildAllowList(['10.0.0.0/8', '192.0.2.7', 'fd00::/8'])!;
  assert.ok(isAllowed(allow, '10.1.2.3'));
  assert.ok(isAllowed(allow, '192.0.2.7'));
  assert.ok(!isAllowed(allow, '192.0.2.8'));
  assert.ok(isAllowed(allow, 'fd12::1'));
  assert.ok(!isAllowed(allow, '2001:db8::1'));
  assert.throws(() => buildAllowList(['10.0.0.0/33']), /bad prefix length/);
});

test('config: TOML file layered under command-line options; unknown keys and bad values are clear errors', () => {
  const file = parseConfigToml(
    `[netconsole]
listen = ["0.0.0.0:6666", "[::]:6667"]
dir = "/srv/netconsole"
format = "json"
time = "local"
combined = true
max_file_size = "10M"
partial_timeout = "5s"
allow = ["10.0.0.0/8"]
rcvbuf = "64M"
`,
    'test.toml',
  );
  const cfg = resolveConfig(file, { format: 'udplogger', dir: undefined });
  assert.equal(cfg.dir, '/srv/netconsole');
  assert.equal(cfg.format, 'udplogger'); // the command line wins
  assert.equal(cfg.utc, false);
  assert.equal(cfg.combined, true);
  assert.equal(cfg.maxFileBytes, 10 * 1024 * 1024);
  assert.equal(cfg.partialTimeoutMs, 5000);
  assert.equal(cfg.rcvbufBytes, 64 * 1024 * 1024);
  assert.equal(cfg.listen.length, 2);
  assert.throws(() => parseConfigToml('colour = "red"\n', 'x.toml'), /unknown setting "colour"/);
  assert.throws(() => parseConfigToml('dir = \n', 'x.toml'), /not valid TOML/);
  assert.throws(() => resolveConfig({ format: 'xml' }), /expected text, json or udplogger/);
  assert.throws(() => resolveConfig({ perSender: false }), /no output/);
  // A text setting is a string (a TOML number is read as its digits); a table or array is refused, never "[object Object]".
  assert.equal(resolveConfig(parseConfigToml('metrics = 9464\n', 'x.toml')).metrics?.port, 9464);
  assert.throws(
    () => resolveConfig(parseConfigToml('dir = { a = 1 }\n', 'x.toml')),
    (e: unknown) => e instanceof CliError && /^--dir: expected a string, got \{"a":1\}$/.test(e.message),
  );
  assert.throws(() => resolveConfig(parseConfigToml('state_dir = ["/x"]\n', 'x.toml')), /--state-dir: expected a string/);
  // the sample configuration shipped in packaging/ is valid
  const sample = readFileSync(new URL('../../packaging/netconsole.toml', import.meta.url), 'utf8');
  assert.equal(resolveConfig(parseConfigToml(sample, 'netconsole.toml')).listen[0]!.port, 6666);
});
