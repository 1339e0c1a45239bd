/**
 * Tests: one table for every `ADDRESS:PORT` the commands take (src/common/endpoint.ts), each
 * caller's accepted spellings (as its docs promise them) and its refusals. A shared module imports no
 * capability, so each caller's own test runs its rows through its real parser (checkEndpointCases).
 */
import assert from 'node:assert/strict';
import { CliError } from './exit.js';

export type EndpointCaller = 'netconsole --listen' | 'console listen' | 'console connect' | 'who-sends';

/**
 * `accepted`: [spelling, what the caller makes of it as one text]; netconsole `FAMILY ADDRESS PORT`,
 * the console `HOST PORT` (its `what` is `source a: listen` / `source a: connect`), who-sends its
 * targetText. `refused`: [spelling, why]; `message`: the shape of every refusal (option, text, hint).
 */
export const ENDPOINT_CASES: Record<EndpointCaller, { accepted: Array<[string, string]>; refused: Array<[string, RegExp]>; message: RegExp }> = {
  'netconsole --listen': {
    accepted: [
      ['6666', 'udp6 :: 6666'],
      [':6666', 'udp6 :: 6666'],
      ['0.0.0.0:6666', 'udp4 0.0.0.0 6666'],
      [' 127.0.0.1:7000 ', 'udp4 127.0.0.1 7000'],
      ['10.0.0.1', 'udp4 10.0.0.1 6666'],
      ['[::]:6666', 'udp6 :: 6666'],
      ['[::1]:7001', 'udp6 ::1 7001'],
      ['[::1]', 'udp6 ::1 6666'],
      ['fd00::1', 'udp6 fd00::1 6666'],
      ['[fe80::1%eth0]:6666', 'udp6 fe80::1%eth0 6666'],
      ['65535', 'udp6 :: 65535'],
    ],
    refused: [
      ['receiver.example:6666', /not an IPv4 or IPv6 address: "receiver\.example"/],
      ['1.2.3.4:70000', /port 70000 is not in 1\.\.65535/],
      ['1.2.3.4:0', /port 0 is not in 1\.\.65535/],
      ['1.2.3.4:', /no port after the colon/],
      ['1.2.3.4:0x10', /not a port: "0x10"/],
      ['', /empty/],
      ['[::1', /expected \[ADDRESS\]/],
    ],
    message: /^--listen ".*": .* \(use e\.g\. 0\.0\.0\.0:6666, \[::\]:6666, 6666\)$/,
  },
  'console listen': {
    accepted: [
      ['7000', ':: 7000'],
      [':7000', ':: 7000'],
      ['0.0.0.0:7000', '0.0.0.0 7000'],
      ['[::]:7002', ':: 7002'],
      ['[fe80::1%eth0]:7002', 'fe80::1%eth0 7002'],
    ],
    refused: [
      ['0.0.0.0', /no port \(expected HOST:PORT/],
      ['::1', /no port/],
      ['conv.example:7000', /not an IPv4 or IPv6 address/],
      ['70000', /port 70000 is not in 1\.\.65535/],
    ],
    message: /^source a: listen ".*": .* \(expected HOST:PORT or PORT, HOST an IP address, IPv6 as \[ADDR\]:PORT\)$/,
  },
  'console connect': {
    accepted: [
      ['10.1.8.22:7001', '10.1.8.22 7001'],
      ['h:1', 'h 1'],
      ['conv-1.rack4.example:7001', 'conv-1.rack4.example 7001'],
      ['[::1]:7001', '::1 7001'],
    ],
    refused: [
      ['7001', /no host \(expected HOST:PORT/],
      [':7001', /no host/],
      ['nohost', /no port \(expected HOST:PORT/],
      ['[conv.example]:7001', /not a host name or address: "conv\.example"/],
      ['a_b:7001', /not a host name or address/],
      ['h:0', /port 0 is not in 1\.\.65535/],
    ],
    message: /^source a: connect ".*": .* \(expected HOST:PORT, IPv6 as \[ADDR\]:PORT\)$/,
  },
  'who-sends': {
    accepted: [
      ['127.0.0.1:53', '127.0.0.1:53'],
      ['[::1]:53', '[::1]:53'],
      ['127.0.0.1', '127.0.0.1:*'],
      ['::1', '[::1]:*'],
      ['[::1]', '[::1]:*'],
      ['[2001:DB8::0:1]', '[2001:db8::1]:*'],
      ['53', '*:53'],
      [':53', '*:53'],
    ],
    refused: [
      ['1.2.3:53', /not an IPv4 or IPv6 address: "1\.2\.3"/],
      ['127.0.0.1:65536', /port 65536 is not in 1\.\.65535/],
      ['127.0.0.1:5x', /not a port: "5x"/],
      ['[::1]:', /no port after the colon/],
      ['   ', /empty/],
      ['host.example:53', /not an IPv4 or IPv6 address/],
      ['[fe80::1%eth0]:53', /not an IPv4 or IPv6 address without a zone index/],
      ['[]:53', /not an IPv4 or IPv6 address: ""/],
    ],
    message: /^who-sends: ".*": .* \(use ADDR:PORT, \[V6ADDR\]:PORT, an address or a port, e\.g\. 127\.0\.0\.1:53, \[::1\]:53, 53\)$/,
  },
};

/** Runs a caller's rows through `read` (its parser, its result as the table's text). */
export function checkEndpointCases(caller: EndpointCaller, read: (spec: string) => string): void {
  const { accepted, refused, message } = ENDPOINT_CASES[caller];
  for (const [spec, want] of accepted) assert.equal(read(spec), want, `${caller} ${JSON.stringify(spec)}`);
  for (const [spec, why] of refused) {
    assert.throws(
      () => read(spec),
      (e: unknown) => e instanceof CliError && e.exitCode === 64 && why.test(e.message) && message.test(e.message) && !e.message.includes('\n'),
      `${caller} ${JSON.stringify(spec)}`,
    );
  }
}
