// Writes input.json: the datagrams the golden output tests (src/netconsole/golden.test.ts) feed
// the pipeline. Bytes as hex, so that invalid UTF-8 and control bytes survive as they are.
// Run: node test/data/netconsole/golden/make-input.mjs (then regenerate the golden files only
// from a build whose output is known good: see README.md).
import { writeFileSync } from 'node:fs';

const peers = [
  { family: 4, address: [10, 0, 0, 5], port: 6665 },
  { family: 4, address: [10, 0, 0, 5], port: 6666 },
  { family: 6, address: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7], port: 6665 },
];
const L = (s) => Buffer.from(s, 'latin1');
const dgs = [];
// Just before midnight UTC (and 05:44:59.99 in Kathmandu), crossing into the next day.
let t = 1_764_201_599_990_000;
const add = (peer, payload, step = 1) => {
  t += step;
  dgs.push({ peer, timeUs: t, hex: Buffer.from(payload).toString('hex') });
};
// Legacy: plain lines, several per datagram, tabs, quotes, backslashes.
add(0, L('[ 4711.123456] task:kworker/u8:2  state:D stack:0     pid:1234  ppid:2      flags:0x00004000\n'));
add(0, L('[ 4711.123460]  __schedule+0x3c5/0x1020\n[ 4711.123461]  schedule+0x5d/0xd0\n'));
add(0, L('tab\there "quoted" back\\slash {json: "no"}\n'));
// Valid UTF-8 is kept; invalid UTF-8, control bytes, NUL, DEL and ESC become \xNN.
add(0, Buffer.from('café ünïcode ✓ 😀\n', 'utf8'));
add(0, Buffer.from([0x62, 0x61, 0x64, 0x20, 0xc3, 0x28, 0x20, 0xff, 0xfe, 0x20, 0xed, 0xa0, 0x80, 0x20, 0xf0, 0x9f, 0x98, 0x0a]));
add(0, Buffer.from([0x63, 0x74, 0x6c, 0x00, 0x01, 0x07, 0x08, 0x0b, 0x0c, 0x0d, 0x1b, 0x5b, 0x33, 0x31, 0x6d, 0x7f, 0x1f, 0x0a]));
// A line split over two datagrams, and one left partial until shutdown.
add(1, L('[ 4711.200000] first half of a line, '));
add(1, L('second half\n'));
add(1, L('[ 4711.300000] a partial line never finished'));
// Extended records: plain, flag c, caller=, escapes, dictionary, release prefix, a gap, a restart.
add(2, L('6,1044,4711123456,-;task:kworker/u8:2  state:D stack:0     pid:1234\n'));
add(2, L('4,1045,4711123460,c;\tcontinuation with tab\n'));
add(2, L('6,1046,4711123470,-,caller=T1234;sysrq: Show Blocked State "q" \\\n'));
add(2, L('3,1047,4711123480,-;caf\\xc3\\xa9 and \\x01 ctl and \\xff bad\n'));
add(2, L('6,1048,4711123490,-;usb 1-1: new device\n SUBSYSTEM=usb\n DEVICE=c189:1\n'));
add(2, L('6,1055,4711123500,-;after a gap of six\n'));
add(2, L('6,1056,4711123510,-;no trailing newline'));
add(2, L('6,x,4711123520,-;a bad sequence number\n'));
add(2, L('6,5,1000,-;rebooted: the boot clock went back\n'));
// Runs of one sender across midnight UTC (the day switches), then extended records in a run.
for (let i = 0; i < 6; i++) add(0, L(`[ 4712.00000${i}] run line ${i}\n`), 2000);
for (let i = 0; i < 6; i++) add(2, L(`6,${6 + i},${2000 + i},-;run record ${i}\n`), 2000);
writeFileSync(new URL('./input.json', import.meta.url), JSON.stringify({ peers, datagrams: dgs }, null, 1) + '\n');
