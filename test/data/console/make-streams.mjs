#!/usr/bin/env node
// Builds the byte streams the console tests send (run once; the outputs are committed):
//   converter-1.raw, converter-2.raw: what a telnet-speaking serial-to-Ethernet converter sends
//   for a guest's serial console, cut mid-line between two connections (see README.md).
import { readFileSync, writeFileSync } from 'node:fs';

const here = new URL('./', import.meta.url);
const read = (p) => readFileSync(new URL(p, here), 'latin1').replace(/\n$/, '').split('\n');
// A real serial capture of a boot (syzkaller's report 127), without the two syz-program lines before it.
const boot = read('../analyze/real/reboot_01.log').slice(2);
// The SysRq-T (show state) burst of a RHEL 7-era kernel.
const sysrq = read('../analyze/cases/sysrq_t_3.10.log');
const crlf = (lines) => lines.map((l) => l + '\r\n').join('');
const bytes = (...parts) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

const IAC = 0xff, WILL = 0xfb, DO = 0xfd, SB = 0xfa, SE = 0xf0, NOP = 0xf1;
// What ser2net / a converter's telnet server says first: WILL ECHO, WILL SUPPRESS-GO-AHEAD, DO
// TERMINAL-TYPE, and a TERMINAL-TYPE SEND subnegotiation.
const hello = [IAC, WILL, 1, IAC, WILL, 3, IAC, DO, 24, IAC, SB, 24, 1, IAC, SE];
const cut = boot.findIndex((l) => l.startsWith('Decompressing Linux'));
const cutLine = boot[cut];
const at = cutLine.indexOf('Parsing');
const part1 = bytes(
  hello,
  '\x1b[2J\x1b[H', // SeaBIOS clears the screen
  crlf(boot.slice(0, 4)),
  [IAC, NOP],
  crlf(boot.slice(4, cut)),
  cutLine.slice(0, at), // the connection drops here, mid-line
);
const part2 = bytes(
  hello,
  cutLine.slice(at) + '\r\n',
  crlf(boot.slice(cut + 1, cut + 3)),
  'a byte 0xff escaped by telnet: ', [IAC, IAC], '\r\n',
  crlf(boot.slice(cut + 3)),
  crlf(sysrq),
  'Progress: 10%\r', 'Progress: 100%\r\n',
  'localhost login: rot\x08ot\r\n',
  'Password: ', // no end: written partial
);
writeFileSync(new URL('converter-1.raw', here), part1);
writeFileSync(new URL('converter-2.raw', here), part2);
console.log(`converter-1.raw ${part1.length} bytes, converter-2.raw ${part2.length} bytes`);
