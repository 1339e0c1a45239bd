/**
 * The splitter itself; each caller's spellings are rows of endpoint-cases.ts, run by the caller's
 * own test through its real parser.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CliError } from './exit.js';
import { parseEndpoint, type EndpointRules } from './endpoint.js';

const ANY: EndpointRules = { what: '--x', hint: 'e.g. 1.2.3.4:9', barePort: true, bareAddress: true, hostNames: true, zones: true };

test('ADDRESS:PORT: what was written comes back, nothing assumed for what was not', () => {
  assert.deepEqual(parseEndpoint('1.2.3.4:9', ANY), { host: '1.2.3.4', family: 4, port: 9 });
  assert.deepEqual(parseEndpoint('[fd00::1]:9', ANY), { host: 'fd00::1', family: 6, port: 9 });
  assert.deepEqual(parseEndpoint('fd00::1', ANY), { host: 'fd00::1', family: 6, port: null });
  assert.deepEqual(parseEndpoint('[::ffff:1.2.3.4]', ANY), { host: '::ffff:1.2.3.4', family: 6, port: null });
  assert.deepEqual(parseEndpoint('db1.example', ANY), { host: 'db1.example', family: null, port: null });
  assert.deepEqual(parseEndpoint('db1.example:9', ANY), { host: 'db1.example', family: null, port: 9 });
  assert.deepEqual(parseEndpoint(':9', ANY), { host: null, family: null, port: 9 });
  assert.deepEqual(parseEndpoint('007', ANY), { host: null, family: null, port: 7 });
  assert.deepEqual(parseEndpoint(' fe80::1%eth0 ', ANY), { host: 'fe80::1%eth0', family: 6, port: null });
});

test('ADDRESS:PORT: each part only where the caller allows it; one-line usage errors naming option, text and hint', () => {
  const refused: Array<[string, Partial<EndpointRules>, RegExp]> = [
    ['9', { barePort: false }, /^--x "9": no host \(e\.g\. 1\.2\.3\.4:9\)$/],
    ['1.2.3.4', { bareAddress: false }, /^--x "1\.2\.3\.4": no port \(/],
    ['[::1]', { bareAddress: false }, /no port/],
    ['db1.example:9', { hostNames: false }, /not an IPv4 or IPv6 address: "db1\.example"/],
    ['[db1.example]:9', {}, /not a host name or address: "db1\.example"/],
    ['fe80::1%eth0', { zones: false }, /without a zone index/],
    ['1.2.3.4:0', {}, /port 0 is not in 1\.\.65535/],
    ['1.2.3.4:65536', { portZero: true }, /port 65536 is not in 0\.\.65535/],
    ['1.2.3.4:-1', {}, /not a port: "-1"/],
    ['1.2.3.4:1e3', {}, /not a port: "1e3"/],
    ['[::1]x', {}, /expected \[ADDRESS\] or \[ADDRESS\]:PORT/],
    ['', {}, /empty/],
  ];
  for (const [spec, change, why] of refused) {
    assert.throws(
      () => parseEndpoint(spec, { ...ANY, ...change }),
      (e: unknown) => e instanceof CliError && e.exitCode === 64 && why.test(e.message) && !e.message.includes('\n'),
      `${JSON.stringify(spec)} ${JSON.stringify(change)}`,
    );
  }
  assert.deepEqual(parseEndpoint('1.2.3.4:0', { ...ANY, portZero: true }), { host: '1.2.3.4', family: 4, port: 0 });
});
